"""``timens-lab demo`` in a real browser: the stage renders, streams, its scenario buttons and
presenter keys work, nothing is fetched from outside the machine, and at 1920×1080 every text is
at least 16 px, inside the window and clear of every other (screenshots of each scenario go to
artifacts/e2e/; docs/demo/ holds the ones the README shows).

The command is run as a user runs it: ``timens-lab demo --jupyterlab --port N`` (it execs
JupyterLab on the shipped demo notebook; Run All), and, where Voilà is installed, the default
``timens-lab demo --port N`` (Voilà runs the notebook when the page loads). The fresh dirs, a
token and the settings come through the environment and a config dir (server.py), so nothing
about the command is changed for the test.
"""

from __future__ import annotations

import contextlib
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
from tests.e2e.stage_checks import text_problems, watch_outside

pytestmark = pytest.mark.e2e

SCOPE = ".timens-demo"
STATUS = f"{SCOPE} .timens-status"
#: The projector the stage is made for, and the smaller screen it must still be usable on.
STAGE, SMALL = (1920, 1080), (1280, 720)
#: Per scenario key: the readout columns it shows once built (host first).
COLUMNS = {"1": ["host", "a day ahead"], "2": ["host", "max behind"],
           "3": ["host", "A", "B in A", "C in A"], "4": ["host", "machine A", "machine B"]}


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
        with notebook_page(browser, server, width=STAGE[0], height=STAGE[1]) as nb:
            nb.outside = watch_outside(nb.page)   # before the first request
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


def _heads(nb: NotebookPage) -> list[str]:
    return list(nb.page.evaluate(
        "() => [...document.querySelectorAll('.tl-readouts .tl-r-name')].map((e) => e.innerText)"))


def _wait_columns(nb: NotebookPage, names: list[str], timeout: float = 90.0) -> None:
    """Until the readouts show ``names`` with every clock measured (no "…" left)."""
    nb.page.wait_for_function(
        """(names) => {
            const heads = [...document.querySelectorAll('.tl-readouts .tl-r-name')];
            const values = [...document.querySelectorAll('.tl-readouts .tl-r-value')];
            return JSON.stringify(heads.map((e) => e.innerText)) === JSON.stringify(names)
                && values.length > 0 && values.every((e) => !e.innerText.includes('\u2026'));
        }""", arg=names, timeout=timeout * 1000)


def _wait_figures(nb: NotebookPage) -> None:
    """Until both figures of the current build are on the page and painted."""
    nb.page.wait_for_function(
        "(sel) => { const c = [...document.querySelectorAll(sel)];"
        " return c.length >= 2 && c.every((e) => (e.__tlPaints || 0) > 0); }",
        arg=f"{SCOPE} .jupyter-matplotlib-canvas-div canvas:first-child", timeout=60_000)


def _built(nb: NotebookPage) -> str:
    return str(nb.page.evaluate("() => document.querySelector('.tl-readouts').dataset.built"))


def _press(nb: NotebookPage, key: str, names: list[str]) -> None:
    """Press ``key`` (page-wide, as a presenter does) and wait for that scenario's stage."""
    before = _built(nb)
    nb.page.keyboard.press(key)
    nb.page.wait_for_function(
        "(b) => document.querySelector('.tl-readouts').dataset.built !== b", arg=before,
        timeout=90_000)
    _wait_columns(nb, names)
    _wait_figures(nb)


