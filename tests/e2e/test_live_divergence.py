"""The live-divergence tutorial in a real JupyterLab: Run All, and the plot streams.

"Streams" is checked twice, independently: screenshots of the canvas a few seconds apart differ,
and the browser paints frames on it throughout (drawImage calls counted in the page). The
delivered frame rate is printed next to the kernel's own count (the LiveView status line).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.page import NotebookPage
from tests.e2e.pixels import changed_fraction, ink_fraction

pytestmark = pytest.mark.e2e

NOTEBOOK = "02-live-divergence.ipynb"
#: Seconds of painting measured (the notebook's view runs 8 s).
WINDOW_S = 3.0
#: Streaming, not frozen: a blocking render loop paints nothing until the cell ends (0 fps),
#: ipympl at 12 fps on an idle 2-core machine paints ~10. One frame a second is the floor.
FLOOR_FPS = 1.0


def test_live_divergence_streams_and_ends_cleanly(notebook: NotebookPage, artifacts: Path,
                                                  report: Callable[[str], None]) -> None:
    notebook.open(NOTEBOOK)
    notebook.run_all()

    canvas = notebook.wait_streaming(min_paints=1)
    first = canvas.screenshot()
    painted, elapsed = notebook.measure_paints(WINDOW_S)
    second = canvas.screenshot()
    (artifacts / "live-divergence-canvas.png").write_bytes(second)

    fps = max(painted, default=0) / elapsed
    changed = changed_fraction(first, second, skip_top=0.1)
    notebook.wait_run(timeout=120)
    kernel = re.search(r"(\d+) frames · ([\d.]+) fps", notebook.page.locator(
        ".jp-NotebookPanel:not(.lm-mod-hidden)").inner_text())
    report(
        f"{NOTEBOOK}: browser painted {max(painted, default=0)} frames in {elapsed:.1f} s = "
        f"{fps:.1f} fps (target 12); {changed:.1%} of the canvas changed in that time; kernel: "
        f"{kernel.group(1) + ' frames, ' + kernel.group(2) + ' fps' if kernel else 'n/a'}")
    notebook.page.screenshot(path=str(artifacts / "live-divergence.png"), full_page=True)

    assert ink_fraction(second) > 0.02, "the canvas is blank"
    assert changed > 0.0005, "the canvas did not change in 3 s: frozen"
    assert fps >= FLOOR_FPS, f"{fps:.2f} fps painted: not streaming"
    assert notebook.problems() == []
    # The final frame replaced the live canvas as a PNG (LiveView.snapshot()).
    assert notebook.page.locator(
        ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output img").count() >= 1
