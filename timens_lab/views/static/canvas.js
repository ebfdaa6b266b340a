// The live canvas of timens-lab's divergence plot (an anywidget ES module; no build step).
//
// The kernel sends three messages (timens_lab/views/canvas.py, canvas_wire.py):
//   bg    — a PNG of everything matplotlib draws once: axes, ticks, labels, legend;
//   key   — the layout (axes rectangles, series styles, which series show which namespace)
//           and every column of every series, as the kernel's envelopes reduced them;
//   delta — the measurements since the last message, as points in CSS pixels, each with its
//           pixel column and its time.
// The browser folds points into its columns exactly as the kernel's envelopes do (first and
// last x, min and max y, running mean: timens_lab/views/decimate.py), so a keyframe sent later
// shows the same picture. Points are played out at the pace they were measured, one or two
// message intervals behind the newest data (a playout buffer, as streaming charts use): each
// animation frame folds the points whose time has come and repaints the strips of columns they
// changed, so the browser paints new samples on every frame it has (no frame-rate cap),
// whatever the kernel's message rate. Once a second the view reports its animation-frame rate
// and its paints to the kernel.

const LINE_MINMAX = 0, LINE_MEAN = 1, BAND = 2;
// Per column: first x, last x, ya, yb, sum, count. For a line or band, ya is the pixel of the
// smallest value (the largest y: the browser counts from the top) and yb of the largest.
const F = 6;
// Repainting a strip: its margin in CSS pixels beyond the changed columns' neighbours, and how
// many filled columns beyond the strip each series is drawn from, so that every segment whose
// stroke reaches the strip is drawn whole and the clipped pixels equal a full redraw's.
const STROKE_PX = 3, PAD_COLUMNS = 10;
// The playout's lag covers the longest kernel stall before the last STALLS keyframes, up to
// MAX_STALL_S (the price of a smooth picture is that much latency).
const STALLS = 4, MAX_STALL_S = 0.6;

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

function blank(columns) {
  const c = new Float64Array(F * columns);
  for (let i = 0; i < columns; i++) { c[F * i] = NaN; }
  return c;
}

// A keyframe's quadruples (xa, xb, ya, yb) into the series' columns; a mean line's are
// (first, last, mean, count).
function patch(series, header, data) {
  let at = 0;
  for (let k = 0; k + 2 < header.length; k += 3) {
    const s = series[header[k]], c0 = header[k + 1], n = header[k + 2];
    if (s) {
      for (let i = 0; i < n && c0 + i < s.columns; i++) {
        const q = 4 * (at + i), o = F * (c0 + i);
        const xa = data[q];
        if (xa !== xa) { s.c[o] = NaN; s.c[o + 5] = 0; continue; }
        s.c[o] = xa; s.c[o + 1] = data[q + 1];
        if (s.kind === LINE_MEAN) {
          s.c[o + 4] = data[q + 2] * data[q + 3]; s.c[o + 5] = data[q + 3];
        } else {
          s.c[o + 2] = data[q + 2]; s.c[o + 3] = data[q + 3]; s.c[o + 5] = 1;
        }
      }
    }
    at += n;
  }
}

function fold(s, col, x, ylo, yhi, ymid) {
  if (!s || col < 0 || col >= s.columns) { return; }
  const c = s.c, o = F * col;
  if (c[o] !== c[o]) {
    c[o] = x; c[o + 1] = x; c[o + 2] = ylo; c[o + 3] = yhi; c[o + 4] = 0; c[o + 5] = 0;
  } else {
    if (x < c[o]) { c[o] = x; }
    if (x > c[o + 1]) { c[o + 1] = x; }
    if (ylo > c[o + 2]) { c[o + 2] = ylo; }
    if (yhi < c[o + 3]) { c[o + 3] = yhi; }
  }
  if (ymid === ymid) { c[o + 4] += ymid; c[o + 5] += 1; }
}

// Column range [i0, i1) of series s, widened by `pad` filled columns on each side (so every
// segment that can reach a strip of columns is drawn whole, and clipping to that strip gives
// the pixels a full redraw gives there).
function span(s, i0, i1, pad) {
  const c = s.c;
  let a = Math.max(i0, 0), b = Math.min(i1, s.columns);
  for (let k = 0; a > 0 && k < pad;) { a -= 1; if (c[F * a] === c[F * a]) { k += 1; } }
  for (let k = 0; b < s.columns && k < pad;) { if (c[F * b] === c[F * b]) { k += 1; } b += 1; }
  return [a, b];
}

