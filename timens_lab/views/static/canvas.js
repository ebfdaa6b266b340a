// The live canvas of timens-lab's divergence plot (an anywidget ES module; no build step).
//
// The kernel sends three messages (timens_lab/views/canvas.py, canvas_wire.py):
//   bg    — a PNG of everything matplotlib draws once: axes, ticks, labels, legend;
//   key   — the layout (axes rectangles, series styles) and every column of every series;
//   delta — only the columns that changed since the last message.
// Columns are Float32 quadruples (xa, xb, ya, yb) in CSS pixels, NaN where a column is
// empty. Messages only update arrays; drawing happens on requestAnimationFrame, at most once
// per animation frame and only when something changed, so the browser paints at its own rate
// the newest data it has, whatever the kernel's rate. Once a second the view tells the kernel
// its animation-frame rate, which the kernel uses to pace itself (no fixed cap).

const LINE_MINMAX = 0, LINE_MEAN = 1, BAND = 2;

function floats(view) {
  // msg buffers arrive as DataViews; a Float32Array needs a 4-byte aligned offset
  if (view.byteOffset % 4 === 0) {
    return new Float32Array(view.buffer, view.byteOffset, view.byteLength / 4);
  }
  return new Float32Array(view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength));
}

function ints(view) {
  if (view.byteOffset % 4 === 0) {
    return new Int32Array(view.buffer, view.byteOffset, view.byteLength / 4);
  }
  return new Int32Array(view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength));
}

function patch(series, header, data) {
  let at = 0;
  for (let k = 0; k + 2 < header.length; k += 3) {
    const s = series[header[k]], c0 = header[k + 1], n = header[k + 2];
    if (s) { s.cols.set(data.subarray(at, at + 4 * n), 4 * c0); }
    at += 4 * n;
  }
}

function drawSeries(ctx, s) {
  const c = s.cols, n = c.length / 4;
  ctx.beginPath();
  if (s.kind === BAND) {
    let open = false, back = [];
    const close = () => {
      for (let j = back.length - 2; j >= 0; j -= 2) { ctx.lineTo(back[j], back[j + 1]); }
      ctx.closePath();
      open = false; back = [];
    };
    for (let i = 0; i < n; i++) {
      const xa = c[4 * i], xb = c[4 * i + 1], ya = c[4 * i + 2], yb = c[4 * i + 3];
      if (xa !== xa) { continue; }   // NaN: an empty column (the band spans them, as Agg's)
      if (!open) { ctx.moveTo(xa, yb); open = true; } else { ctx.lineTo(xa, yb); }
      ctx.lineTo(xb, yb);
      back.push(xa, ya, xb, ya);
    }
    if (open) { close(); }
    ctx.fillStyle = s.color;
    ctx.fill();
    return;
  }
  let started = false;
  for (let i = 0; i < n; i++) {
    const xa = c[4 * i];
    if (xa !== xa) { continue; }
    const ya = c[4 * i + 2];
    if (!started) { ctx.moveTo(xa, ya); started = true; } else { ctx.lineTo(xa, ya); }
    if (s.kind === LINE_MINMAX) { ctx.lineTo(c[4 * i + 1], c[4 * i + 3]); }
  }
  ctx.strokeStyle = s.color;
  ctx.lineWidth = s.width;
  ctx.stroke();
}

function render({ model, el }) {
  const id = Math.random().toString(36).slice(2);
  const root = document.createElement("div");
  root.className = "timens-canvas";
  const img = document.createElement("img");
  img.className = "timens-canvas-bg";
  img.alt = "";
  const canvas = document.createElement("canvas");
  canvas.className = "timens-canvas-data";
  root.append(img, canvas);
  el.append(root);
  const ctx = canvas.getContext("2d");
  const state = { size: [0, 0], axes: [], series: [], status: null, dirty: false, url: null };
  let paints = 0, frames = 0, fresh = 0, lastReport = performance.now(), raf = 0, alive = true;

  function resize(w, h) {
    const dpr = window.devicePixelRatio || 1;
    root.style.width = `${w}px`;
    root.style.height = `${h}px`;
    for (const node of [img, canvas]) { node.style.width = `${w}px`; node.style.height = `${h}px`; }
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  }

  function paint() {
    const [w, h] = state.size;
    ctx.clearRect(0, 0, w, h);
    ctx.lineJoin = "round";
    for (let a = 0; a < state.axes.length; a++) {
      const [x, y, aw, ah] = state.axes[a];
      ctx.save();
      ctx.beginPath();
      ctx.rect(x, y, aw, ah);
      ctx.clip();
      for (const s of state.series) { if (s.axes === a) { drawSeries(ctx, s); } }
      ctx.restore();
    }
    const st = state.status;
    if (st && st.text) {
      ctx.font = st.font;
      ctx.fillStyle = "#000";
      ctx.textBaseline = "bottom";
      ctx.fillText(st.text, st.x, st.y);
    }
    paints += 1;
    el.__tlPaints = paints;                       // read by the browser tests and the bench
    window.__tlCanvasPaints = (window.__tlCanvasPaints || 0) + 1;
  }

  function tick(now) {
    if (!alive) { return; }
    frames += 1;
    if (state.dirty) { state.dirty = false; fresh += 1; paint(); }
    if (now - lastReport >= 1000) {
      const dt = (now - lastReport) / 1000;
      model.send({ type: "stats", id, raf: frames / dt, painted: fresh / dt });
      frames = 0; fresh = 0; lastReport = now;
    }
    raf = requestAnimationFrame(tick);
  }

  function onMessage(msg, buffers) {
    if (msg.type === "bg") {
      const blob = new Blob([buffers[0]], { type: "image/png" });
      const url = URL.createObjectURL(blob);
      img.onload = () => { if (state.url && state.url !== url) { URL.revokeObjectURL(state.url); } state.url = url; };
      img.src = url;
    } else if (msg.type === "key") {
      state.size = msg.size;
      state.axes = msg.axes;
      state.status = msg.status;
      state.series = msg.series.map((s) => ({ ...s, cols: new Float32Array(4 * s.columns).fill(NaN) }));
      if (buffers.length === 2) { patch(state.series, ints(buffers[0]), floats(buffers[1])); }
      resize(msg.size[0], msg.size[1]);
      state.dirty = true;
    } else if (msg.type === "delta") {
      patch(state.series, ints(buffers[0]), floats(buffers[1]));
      if (state.status) { state.status.text = msg.status; }
      state.dirty = true;
    }
  }

  model.on("msg:custom", onMessage);
  model.send({ type: "hello", id });
  raf = requestAnimationFrame(tick);
  return () => {
    alive = false;
    cancelAnimationFrame(raf);
    model.off("msg:custom", onMessage);
    try { model.send({ type: "bye", id }); } catch (err) { /* the comm is already closed */ }
    if (state.url) { URL.revokeObjectURL(state.url); }
  };
}

export default { render };
