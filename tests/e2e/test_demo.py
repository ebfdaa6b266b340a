"""``timens-lab demo`` in a real browser: the demo dashboard renders, streams, and its scenario
buttons work, with no error anywhere.

The command is run as a user runs it: ``timens-lab demo --jupyterlab --port N`` (it execs
JupyterLab on the shipped demo notebook; Run All), and, where Voilà is installed, the default
``timens-lab demo --port N`` (Voilà runs the notebook when the page loads). The fresh dirs, a
token and the settings come through the environment and a config dir (server.py), so nothing
about the command is changed for the test.
"""

from __future__ import annotations

import importlib.util
import secrets
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import screenshot_if_failed
from tests.e2e.page import NotebookPage, notebook_page
from tests.e2e.pixels import changed_fraction, ink_fraction
from tests.e2e.server import LabServer, free_port

pytestmark = pytest.mark.e2e

SCOPE = ".timens-demo"
STATUS = f"{SCOPE} .timens-status"


def demo_argv(*args: str) -> list[str]:
    """The installed ``timens-lab`` script (else ``python -m timens_lab``) with ``args``."""
    script = Path(sys.executable).with_name("timens-lab")
    if script.exists():
        return [str(script), "demo", *args]
    return [sys.executable, "-m", "timens_lab", "demo", *args]


@pytest.fixture(params=["jupyterlab", "voila"])
def demo(request: pytest.FixtureRequest, browser: Any, tmp_path: Path,
         artifacts: Path) -> Iterator[NotebookPage]:
    """``timens-lab demo`` serving on a free port, and a page on it; afterwards the server is
    stopped by pid and nothing it started may be left."""
    port = free_port()
    if request.param == "voila":
        if importlib.util.find_spec("voila") is None:
            pytest.skip("Voilà is not installed (pip install voila); the JupyterLab variant ran")
        # The token reaches the server through the config LabServer writes (never argv).
        token = secrets.token_hex(16)
        server = LabServer.start(demo_argv(f"--port={port}"), tmp_path,
                                 port=port, api=False, token=token)
    else:
        token = secrets.token_hex(16)
        server = LabServer.start(demo_argv("--jupyterlab", f"--port={port}"),
                                 tmp_path, token=token,
                                 port=port)
    try:
        with notebook_page(browser, server, height=1200) as nb:
            yield nb
            screenshot_if_failed(request, nb, artifacts)
        left = server.shutdown_kernels()
    finally:
        stray = server.stop()
    assert not left, f"processes outlived the demo's kernel (killed now): {left}"
    assert not stray, f"the demo server left processes behind (killed now): {stray}"


def _streams(nb: NotebookPage, canvas: Any) -> tuple[float, float]:
    """(share of pixels changed over 2 s, frames painted per second on this canvas)."""
    first = canvas.screenshot()
    painted, elapsed = nb.measure_paints(2.0, scope=SCOPE)
    second = canvas.screenshot()
    return changed_fraction(first, second, skip_top=0.1), max(painted, default=0) / elapsed


def _wait_status(nb: NotebookPage, pattern: str) -> None:
    nb.page.wait_for_function(
        "([sel, pattern]) => new RegExp(pattern).test(document.querySelector(sel)?.innerText)",
        arg=[STATUS, pattern], timeout=60_000)


def test_demo_renders_streams_and_switches_scenarios(request: pytest.FixtureRequest,
                                                     demo: NotebookPage, artifacts: Path,
                                                     report: Callable[[str], None]) -> None:
    variant = request.node.callspec.params["demo"]
    nb, server = demo, demo.server
    if variant == "voila":
        nb.page.goto(f"{server.url}/?token={server.token}")
        scope_errors = "body"
    else:
        nb.open("demo.ipynb", mode="doc")
        nb.run_all()
        nb.wait_run(timeout=120)   # the cell returns at once; the app runs on the loop
        scope_errors = ".jp-NotebookPanel:not(.lm-mod-hidden)"
    head = nb.page.locator(f"{SCOPE} h1")
    head.wait_for(timeout=120_000)
    assert "time namespaces" in head.inner_text()
    live = nb.page.locator(SCOPE).get_by_text("live ·").count() > 0

    plot = nb.canvases(SCOPE).nth(0)
    plot.wait_for(timeout=60_000)
    nb.page.wait_for_function(
        "(sel) => [...document.querySelectorAll(sel)].some((c) => (c.__tlPaints || 0) > 2)",
        arg=f"{SCOPE} .jupyter-matplotlib-canvas-div canvas:first-child", timeout=60_000)
    if live:
        _wait_status(nb, "a day ahead \\+1d")
    changed, fps = _streams(nb, plot)
    report(f"demo via {variant} ({'live' if live else 'replay'}): plot painted {fps:.1f} fps, "
           f"{changed:.1%} of it changed in 2 s")
    assert nb.canvases(SCOPE).count() >= 2, "plot and tree expected"
    assert ink_fraction(plot.screenshot()) > 0.02
    assert changed > 0.0005, "the demo's plot is frozen"
    nb.page.screenshot(path=str(artifacts / f"demo-{variant}.png"))

    if live:
        # A refused offset is explained on screen (message and hint), not raised.
        nb.page.locator(f"{SCOPE} button", has_text="a year behind").click()
        _wait_status(nb, "refused|as far behind")
        nb.page.locator(f"{SCOPE} button", has_text="nesting").click()
        _wait_status(nb, "B in A")
        assert "error" not in nb.page.locator(STATUS).inner_text()
        changed, _ = _streams(nb, nb.canvases(SCOPE).nth(0))
        assert changed > 0.0005, "the plot froze after switching scenarios"
        nb.page.screenshot(path=str(artifacts / f"demo-{variant}-nesting.png"))
    if nb.offline:
        report(f"demo via {variant} wanted from the internet: {nb.offline}")
    assert nb.problems(scope_errors) == []