function drawSeries(ctx, s, from = 0, to = s.columns) {
  const c = s.c, n = to;
  ctx.beginPath();
  if (s.kind === BAND) {
    let open = false, back = [];
    const close = () => {
      for (let j = back.length - 2; j >= 0; j -= 2) { ctx.lineTo(back[j], back[j + 1]); }
      ctx.closePath();
      open = false; back = [];
    };
    for (let i = from; i < n; i++) {
      const o = F * i, xa = c[o];
      if (xa !== xa) { continue; }   // an empty column (the band spans them, as Agg's)
      if (!open) { ctx.moveTo(xa, c[o + 3]); open = true; } else { ctx.lineTo(xa, c[o + 3]); }
      ctx.lineTo(c[o + 1], c[o + 3]);
      back.push(xa, c[o + 2], c[o + 1], c[o + 2]);
    }
    if (open) { close(); }
    ctx.fillStyle = s.color;
    ctx.fill();
    return;
  }
  let started = false;
  for (let i = from; i < n; i++) {
    const o = F * i, xa = c[o];
    if (xa !== xa) { continue; }
    let x = xa, y = c[o + 2];
    if (s.kind === LINE_MEAN) {
      if (!(c[o + 5] > 0)) { continue; }
      x = (xa + c[o + 1]) / 2; y = c[o + 4] / c[o + 5];
    }
    if (!started) { ctx.moveTo(x, y); started = true; } else { ctx.lineTo(x, y); }
    if (s.kind === LINE_MINMAX) { ctx.lineTo(c[o + 1], c[o + 3]); }
  }
  ctx.strokeStyle = s.color;
  ctx.lineWidth = s.width;
  ctx.stroke();
}

// Points waiting for their time: blocks of (clock, role, fields × n floats), each in time order.
class Playout {
  constructor() {
    this.interval = 0.1;    // wall seconds between deltas (smoothed)
    this.jitter = 0.05;     // their mean deviation from that (smoothed)
    this.rate = 1.0;        // data seconds per wall second (smoothed)
    this.stalls = [];       // wall seconds without deltas before each of the last keyframes
    this.reset(0);
  }

  // A keyframe arrived: how long the kernel sent nothing before it. Drawing a keyframe's
  // background is a whole matplotlib render (0.1–0.5 s on a busy 2-core machine), and no
  // deltas come meanwhile; the playout keeps that much data in hand (the longest of the last
  // STALLS, at most MAX_STALL_S) so the picture keeps moving through the next one.
  stalled(now) {
    if (!this.lastMsg) { return; }
    const gap = (now - this.lastMsg[0]) / 1000;
    this.stalls = [...this.stalls.slice(1 - STALLS), Math.min(gap, MAX_STALL_S)];
  }

  reset(t) {
    this.blocks = [];
    this.shown = t;         // data time (s) folded up to
    this.newest = t;        // newest data time received
    this.lastMsg = null;    // [performance.now(), newest] of the previous delta
  }

  // A delta's points arrived; t is the newest data time it brings. Only deltas that bring
  // data teach the pace (a paused source sends empty ones).
  add(t, now, blocks) {
    for (const b of blocks) {   // times travel as float32: the last may round above t
      if (b.n) { t = Math.max(t, b.data[b.fields * b.n - 1]); }
    }
    if (!blocks.length || !(t > this.newest)) { this.newest = Math.max(this.newest, t); }
    else {
      if (this.lastMsg) {
        const dw = (now - this.lastMsg[0]) / 1000, dt = t - this.lastMsg[1];
        if (dw > 0.001) {
          this.jitter += 0.2 * (Math.abs(Math.min(dw, 2.0) - this.interval) - this.jitter);
          this.interval += 0.2 * (Math.min(dw, 2.0) - this.interval);
          this.rate += 0.2 * (Math.min(dt / dw, 100) - this.rate);
        }
      }
      this.lastMsg = [now, t];
      this.newest = t;
    }
    for (const b of blocks) { this.blocks.push(b); }
  }

