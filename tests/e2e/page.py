"""A notebook in JupyterLab, driven through Playwright.

:class:`NotebookPage` runs cells without waiting (the promise of ``commands.execute`` resolves
only when the cells finish, §3.2 pitfall 3), waits for the end through that promise and not the
kernel status (which reads "idle" during a top-level ``await`` on ipykernel 7, pitfall 6), scopes
every selector to the visible notebook panel (pitfall 2), collects every error the page shows or
logs, and counts the frames the browser paints on each ipympl canvas.
"""

from __future__ import annotations

import base64
import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tests.e2e.pixels import pixels
from tests.e2e.server import LabServer

#: Headless chromium flags for a container (--no-sandbox: we run as root in CI).
CHROMIUM_ARGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run")

#: The visible notebook (a restored or second tab is hidden, not removed).
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"

#: Counts drawImage calls on ipympl's on-page canvases, per canvas and in total. ipympl decodes
#: each frame into an offscreen canvas, then each view copies it onto its on-page canvas with
#: drawImage (jupyter-matplotlib's update_canvas): one call per frame painted. The offscreen
#: canvas is not in the document, so ``closest`` filters it out.
COUNT_PAINTS = """
(() => {
  const orig = CanvasRenderingContext2D.prototype.drawImage;
  window.__tlPaints = 0;
  CanvasRenderingContext2D.prototype.drawImage = function (...args) {
    const c = this.canvas;
    if (c && c.closest && c.closest('.jupyter-matplotlib')) {
      c.__tlPaints = (c.__tlPaints || 0) + 1;
      window.__tlPaints += 1;
    }
    return orig.apply(this, args);
  };
})();
"""