def test_demo_renders_streams_and_switches_scenarios(request: pytest.FixtureRequest,
                                                     demo: NotebookPage, artifacts: Path,
                                                     report: Callable[[str], None]) -> None:
    variant = request.node.callspec.params["demo"]
    nb, server = demo, demo.server
    if variant == "voila":
        nb.page.goto(f"{server.url}/?token={server.token}", timeout=180_000)
        scope_errors = "body"
    else:
        nb.open("demo.ipynb", mode="doc")
        nb.run_all()
        nb.wait_run(timeout=120)   # the cell returns at once; the app runs on the loop
        scope_errors = ".jp-NotebookPanel:not(.lm-mod-hidden)"
    head = nb.page.locator(f"{SCOPE} h1")
    head.wait_for(timeout=120_000)
    assert "time namespaces" in head.inner_text()
    live = nb.page.locator(SCOPE).get_by_text("· live ·").count() > 0

    plot = nb.canvases(SCOPE).nth(0)
    plot.wait_for(timeout=60_000)
    nb.page.wait_for_function(
        "(sel) => [...document.querySelectorAll(sel)].some((c) => (c.__tlPaints || 0) > 2)",
        arg=f"{SCOPE} .jupyter-matplotlib-canvas-div canvas:first-child", timeout=60_000)
    if live:
        _wait_columns(nb, COLUMNS["1"])
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
        _wait_status(nb, "refused")
        nb.page.locator(f"{SCOPE} button", has_text="nesting").click()
        _wait_columns(nb, COLUMNS["3"])
        assert "error" not in nb.page.locator(STATUS).inner_text()
        changed, _ = _streams(nb, nb.canvases(SCOPE).nth(0))
        assert changed > 0.0005, "the plot froze after switching scenarios"
        nb.page.screenshot(path=str(artifacts / f"demo-{variant}-nesting.png"))
    assert nb.outside == [], f"the demo fetched from outside this machine: {nb.outside}"
    assert nb.problems(scope_errors) == []


@pytest.fixture
def stage(browser: Any, tmp_path: Path, request: pytest.FixtureRequest,
          artifacts: Path) -> Iterator[NotebookPage]:
    """The Voilà stage (``timens-lab demo``) at 1920×1080, live: the scenarios need time
    namespaces."""
    if importlib.util.find_spec("voila") is None:
        pytest.skip("Voilà is not installed (pip install voila)")
    from timens_lab import probe

    if not probe().time_namespaces:
        pytest.skip(f"the scenarios need time namespaces: {probe().reason}")
    port, token = free_port(), secrets.token_hex(16)
    server = LabServer.start(demo_argv(f"--port={port}"), tmp_path, port=port, api=False,
                             token=token)
    try:
        with notebook_page(browser, server, width=STAGE[0], height=STAGE[1]) as nb:
            nb.outside = watch_outside(nb.page)
            nb.page.goto(f"{server.url}/?token={token}", timeout=180_000)   # Voilà runs it first
            _wait_columns(nb, COLUMNS["1"], timeout=180)
            _wait_figures(nb)
            yield nb
            screenshot_if_failed(request, nb, artifacts)
    finally:
        stray = server.stop()
    assert not stray, f"the demo server left processes behind (killed now): {stray}"


def _stage_problems(nb: NotebookPage, *, fold: bool = True) -> list[str]:
    """text_problems once the figures have refit to the room the page reported (the key
    hint is then on screen: the stage needs no scrolling) and painted since."""
    if fold:
        with contextlib.suppress(Exception):   # if it never is, the check says what is off
            nb.page.wait_for_function(
                "() => document.querySelector('.tl-hint').getBoundingClientRect().bottom"
                " <= window.innerHeight", timeout=30_000)
    # Figures the same size for 2 s (a refit clears a canvas until its next frame), then
    # painted since.
    sizes = "() => JSON.stringify([...document.querySelectorAll('.tl-figures canvas')]" \
            ".map((c) => [c.width, c.height]))"
    last, steady = nb.page.evaluate(sizes), 0
    for _ in range(30):
        nb.page.wait_for_timeout(500)
        now = nb.page.evaluate(sizes)
        steady = steady + 1 if now == last else 0
        last = now
        if steady >= 4:
            break
    before = nb.paints(SCOPE)
    nb.page.wait_for_function(
        "([sel, before]) => [...document.querySelectorAll(sel)].every("
        "(c, i) => (c.__tlPaints || 0) > (before[i] || 0))",
        arg=[f"{SCOPE} .jupyter-matplotlib-canvas-div canvas:first-child", before],
        timeout=30_000)
    return text_problems(nb.page, ".tl-stage", fold=fold)


