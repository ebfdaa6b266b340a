"""The canvas renderer in a real JupyterLab: it paints moving data, where matplotlib would.

A synthetic source released in real time (1 kHz, three namespaces with known offsets, no
privileges needed) feeds a DivergencePlot, which in a kernel with anywidget renders live to the
browser canvas. Checked in the browser: the data layer is painted again and again, its pixels
change between frames (the lines grow), each namespace's offset line lies at the y where
matplotlib's own transform puts its configured offset (computed in the kernel from the same
axes: an independent path from the JavaScript drawing), and after the run the saved output is
the matplotlib PNG of the final frame.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tests.e2e import live_canvas
from tests.e2e.page import NotebookPage, write_notebook

pytestmark = pytest.mark.e2e

RUN_S = 12

SETUP = f"""\
import json, time
from timens_lab.views import DivergencePlot, LiveView
from timens_lab.views.synthetic import SyntheticSource
from timens_lab.source import HOST

class RealTime(SyntheticSource):
    '''Records released as the wall clock passes, at 1 kHz, like a sampler.'''
    def read(self):
        self.chunk = max(int((time.perf_counter() - self.t_start) * 1000) - self._pos[HOST], 0)
        return super().read()

S = 10**9
source = RealTime({{"one": (1 * S, 1 * S), "min": (60 * S, 60 * S), "hour": (3600 * S, 3600 * S)}},
                  samples={RUN_S + 30} * 1000)
source.t_start = time.perf_counter()
plot = DivergencePlot(source, clocks=("monotonic", "boottime", "realtime"))
assert plot.renderer == "canvas", plot.renderer
view = LiveView([plot], duration={RUN_S})
view.start();
"""

# Where matplotlib puts each configured offset in the first offset axes, in CSS pixels from
# the canvas's top, and each line's colour: read while the view streams (limits hold then).
EXPECT = """\
ax = plot.ax_offset[0]
h = plot.fig.bbox.height
def y_of(cid):
    return float(h - ax.transData.transform((1.0, plot.traces[(cid, "monotonic")].configured_ns / S))[1])
expected = {cid: dict(y=y_of(cid), rgb=[round(255 * c) for c in plot.colours[cid][:3]])
            for cid in plot.order}
box = ax.bbox
print("EXPECT " + json.dumps(dict(lines=expected, axes=[box.x0, h - box.y1, box.x1, h - box.y0])))
"""

RESULT = """\
await view.wait()
view.snapshot()
print("RESULT " + json.dumps(dict(frames=view.frames, keyframes=plot.canvas_frames.keyframes,
      deltas=plot.canvas_frames.deltas, cpu_s=plot.cpu_s, seconds=view.stopped - view.started)))
"""


def test_canvas_paints_moving_data_at_the_right_place(notebook: NotebookPage, lab_root: Path,
                                                      artifacts: Path,
                                                      report: Callable[[str], None]) -> None:
    write_notebook(lab_root / "e2e" / "canvas.ipynb", [SETUP, EXPECT, RESULT])
    notebook.open("e2e/canvas.ipynb")
    notebook.run_cell(0)
    live_canvas.wait_painting(notebook, min_paints=5)
    notebook.page.wait_for_timeout(1500)   # past the first keyframes (limits settle)
    text = notebook.run_and_wait(1, timeout=60)
    expect = json.loads(text[text.index("EXPECT ") + 7:].splitlines()[0])

    first = live_canvas.data_rgba(notebook)
    painted, _, elapsed = live_canvas.measure(notebook, 2.0)
    second = live_canvas.data_rgba(notebook)
    root = notebook.page.locator(f"{live_canvas.ROOT}").first
    root.screenshot(path=str(artifacts / "live-canvas.png"))

    assert painted >= 2, f"the canvas painted {painted} frames in {elapsed:.1f} s: frozen"
    assert first.shape == second.shape
    changed = float(np.any(first != second, axis=-1).mean())
    assert changed > 0.0002, f"the data layer did not change in 2 s ({changed:.4%} of pixels)"

    # Each offset line where matplotlib's transform says, in its colour (±2 px).
    x0, y0, x1, y1 = (round(v) for v in expect["axes"])
    inside = second[y0:y1, x0:x1]
    for cid, want in expect["lines"].items():
        rgb = np.asarray(want["rgb"])
        near = (inside[..., 3] > 200) & (np.abs(inside[..., :3].astype(int) - rgb).max(axis=-1) < 40)
        rows = np.nonzero(near.any(axis=1))[0] + y0
        assert len(rows), f"{cid}: no pixel of its colour {want['rgb']} in the offset axes"
        got = float(np.median(rows))
        assert abs(got - want["y"]) <= 2.0, (
            f"{cid}: its line is at y = {got:.1f} px, matplotlib puts {want['y']:.1f} px")

    notebook.run_cell(2)
    notebook.wait_run(timeout=RUN_S + 60)
    text = notebook.output_text(2)
    result = json.loads(text[text.index("RESULT ") + 7:].splitlines()[0])
    report(f"live canvas: painted {painted} frames in {elapsed:.1f} s = {painted / elapsed:.1f} "
           f"fps; kernel: {result['frames']} frames ({result['keyframes']} keyframes, "
           f"{result['deltas']} deltas) in {result['seconds']:.1f} s, view CPU "
           f"{result['cpu_s'] / result['seconds']:.1%} of a core")
    assert notebook.problems() == []
    # The saved output is the final frame as a PNG (LiveView.snapshot replaced the widget).
    assert notebook.cell(0).locator(".jp-OutputArea-output img").count() == 1
    assert notebook.cell(0).locator(live_canvas.DATA).count() == 0
