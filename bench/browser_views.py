"""Frames delivered to a real JupyterLab in Chromium by the live divergence plot on ipympl.

Since issue 17 the plot renders to its own canvas in a kernel (bench_live_canvas.py measures
that); this script keeps measuring the matplotlib path (``renderer="matplotlib"``) over ipympl,
the comparison point.

Not part of ``python -m bench`` (it needs a browser and takes ~40 s); run it on purpose:
``python -m bench.browser_views [FPS ...]`` (default targets: 12 and 20 and 30 fps).

What it does: starts ``jupyter lab`` on loopback with a
fresh settings/workspace dir, opens a generated notebook in headless Debian Chromium through
Playwright, runs it, and counts for each target fps:

* frames the kernel rendered (``LiveView.frames``) and pushed over the comm (calls of the ipympl
  canvas's ``send_binary``);
* frames the browser actually painted: calls of ``drawImage`` on the ipympl canvas, counted by a
  script injected before the page loads;
* how long a click on the view's Stop button takes to stop the loop while it streams (the
  notebook must stay responsive).

Workload: 16 namespaces × 3 clocks, 10,000 samples each preloaded, ~83 new samples per frame
(SyntheticSource), the default 9×4.8 in figure. Needs /usr/bin/chromium and the venv's
playwright; prints why and returns otherwise.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

RUN_S = 8.0
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]

COUNT_DRAWS = """
window.__tl_draws = 0;
const orig = CanvasRenderingContext2D.prototype.drawImage;
CanvasRenderingContext2D.prototype.drawImage = function (...args) {
  if (this.canvas && this.canvas.closest && this.canvas.closest('.jupyter-matplotlib')) {
    window.__tl_draws += 1;
  }
  return orig.apply(this, args);
};
"""

CELLS = [
    "%matplotlib widget",
    """\
import time
from timens_lab.views import DivergencePlot, LiveView
from timens_lab.views.synthetic import SyntheticSource
S = 10**9
values = [-3600, -5, 0, 1, 90, 3600, 7200, 86400, 2 * 86400, -60, 30, 600, 43200, 10, -1, 5]
offsets = {f"ns{i + 1}": (v * S, (v + 60) * S) for i, v in enumerate(values)}
results = {}
""",
]

RUN = """\
source = SyntheticSource(offsets, samples=10_000 + 100_000, chunk=10_000, rate_hz=1000.0)
plot = DivergencePlot(source, renderer="matplotlib")
plot.frame(); plot.settle(headroom=1.5); source.chunk = 83
view = LiveView([plot], fps={fps}, duration={run_s})
pushed = [0]
spent = {"poll": 0.0, "draw": 0.0, "ipympl": 0.0}
_send = plot.fig.canvas.send_binary
def counting(data, _send=_send):
    pushed[0] += 1
    return _send(data)
plot.fig.canvas.send_binary = counting
def timed(key, fn):
    def wrapper(*a, **k):
        t = time.perf_counter()
        try:
            return fn(*a, **k)
        finally:
            spent[key] += time.perf_counter() - t
    return wrapper
plot.poll = timed("poll", plot.poll)
plot.draw_frame = timed("draw", plot.draw_frame)
plot.fig.canvas.manager.refresh_all = timed("ipympl", plot.fig.canvas.manager.refresh_all)
view.start()
"""

COLLECT = """\
await view.wait()
n = max(view.frames, 1)
results[{fps}] = dict(frames=view.frames, pushed=pushed[0], seconds=round(view.stopped - view.started, 2),
                      full=plot.full_redraws, poll_ms=round(spent["poll"] / n * 1e3, 1),
                      draw_ms=round((spent["draw"] - spent["ipympl"]) / n * 1e3, 1),
                      ipympl_ms=round(spent["ipympl"] / n * 1e3, 1))
print("RESULT", results[{fps}])
"""

STOP_TEST = """\
source = SyntheticSource(offsets, samples=200_000, chunk=83, rate_hz=1000.0)
plot2 = DivergencePlot(source, renderer="matplotlib")
view2 = LiveView([plot2], fps=20, duration=60)
view2.start()
"""

STOP_COLLECT = """\
await view2.wait()
print("STOPPED", view2.stopped - view2.started, view2.frames)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _notebook(path: Path, fps_list: list[int]) -> None:
    import nbformat

    cells = [nbformat.v4.new_code_cell(c) for c in CELLS]
    for fps in fps_list:
        # str.replace, not format(): the cells are Python full of braces
        cells.append(nbformat.v4.new_code_cell(
            RUN.replace("{fps}", str(fps)).replace("{run_s}", str(RUN_S))))
        cells.append(nbformat.v4.new_code_cell(COLLECT.replace("{fps}", str(fps))))
    cells.append(nbformat.v4.new_code_cell(STOP_TEST))
    cells.append(nbformat.v4.new_code_cell(STOP_COLLECT))
    nb = nbformat.v4.new_notebook()
    # Without a kernelspec JupyterLab asks which kernel to start (a dialog, no kernel).
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = cells
    nbformat.write(nb, path)