@pytest.mark.slow
@pytest.mark.timeout(900)   # four scenarios, two themes, two sizes: minutes on a busy machine
def test_stage_scenarios_keys_and_legibility(stage: NotebookPage, artifacts: Path,
                                             report: Callable[[str], None]) -> None:
    """Keys 1–4 each bring their scenario; at 1920×1080 all text is ≥ 16 px, on screen and
    clear of other text (a screenshot each); the refusal is large; space pauses and resumes,
    t switches light/dark, PageDown/PageUp step with wrap-around, 0 and r rebuild, f goes
    full screen; 1280×720 still reads; and the page never asked the internet for anything."""
    nb = stage
    page = nb.page
    slugs = {"1": "a-day-ahead", "2": "a-year-behind", "3": "nesting", "4": "migration"}
    for key in ("2", "3", "4", "1"):
        _press(nb, key, COLUMNS[key])
        problems = _stage_problems(nb)
        page.screenshot(path=str(artifacts / f"stage-{key}-{slugs[key]}.png"))
        assert problems == [], f"scenario {key}: {problems}"
        if key == "2":
            size = page.evaluate("() => parseFloat(getComputedStyle("
                                 "document.querySelector('.tl-refused')).fontSize)")
            assert size >= 24, f"the kernel's refusal is {size}px: not large"
            assert "ERANGE" in page.locator(".tl-refused").inner_text()
        caption = page.locator(".tl-caption").inner_text()
        assert caption.count(".") == 1 and caption.endswith("."), caption  # one sentence

    # space: pause (the clocks stop ticking), space again: resume.
    page.keyboard.press(" ")
    page.locator(".tl-paused").wait_for(timeout=90_000)
    held = page.locator(".tl-r-value").nth(1).inner_text()
    page.wait_for_timeout(1500)
    assert page.locator(".tl-r-value").nth(1).inner_text() == held, "paused, yet ticking"
    page.keyboard.press(" ")
    page.locator(".tl-paused").wait_for(state="detached", timeout=90_000)
    page.wait_for_timeout(1500)
    assert page.locator(".tl-r-value").nth(1).inner_text() != held, "resumed, yet frozen"

    # t: dark, and as legible; t again: light.
    page.keyboard.press("t")
    page.locator(".tl-stage.tl-dark").wait_for(timeout=90_000)
    _wait_columns(nb, COLUMNS["1"])
    problems = _stage_problems(nb)
    page.screenshot(path=str(artifacts / "stage-1-a-day-ahead-dark.png"))
    assert problems == [], f"dark: {problems}"
    page.keyboard.press("t")
    page.locator(".tl-stage.tl-light").wait_for(timeout=90_000)

    # A clicker: PageDown from the last scenario wraps to the first, PageUp goes back.
    _press(nb, "4", COLUMNS["4"])
    _press(nb, "PageDown", COLUMNS["1"])
    _press(nb, "PageUp", COLUMNS["4"])
    _press(nb, "0", COLUMNS["4"])     # reset: the same scenario, built again
    _press(nb, "r", COLUMNS["4"])

    page.keyboard.press("f")
    page.wait_for_function("() => document.fullscreenElement !== null", timeout=10_000)
    page.keyboard.press("f")
    page.wait_for_function("() => document.fullscreenElement === null", timeout=10_000)

    # 1280×720: the page refits (a rebuild for the new width); no small, clipped or
    # overlapping text, though the key hint may need a scroll.
    page.set_viewport_size({"width": SMALL[0], "height": SMALL[1]})
    before = _built(nb)
    page.wait_for_function(
        "(b) => document.querySelector('.tl-readouts').dataset.built !== b", arg=before,
        timeout=90_000)
    _wait_columns(nb, COLUMNS["4"])
    problems = _stage_problems(nb, fold=False)
    page.screenshot(path=str(artifacts / "stage-4-migration-1280x720.png"))
    assert problems == [], f"1280×720: {problems}"

    report(f"stage: 4 scenarios, keys, dark and 1280×720 checked; outside requests: "
           f"{len(nb.outside)}")
    assert nb.outside == [], f"the stage fetched from outside this machine: {nb.outside}"
    assert nb.problems("body") == []
