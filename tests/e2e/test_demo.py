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
import re
import secrets
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import live_canvas
from tests.e2e.conftest import screenshot_if_failed
from tests.e2e.page import NotebookPage, notebook_page
from tests.e2e.pixels import ink_fraction
from tests.e2e.server import LabServer, free_port
from tests.e2e.stage_checks import text_problems, watch_outside
from timens_lab.commands.demo import PAGE_EXTENSIONS

pytestmark = pytest.mark.e2e

SCOPE = ".timens-demo"
STATUS = f"{SCOPE} .timens-status"
#: The projector the stage is made for, and the smaller screen it must still be usable on.
STAGE, SMALL = (1920, 1080), (1280, 720)
#: Per scenario key: the readout columns it shows once built (host first).
COLUMNS = {"1": ["host", "a day ahead"], "2": ["host", "max behind"],
           "3": ["host", "A", "B in A", "C in A"], "4": ["host", "machine A", "machine B"]}
#: The stage's two figures: the divergence plot is a live canvas (views/static/canvas.js counts
#: its paints on the widget element), the tree an ipympl canvas (page.py counts its drawImage
#: calls on the canvas).
PLOT = f"{SCOPE} {live_canvas.DATA}"
TREE = f"{SCOPE} .jupyter-matplotlib-canvas-div canvas:first-child"
#: JS: the URL of every resource the page has loaded.
RESOURCES = "() => performance.getEntriesByType('resource').map((e) => e.name)"
#: JS: [plot paints, tree paints] of every plot and tree on the page, in document order.
FIGURE_PAINTS = """([plot, tree]) => [
    [...document.querySelectorAll(plot)].map((c) => c.parentElement.parentElement.__tlPaints || 0),
    [...document.querySelectorAll(tree)].map((c) => c.__tlPaints || 0)]"""


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


def _streams(nb: NotebookPage) -> tuple[float, float]:
    """(share of the live plot's data-layer pixels changed over 2 s, frames it painted per
    second). The data layer holds the data alone (the axes are the image under it); its top
    tenth is skipped: the "frame N · t s" status line changes with every frame even when the
    data would not."""
    first = live_canvas.data_rgba(nb, 0, scope=SCOPE)
    painted, _frames, elapsed = live_canvas.measure(nb, 2.0, scope=SCOPE)
    second = live_canvas.data_rgba(nb, 0, scope=SCOPE)
    if first.shape != second.shape:
        return 1.0, painted / elapsed
    top = int(first.shape[0] * 0.1)
    return float((first[top:] != second[top:]).any(axis=-1).mean()), painted / elapsed


def _data_ink(nb: NotebookPage) -> float:
    """Share of the live plot's data-layer pixels painted (not transparent), under the status
    line: an empty plot has 0."""
    rgba = live_canvas.data_rgba(nb, 0, scope=SCOPE)
    return float((rgba[int(rgba.shape[0] * 0.1):, :, 3] > 0).mean())


def _figure_paints(nb: NotebookPage) -> list[int]:
    """Paints so far of the plot(s), then of the tree(s) under the stage, in document order."""
    plots, trees = nb.page.evaluate(FIGURE_PAINTS, [PLOT, TREE])
    return [*plots, *trees]


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
    """Until both figures of the current build (the plot's live canvas and the tree's ipympl
    canvas) are on the page and painted."""
    nb.page.wait_for_function(
        f"(sels) => {{ const [plots, trees] = ({FIGURE_PAINTS})(sels);"
        " return plots.length >= 1 && trees.length >= 1"
        " && [...plots, ...trees].every((n) => n > 0); }",
        arg=[PLOT, TREE], timeout=60_000)


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
    if variant == "voila":
        # The stage's page loads the JupyterLab extensions it uses and no other.
        extensions = {m.group(1) for url in nb.page.evaluate(RESOURCES)
                      if (m := re.search(r"/labextensions/((?:@[^/]+/)?[^/]+)/", url))}
        assert "anywidget" in extensions, extensions
        assert extensions <= set(PAGE_EXTENSIONS), extensions - set(PAGE_EXTENSIONS)

    # The plot is the live canvas (views/canvas.py), the tree an ipympl canvas.
    live_canvas.wait_painting(nb, 2, scope=SCOPE, timeout=60)
    plot = nb.page.locator(f"{SCOPE} {live_canvas.ROOT}").first
    if live:
        _wait_columns(nb, COLUMNS["1"])
    changed, fps = _streams(nb)
    ink = _data_ink(nb)
    report(f"demo via {variant} ({'live' if live else 'replay'}): plot painted {fps:.1f} fps, "
           f"{changed:.2%} of its data layer changed in 2 s, {ink:.2%} of it inked")
    assert nb.page.locator(PLOT).count() == 1, "one live plot expected"
    assert nb.canvases(SCOPE).count() == 1, "one ipympl tree expected"
    assert ink_fraction(plot.screenshot()) > 0.02, "the plot's axes are not on the page"
    assert ink > 0.001, "the demo's plot shows no data"
    assert changed > 0.0005, "the demo's plot is frozen"
    nb.page.screenshot(path=str(artifacts / f"demo-{variant}.png"))

    if live:
        # A refused offset is explained on screen (message and hint), not raised.
        nb.page.locator(f"{SCOPE} button", has_text="a year behind").click()
        _wait_status(nb, "refused")
        nb.page.locator(f"{SCOPE} button", has_text="nesting").click()
        _wait_columns(nb, COLUMNS["3"])
        assert "error" not in nb.page.locator(STATUS).inner_text()
        _wait_figures(nb)
        changed, _ = _streams(nb)
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
    before = _figure_paints(nb)
    nb.page.wait_for_function(
        f"([sels, before]) => ({FIGURE_PAINTS})(sels).flat().every("
        "(n, i) => n > (before[i] || 0))",
        arg=[[PLOT, TREE], before], timeout=30_000)
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