def _start_server(root: Path, home: Path, port: int) -> subprocess.Popen[bytes]:
    settings = home / "settings"
    for ext, name, body in (
            ("apputils-extension", "notification", {"fetchNews": "false",
                                                    "checkForUpdates": False}),
            ("notebook-extension", "tracker", {"windowingMode": "none"})):
        d = settings / "@jupyterlab" / ext
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{name}.jupyterlab-settings").write_text(json.dumps(body))
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(home / "config"),
           "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
           "JUPYTER_DATA_DIR": str(home / "data"),
           "JUPYTERLAB_SETTINGS_DIR": str(settings),
           "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces")}
    jupyter = str(Path(sys.executable).parent / "jupyter")
    argv = [jupyter, "lab", "--no-browser", "--ip", "127.0.0.1", "--port", str(port),
            "--ServerApp.token=", "--ServerApp.password=", "--LabApp.expose_app_in_browser=True",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            f"--ServerApp.root_dir={root}"]
    if os.geteuid() == 0:
        argv.append("--allow-root")
    log = (home / "server.log").open("wb")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=1)
            return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    proc.wait()
    raise RuntimeError(f"jupyter lab did not start; see {home / 'server.log'}")


def _run_cell(page: object, index: int) -> None:
    page.evaluate(  # type: ignore[attr-defined]
        """async (i) => {
            const panel = window.jupyterapp.shell.currentWidget;
            panel.content.activeCellIndex = i;
            await window.jupyterapp.commands.execute('notebook:run-cell');
        }""", index)


def _output_text(page: object) -> str:
    return str(page.evaluate(  # type: ignore[attr-defined]
        "() => document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)').innerText"))


def measure(fps_list: list[int], chromium: str) -> None:
    from playwright.sync_api import sync_playwright

    home = Path(tempfile.mkdtemp(prefix="timens-browser-"))
    root = home / "nb"
    root.mkdir()
    _notebook(root / "views.ipynb", fps_list)
    port = _free_port()
    server = _start_server(root, home, port)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 2400})
            page.add_init_script(COUNT_DRAWS)
            page.goto(f"http://127.0.0.1:{port}/lab/tree/views.ipynb?reset")
            page.wait_for_function("() => window.jupyterapp?.shell?.currentWidget?."
                                   "sessionContext?.session?.kernel?.status === 'idle'",
                                   timeout=90_000)
            for i in range(len(CELLS)):
                _run_cell(page, i)
            rows = []
            for k, fps in enumerate(fps_list):
                run_cell = len(CELLS) + 2 * k
                _run_cell(page, run_cell)
                page.wait_for_timeout(1500)  # let the canvas view initialise
                before = page.evaluate("() => window.__tl_draws")
                t0 = time.monotonic()
                _run_cell(page, run_cell + 1)   # resolves when `await view.wait()` returns
                wall = time.monotonic() - t0
                drawn = page.evaluate("() => window.__tl_draws") - before
                text = _output_text(page)
                result = text[text.rfind("RESULT {'frames'"):].split("\n")[0]
                rows.append((fps, result, drawn, wall))
            # Responsiveness: click Stop while a 60 s view streams.
            stop_cell = len(CELLS) + 2 * len(fps_list)
            _run_cell(page, stop_cell)
            page.wait_for_timeout(3000)
            t_click = time.monotonic()
            page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) "
                         "button:has-text('Stop')").last.click()
            _run_cell(page, stop_cell + 1)      # resolves when the loop has ended
            stop_latency = time.monotonic() - t_click
            text = _output_text(page)
            stopped = text[text.rfind("STOPPED"):].split("\n")[0]
            page.screenshot(path=str(home / "screenshot.png"), full_page=True)
            browser.close()
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    print(f"16 namespaces × 3 clocks, 10k samples preloaded, {RUN_S:.0f} s per target; "
          "JupyterLab + ipympl in headless Chromium")
    for fps, result, drawn, _wall in rows:
        print(f"  target {fps:>2} fps: kernel {result[7:]} | browser painted {drawn} frames "
              f"= {drawn / RUN_S:.1f} fps")
    print(f"  Stop clicked 3 s into a 60 s run: `await view.wait()` returned "
          f"{stop_latency * 1000:.0f} ms later ({stopped})")
    print(f"  screenshot: {home / 'screenshot.png'}")


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    from bench._util import browser_or_skip

    chromium = browser_or_skip()
    if chromium is None:
        return
    measure([int(a) for a in args] or [12, 20, 30], chromium)


if __name__ == "__main__":
    main()