@dataclass
class NotebookPage:
    """A notebook open in JupyterLab, in a Playwright page (sync API)."""

    page: Any
    server: LabServer
    console_errors: list[str] = field(default_factory=list)
    #: resources the page tried to fetch from the internet and could not (an offline machine,
    #: as CI is): kept apart, because with a network they load; printed by the tests
    offline: list[str] = field(default_factory=list)
    #: ipympl frame images aborted before they loaded: jupyter-matplotlib revokes the blob URL
    #: of a frame still decoding when the next one arrives, and that frame is never painted
    dropped: int = 0

    def __post_init__(self) -> None:
        self.page.add_init_script(COUNT_PAINTS)
        self.page.on("console", self._on_console)
        self.page.on("pageerror", lambda err: self.console_errors.append(f"pageerror: {err}"))
        self.page.on("requestfailed", self._on_request_failed)

    def _on_console(self, msg: Any) -> None:
        if msg.type != "error":
            return
        url = (msg.location or {}).get("url", "")
        if msg.text.startswith("Failed to load resource") and not _loopback(url):
            return  # the matching requestfailed event recorded it in self.offline
        self.console_errors.append(msg.text)

    def _on_request_failed(self, request: Any) -> None:
        if request.url.startswith("blob:"):
            self.dropped += 1
            return
        entry = f"{request.url} ({request.failure})"
        (self.console_errors if _loopback(request.url) else self.offline).append(
            f"request failed: {entry}")

    def open(self, path: str, *, mode: str = "lab", timeout: float = 120.0) -> None:
        """Open ``path`` (relative to the server root) fresh (``?reset``: no saved workspace),
        and wait until its kernel is idle."""
        self.page.goto(f"{self.server.url}/{mode}/tree/{path}?reset&token={self.server.token}")
        self.page.wait_for_function(
            "() => window.jupyterapp?.shell?.currentWidget?.sessionContext?.session?.kernel"
            "?.status === 'idle'", timeout=timeout * 1000)

    def evaluate(self, script: str, arg: Any = None) -> Any:
        return self.page.evaluate(script, arg)

    # --- running cells

    def run_all(self) -> None:
        """Start Run All and return at once; :meth:`wait_run` waits for it."""
        self._start("notebook:run-all-cells")

    def run_cell(self, index: int) -> None:
        """Start running cell ``index`` and return at once."""
        self._start("notebook:run-cell", index)

    def _start(self, command: str, index: int | None = None) -> None:
        self.page.evaluate(
            """([command, index]) => {
                const app = window.jupyterapp;
                const panel = app.shell.currentWidget;
                if (index !== null) { panel.content.activeCellIndex = index; }
                window.__tlRun = null;
                app.commands.execute(command).then(
                    (ok) => { window.__tlRun = {ok: ok !== false}; },
                    (err) => { window.__tlRun = {ok: false, error: String(err)}; });
            }""", [command, index])

    def wait_run(self, timeout: float = 120.0) -> None:
        """Until the last run started resolves, failing early on an error output."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.page.evaluate("() => window.__tlRun")
            if state is not None:
                problems = self.errors()
                if not state.get("ok") or problems:
                    raise AssertionError(f"run failed: {state}; {problems}")
                return
            problems = self.errors()
            if problems:
                raise AssertionError(f"error output while running: {problems}")
            self.page.wait_for_timeout(250)
        raise AssertionError(f"cells still running after {timeout:.0f} s: {self.running()}")

    def run_and_wait(self, index: int, timeout: float = 60.0) -> str:
        """Run cell ``index`` to its end; return its output text."""
        self.run_cell(index)
        self.wait_run(timeout)
        return self.output_text(index)

    def running(self) -> list[int]:
        """Indexes of code cells queued or running (prompt ``[*]``)."""
        return list(self.page.evaluate(
            """() => {
                const cells = window.jupyterapp.shell.currentWidget.content.widgets;
                return cells.map((c, i) => [c, i]).filter(([c]) => c.model.type === 'code'
                    && c.promptNode && c.promptNode.textContent.includes('*')).map(([, i]) => i);
            }"""))

    # --- reading the page

    def cell(self, index: int) -> Any:
        return self.page.locator(f"{PANEL} .jp-Notebook .jp-Cell").nth(index)

    def output_text(self, index: int) -> str:
        return str(self.cell(index).locator(".jp-OutputArea").inner_text())

    def errors(self, scope: str = PANEL) -> list[str]:
        """Every error shown under ``scope`` (the visible notebook): a stderr or error output
        with a traceback, ipywidgets' "Error displaying widget" placeholder and its error
        view."""
        return list(self.page.evaluate(
            """(panelSel) => {
                const panel = document.querySelector(panelSel);
                if (!panel) { return ['no visible notebook panel']; }
                const out = [];
                const stderr = panel.querySelectorAll(
                    '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]');
                for (const node of stderr) {
                    const text = node.innerText;
                    if (/Traceback|Error:|Exception/.test(text)) { out.push(text.slice(0, 3000)); }
                }
                for (const node of panel.querySelectorAll('.jupyter-widgets-error-widget')) {
                    out.push('widget error view: ' + node.innerText.slice(0, 500));
                }
                for (const node of panel.querySelectorAll('.jp-OutputArea-output')) {
                    if (node.innerText.startsWith('Error displaying widget')) {
                        out.push(node.innerText.slice(0, 500));
                    }
                }
                return out;
            }""", scope))

    def problems(self, scope: str = PANEL) -> list[str]:
        """:meth:`errors` plus every error the page logged to the console (widget code
        reports failures such as a broken frame image only there)."""
        return self.errors(scope) + [f"console: {e}" for e in self.console_errors]

    # --- ipympl canvases

    def canvases(self, scope: str = PANEL) -> Any:
        """The on-page ipympl figure canvases (not the rubber-band overlay) under ``scope``."""
        return self.page.locator(f"{scope} .jupyter-matplotlib-canvas-div canvas:first-child")

    def wait_streaming(self, min_paints: int, timeout: float = 90.0) -> Any:
        """The first plot canvas, once visible and painted more than ``min_paints`` times."""
        canvas = self.canvases().first
        canvas.wait_for(state="visible", timeout=timeout * 1000)
        self.page.wait_for_function(
            "(sel) => [...document.querySelectorAll(sel)].some((c) => (c.__tlPaints || 0) > "
            f"{int(min_paints)})",
            arg=".jupyter-matplotlib-canvas-div canvas:first-child", timeout=60_000)
        return canvas

    def paints(self, scope: str = PANEL) -> list[int]:
        """Frames painted so far on each ipympl canvas under ``scope``, in document order."""
        return list(self.page.evaluate(
            """(sel) => [...document.querySelectorAll(sel)].map((c) => c.__tlPaints || 0)""",
            f"{scope} .jupyter-matplotlib-canvas-div canvas:first-child"))

    def settle_paints(self, quiet_s: float = 1.0, timeout: float = 30.0) -> None:
        """Until no canvas has been painted for ``quiet_s`` (the last frame has landed)."""
        deadline = time.monotonic() + timeout
        last = self.paints()
        while time.monotonic() < deadline:
            self.page.wait_for_timeout(quiet_s * 1000)
            now = self.paints()
            if now == last:
                return
            last = now
        raise AssertionError(f"canvases still painting after {timeout:.0f} s")

    def canvas_rgb(self, index: int, scope: str = PANEL) -> Any:
        """The exact pixels of ipympl canvas ``index`` (its backing store, via toDataURL; not a
        screenshot, which may scale), RGB; transparent pixels read as black."""
        url = self.page.evaluate(
            """([sel, i]) => document.querySelectorAll(sel)[i].toDataURL('image/png')""",
            [f"{scope} .jupyter-matplotlib-canvas-div canvas:first-child", index])
        return pixels(base64.b64decode(url.split(",", 1)[1]))

    def measure_paints(self, seconds: float, scope: str = PANEL) -> tuple[list[int], float]:
        """Frames painted on each canvas during ``seconds``; and the exact wall time used."""
        before = self.paints(scope)
        t0 = time.monotonic()
        self.page.wait_for_timeout(seconds * 1000)
        after = self.paints(scope)
        elapsed = time.monotonic() - t0
        n = min(len(before), len(after))
        return [after[i] - before[i] for i in range(n)], elapsed


def write_notebook(path: Path, cells: list[str]) -> None:
    """A notebook of code ``cells`` for the python3 kernel."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    # Without a kernelspec JupyterLab asks which kernel to start (a dialog, no kernel).
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    nbformat.write(nb, path)


@contextlib.contextmanager
def notebook_page(browser: Any, server: LabServer, *, width: int = 1280,
                  height: int = 1600) -> Iterator[NotebookPage]:
    """A fresh browser context and page on ``server`` (closed afterwards)."""
    context = browser.new_context(viewport={"width": width, "height": height})
    try:
        yield NotebookPage(context.new_page(), server)
    finally:
        context.close()


def _loopback(url: str) -> bool:
    return urlsplit(url).hostname in ("127.0.0.1", "localhost", "::1", None)
