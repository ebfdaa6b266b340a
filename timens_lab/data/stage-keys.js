// Presenter keys for the demo: 1-4 scenarios, PageDown/PageUp (a clicker) step through them,
// 0 or r reset, space pause/resume, t light/dark, f full screen (done here: the Fullscreen API
// needs the key press itself). The rest go to the kernel as {key: ...} messages.
//
// One listener on window, in the capture phase, so JupyterLab's own shortcuts (1 = heading,
// r = raw cell, space = scroll) never see these keys while the demo is on screen. It ignores
// keys typed into an input or an editor, with a modifier held, and while the demo is hidden
// (another tab in JupyterLab). It also reports the room the figures have on the page, which the
// kernel sizes them to.

const KEYS = new Map([
  ["1", "1"], ["2", "2"], ["3", "3"], ["4", "4"], ["0", "reset"], ["r", "reset"],
  [" ", "pause"], ["t", "theme"], ["PageDown", "next"], ["PageUp", "previous"],
  ["ArrowRight", "next"], ["ArrowLeft", "previous"],
]);

function editable(target) {
  if (!target || !target.closest) { return false; }
  return Boolean(target.closest("input, textarea, select, [contenteditable=''], "
    + "[contenteditable='true'], .cm-editor, .jp-InputArea-editor"));
}

function visible(node) {
  return node.isConnected && node.getClientRects().length > 0;
}

async function fullscreen() {
  try {
    if (document.fullscreenElement) { await document.exitFullscreen(); }
    else { await document.documentElement.requestFullscreen(); }
  } catch (err) {
    console.warn("timens-lab demo: full screen refused:", err);
  }
}

function render({ model, el }) {
  el.classList.add("tl-keys");
  const stage = () => el.closest(".tl-stage") || el;

  function onKey(event) {
    if (event.ctrlKey || event.altKey || event.metaKey || editable(event.target)) { return; }
    if (!visible(stage())) { return; }
    const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    if (key === "f") {
      fullscreen();
    } else if (KEYS.has(key)) {
      model.send({ key: KEYS.get(key) });
    } else {
      return;
    }
    event.preventDefault();
    event.stopImmediatePropagation();
  }

  // The room the figures have: the page's width, and the height from the top of the
  // figures' row to the bottom of the window, less the key hint under it. Measured again
  // whenever the stage's layout changes (a caption wraps, a refusal appears, a resize).
  let timer = null;
  let sent = "";
  function report() {
    const root = stage();
    const figures = root.querySelector(".tl-figures");
    const hint = root.querySelector(".tl-hint");
    if (!figures || !visible(root)) { return; }
    const top = figures.getBoundingClientRect().top + window.scrollY;
    const below = (hint ? hint.getBoundingClientRect().height : 0) + 24;
    const room = [window.innerWidth, Math.max(0, Math.floor(window.innerHeight - top - below))];
    if (JSON.stringify(room) === sent) { return; }
    sent = JSON.stringify(room);
    model.set("room", room);
    model.save_changes();
  }
  function later() {
    clearTimeout(timer);
    timer = setTimeout(report, 250);
  }
  const observer = new ResizeObserver(later);

  window.addEventListener("keydown", onKey, true);
  window.addEventListener("resize", later);
  // The stage is an ancestor, attached once this view is in the page.
  requestAnimationFrame(() => {
    for (const node of stage().children) {
      if (!node.classList.contains("tl-figures")) { observer.observe(node); }
    }
    report();
  });
  return () => {
    window.removeEventListener("keydown", onKey, true);
    window.removeEventListener("resize", later);
    observer.disconnect();
    clearTimeout(timer);
  };
}

export default { render };
