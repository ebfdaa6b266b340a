// Big ticking clock readouts: one column per namespace, the host first.
//
// The kernel sends, about once a second, each clock's value at one instant (the "anchor": the
// host's clocks read by the kernel, plus the offsets the samplers measured); between messages
// the page adds the time elapsed since the message arrived (performance.now(), a monotonic
// clock), so the digits tick at 10 Hz for the cost of one small message a second. Paused: the
// anchor is shown as it is.

const ROWS = [
  ["uptime", "uptime", "tl-r-uptime"],
  ["monotonic", "MONOTONIC", "tl-r-clock"],
  ["boottime", "BOOTTIME", "tl-r-clock"],
  ["realtime", "REALTIME", "tl-r-clock"],
];

function pad(n) { return String(n).padStart(2, "0"); }

// "1 d 00:20:34" as uptime(1) would say it (whole seconds, the day count always shown).
function uptime(ns) {
  const neg = ns < 0;
  let s = Math.floor(Math.abs(ns) / 1e9);
  const d = Math.floor(s / 86400); s -= d * 86400;
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  return `${neg ? "\u2212" : ""}${d} d ${pad(h)}:${pad(m)}:${pad(s)}`;
}

// Seconds with a thin space every three digits and one decimal: "86\u2009634.2 s".
function seconds(ns) {
  const neg = ns < 0;
  const tenths = Math.floor(Math.abs(ns) / 1e8);
  const whole = String(Math.floor(tenths / 10)).replace(/\B(?=(\d{3})+(?!\d))/g, "\u2009");
  return `${neg ? "\u2212" : ""}${whole}.${tenths % 10} s`;
}

// REALTIME as a UTC wall clock (time namespaces never offset it).
function wall(ns) {
  const d = new Date(Math.floor(ns / 1e6));
  return `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} UTC`;
}

function text(clock, ns) {
  if (ns === null || ns === undefined) { return "\u2026"; }
  if (clock === "uptime") { return uptime(ns); }
  if (clock === "realtime") { return wall(ns); }
  return seconds(ns);
}

function el(tag, cls, content) {
  const node = document.createElement(tag);
  if (cls) { node.className = cls; }
  if (content !== undefined) { node.textContent = content; }
  return node;
}

function render({ model, el: root }) {
  root.classList.add("tl-readouts");
  let cells = [];          // [node, clock, anchor ns]
  let received = performance.now();

  function build() {
    const data = model.get("data") || {};
    const columns = data.columns || [];
    received = performance.now();
    root.dataset.built = String(data.built || "");   // which build of the scenario (tests)
    root.replaceChildren();
    cells = [];
    const grid = el("div", "tl-r-grid");
    const n = Math.max(columns.length, 1);
    grid.style.gridTemplateColumns = `max-content repeat(${n}, minmax(0, 1fr))`;
    grid.style.setProperty("--tl-cols", String(n));   // the digits' size follows (stage.css)
    grid.appendChild(el("div", "tl-r-corner", ""));
    for (const col of columns) {
      const head = el("div", `tl-r-head tl-r-${col.kind}`);
      head.appendChild(el("div", "tl-r-name", col.name));
      head.appendChild(el("div", "tl-r-sub", col.sub || ""));
      grid.appendChild(head);
    }
    for (const [clock, label, cls] of ROWS) {
      grid.appendChild(el("div", "tl-r-label", label));
      for (const col of columns) {
        const v = (col.clocks || {})[clock];
        const node = el("div", `tl-r-value ${cls} tl-r-${col.kind}`, text(clock, v));
        if (col.ahead && col.ahead[clock]) { node.classList.add(`tl-r-${col.ahead[clock]}`); }
        grid.appendChild(node);
        cells.push([node, clock, v]);
      }
    }
    grid.appendChild(el("div", "tl-r-label", "measured \u2212 set"));
    for (const col of columns) {
      grid.appendChild(el("div", "tl-r-resid", col.resid || ""));
    }
    root.appendChild(grid);
    if (data.note) { root.appendChild(el("div", "tl-r-note", data.note)); }
  }

  function tick() {
    const data = model.get("data") || {};
    const dt = data.paused ? 0 : (performance.now() - received) * 1e6;
    for (const [node, clock, v] of cells) {
      if (v === null || v === undefined) { continue; }
      const t = text(clock, v + dt);
      if (node.textContent !== t) { node.textContent = t; }
    }
  }

  build();
  model.on("change:data", build);
  const timer = setInterval(tick, 100);
  return () => { clearInterval(timer); model.off("change:data", build); };
}

export default { render };
