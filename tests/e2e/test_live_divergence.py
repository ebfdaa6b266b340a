"""The live-divergence tutorial in a real JupyterLab: Run All, and the plot streams.

"Streams" is checked twice, independently: the live canvas's data layer differs a few seconds
apart, and the canvas paints frames throughout (it counts its own paints). The delivered frame
rate is printed next to the kernel's own count (the LiveView status line).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tests.e2e import live_canvas
from tests.e2e.page import NotebookPage

pytestmark = pytest.mark.e2e

NOTEBOOK = "02-live-divergence.ipynb"
#: Seconds of painting measured (the notebook's view runs 8 s).
WINDOW_S = 3.0
#: Streaming, not frozen: a blocking render loop paints nothing until the cell ends (0 fps).
#: One frame a second is the floor.
FLOOR_FPS = 1.0


def test_live_divergence_streams_and_ends_cleanly(notebook: NotebookPage, artifacts: Path,
                                                  report: Callable[[str], None]) -> None:
    notebook.open(NOTEBOOK)
    notebook.run_all()

    live_canvas.wait_painting(notebook, min_paints=1)
    first = live_canvas.data_rgba(notebook)
    painted, _, elapsed = live_canvas.measure(notebook, WINDOW_S)
    second = live_canvas.data_rgba(notebook)
    notebook.page.locator(live_canvas.ROOT).first.screenshot(
        path=str(artifacts / "live-divergence-canvas.png"))

    fps = painted / elapsed
    changed = float(np.any(first != second, axis=-1).mean()) if first.shape == second.shape else 1.0
    ink = float((second[..., 3] > 0).mean())
    notebook.wait_run(timeout=120)
    kernel = re.search(r"(\d+) frames · ([\d.]+) fps", notebook.page.locator(
        ".jp-NotebookPanel:not(.lm-mod-hidden)").inner_text())
    report(
        f"{NOTEBOOK}: the canvas painted {painted} frames in {elapsed:.1f} s = "
        f"{fps:.1f} fps; {changed:.1%} of its data layer changed in that time; kernel: "
        f"{kernel.group(1) + ' frames, ' + kernel.group(2) + ' fps' if kernel else 'n/a'}")
    notebook.page.screenshot(path=str(artifacts / "live-divergence.png"), full_page=True)

    assert ink > 0.005, "the canvas's data layer is blank"
    assert changed > 0.0002, "the canvas did not change in 3 s: frozen"
    assert fps >= FLOOR_FPS, f"{fps:.2f} fps painted: not streaming"
    assert notebook.problems() == []
    # The final frame replaced the live canvas as a PNG (LiveView.snapshot()).
    assert notebook.page.locator(
        ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output img").count() >= 1