  // Advance by dt wall seconds: keep 1.5 message intervals (and 3 × their jitter, so a late
  // message finds points still to show; or a message interval more than the recent
  // keyframes' stalls) behind the newest data, moving at the data's own
  // pace and drifting back to that lag when ahead or behind; once no new data came for a
  // while (paused, or the end), show everything there is.
  advance(dt, now) {
    if (!this.blocks.length) { return false; }
    const lag = Math.max(1.5 * this.interval + 3 * this.jitter,
                         this.interval + Math.max(0, ...this.stalls));
    if (!this.lastMsg || (now - this.lastMsg[0]) / 1000 > 2 * this.interval + lag) {
      this.shown = this.newest;
      return true;
    }
    const target = this.newest - lag * this.rate;
    // the data's pace, plus a pull towards the target from either side (settles in ~0.5 s)
    const next = this.shown + dt * this.rate + (target - this.shown) * Math.min(1, 2 * dt);
    this.shown = Math.min(Math.max(next, this.shown), this.newest);
    return true;
  }

  // Fold every point whose time has come into the series; true when any was folded.
  drain(state) {
    let folded = false;
    const keep = [];
    for (const b of this.blocks) {
      const g = state.groups[b.clock], d = b.data, n = b.n, t = d.subarray((b.fields - 1) * n);
      if (!g) { continue; }
      while (b.at < n && t[b.at] <= this.shown) {
        const i = b.at++, row = d[i], col = d[n + i], x = d[2 * n + i];
        state.touch(b.role === 0 ? b.clock : state.groups.length + b.clock, col);
        if (b.role === 0) {
          const y = d[3 * n + i];
          fold(state.series[g.offset + row], col, x, y, y, NaN);
        } else {
          const lo = d[3 * n + i], hi = d[4 * n + i], mid = d[5 * n + i];
          fold(state.series[g.resid + row], col, x, mid, mid, mid);
          fold(state.series[g.band], col, x, lo, hi, NaN);
          if (row === g.selRow) { fold(state.series[g.sel], col, x, lo, hi, NaN); }
        }
        folded = true;
      }
      if (b.at < n) { keep.push(b); }
    }
    this.blocks = keep;
    return folded;
  }
}

function unpackPoints(header, data) {
  const out = [];
  let at = 0;
  for (let k = 0; k + 3 < header.length; k += 4) {
    const n = header[k + 2], fields = header[k + 3];
    out.push({ clock: header[k], role: header[k + 1], n, fields, at: 0,
               data: data.subarray(at, at + n * fields) });
    at += n * fields;
  }
  return out;
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
  const state = { size: [0, 0], axes: [], series: [], groups: [], status: null, dirty: false,
                  url: null, full: true, strips: [], columns: [],
                  // column c of axes a changed: it joins that axes' strip to repaint
                  touch(a, c) {
                    const d = this.strips[a];
                    if (!d) { this.strips[a] = [c, c]; } else {
                      if (c < d[0]) { d[0] = c; }
                      if (c > d[1]) { d[1] = c; }
                    }
                  } };
  const playout = new Playout();
  let paints = 0, frames = 0, fresh = 0, lastReport = performance.now(), raf = 0, alive = true;
  let lastTick = null;

  function resize(w, h) {
    const dpr = window.devicePixelRatio || 1;
    root.style.width = `${w}px`;
    root.style.height = `${h}px`;
    for (const node of [img, canvas]) { node.style.width = `${w}px`; node.style.height = `${h}px`; }
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  }

  // Pixels (CSS) of column c's left edge in axes a.
  function colX(a, c) {
    const [x, , aw] = state.axes[a], n = state.columns[a] || 1;
    return x + (c * aw) / n;
  }

  // Everything (after a keyframe or a resize), or only the strips of columns that changed
  // since the last paint: a frame then costs a few columns per series, not the whole figure.
  function paint(data = true) {
    const [w, h] = state.size;
    const full = state.full;
    if (full) { ctx.clearRect(0, 0, w, h); }
    ctx.lineJoin = "round";
    for (let a = 0; a < state.axes.length; a++) {
      const d = state.strips[a];
      if (!full && !d) { continue; }
      const [x, y, aw, ah] = state.axes[a];
      ctx.save();
      ctx.beginPath();
      if (full) {
        ctx.rect(x, y, aw, ah);
      } else {
        // A changed column moves the segments to its neighbours, whose strokes (round joins,
        // up to 4.2 px wide) reach a few pixels further: a neighbour column and STROKE_PX of
        // margin each side, on whole pixels (a fractional clear would leave a faint seam).
        const left = Math.max(Math.floor(colX(a, d[0] - 1) - STROKE_PX), x);
        const right = Math.min(Math.ceil(colX(a, d[1] + 2) + STROKE_PX), x + aw);
        ctx.rect(left, y, right - left, ah);
        ctx.clip();
        ctx.clearRect(left, y, right - left, ah);
        ctx.beginPath();
        ctx.rect(x, y, aw, ah);
      }
      ctx.clip();
      for (const s of state.series) {
        if (s.axes !== a) { continue; }
        if (full) { drawSeries(ctx, s); } else { drawSeries(ctx, s, ...span(s, d[0], d[1] + 1, PAD_COLUMNS)); }
      }
      ctx.restore();
    }
    const st = state.status;
    if (st && (full || st.text !== st.painted)) {
      ctx.font = st.font;
      if (!full && st.box) { ctx.clearRect(...st.box); }
      if (st.text) {
        ctx.fillStyle = "#000";
        ctx.textBaseline = "bottom";
        ctx.fillText(st.text, st.x, st.y);
        const m = ctx.measureText(st.text), size = parseFloat(st.font) || 10;
        st.box = [st.x - 1, st.y - 1.5 * size, m.width + 3, 1.5 * size + 2];
      }
      st.painted = st.text;
    }
    state.full = false;
    state.strips = [];
    if (!data) { return; }
    paints += 1;
    el.__tlPaints = paints;                       // read by the browser tests and the bench
    window.__tlCanvasPaints = (window.__tlCanvasPaints || 0) + 1;
  }

  function tick(now) {
    if (!alive) { return; }
    frames += 1;
    const dt = lastTick === null ? 0 : Math.min((now - lastTick) / 1000, 1);
    lastTick = now;
    if (playout.advance(dt, now) && playout.drain(state)) { state.dirty = true; }
    if (state.dirty) {
      state.dirty = false; fresh += 1; paint(true);
    } else if (state.status && state.status.text !== state.status.painted) {
      paint(false);   // the status line alone: not a frame of new data
    }
    if (now - lastReport >= 1000) {
      const span = (now - lastReport) / 1000;
      model.send({ type: "stats", id, raf: frames / span, painted: fresh / span });
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
      state.groups = msg.groups || [];
      state.series = msg.series.map((s) => ({ ...s, c: blank(s.columns) }));
      state.columns = state.axes.map((_, a) => {
        const s = state.series.find((t) => t.axes === a);
        return s ? s.columns : 1;
      });
      state.full = true;
      if (buffers.length === 2) { patch(state.series, ints(buffers[0]), floats(buffers[1])); }
      playout.stalled(performance.now());
      playout.reset(msg.t || 0);     // the keyframe's columns hold every point sent so far
      resize(msg.size[0], msg.size[1]);
      state.dirty = true;
    } else if (msg.type === "delta") {
      if (buffers.length === 2 && buffers[1].byteLength) {
        playout.add(msg.t, performance.now(), unpackPoints(ints(buffers[0]), floats(buffers[1])));
      }
      if (state.status) { state.status.text = msg.status; }
    }
  }

  // For the browser tests: the columns as folded here, and the data layer as the strips left
  // it and after a full repaint, taken in one task (no message can come in between).
  el.__tlColumns = () => state.series.map((s) => ({ kind: s.kind, c: Array.from(s.c) }));
  el.__tlFullPaint = () => {
    paint(false);       // what the next frame would paint anyway (a new status line)
    const strips = canvas.toDataURL("image/png");
    state.full = true;
    paint(false);
    return [strips, canvas.toDataURL("image/png")];
  };
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

// Playout is exported for the browser tests (tests/e2e/test_playout.py); anywidget uses the
// default export.
export { Playout };
export default { render };
