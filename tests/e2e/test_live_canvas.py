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


FOLD_SETUP = """\
import time
from timens_lab.views import DivergencePlot, LiveView
from timens_lab.views.synthetic import SyntheticSource
from timens_lab.source import HOST

class RealTime(SyntheticSource):
    '''Records released as the wall clock passes, at 1 kHz, until held.'''
    held = False
    def read(self):
        if not self.held:
            self.chunk = max(int((time.perf_counter() - self.t_start) * 1000) - self._pos[HOST], 0)
        else:
            self.chunk = 0
        return super().read()

S = 10**9
source = RealTime({"one": (1 * S, 1 * S), "min": (60 * S, 60 * S), "hour": (3600 * S, 3600 * S)},
                  samples=120_000)
source.t_start = time.perf_counter()
plot = DivergencePlot(source, clocks=("monotonic", "boottime"))
view = LiveView([plot], duration=120)
view.start();
"""


def _png(url: str) -> np.ndarray:
    import base64
    import io

    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGBA"))


def _columns(notebook: NotebookPage) -> list[dict]:
    return notebook.page.evaluate(
        f"() => document.querySelector('{live_canvas.ROOT}').parentElement.__tlColumns()")


def test_strips_and_folds_equal_full_frames(notebook: NotebookPage, lab_root: Path) -> None:
    """What the browser builds frame by frame equals what a full frame shows: its columns,
    folded point by point from the deltas, equal the kernel's own envelopes (a keyframe sent
    afterwards), and the pixels its strip-by-strip repaints left equal a full repaint."""
    write_notebook(lab_root / "e2e" / "fold.ipynb",
                   [FOLD_SETUP, "plot.select('min')   # its own band too", "source.held = True",
                    "plot.canvas_frames.keyframe(background=False)",
                    "view.stop()\nawait view.wait()"])
    notebook.open("e2e/fold.ipynb")
    notebook.run_cell(0)
    live_canvas.wait_painting(notebook, min_paints=5)
    notebook.run_and_wait(1, timeout=60)
    notebook.page.wait_for_timeout(4000)   # some seconds of deltas on the last keyframe
    notebook.run_and_wait(2, timeout=60)
    notebook.page.wait_for_timeout(1500)   # the playout drains what it holds
    folded = _columns(notebook)
    strips, full = (_png(url) for url in notebook.page.evaluate(
        f"() => document.querySelector('{live_canvas.ROOT}').parentElement.__tlFullPaint()"))
    # premultiplied: a faint band pixel's colour channels mean little at alpha 4
    pre = [np.concatenate((p[..., :3].astype(int) * p[..., 3:].astype(int) // 255,
                           p[..., 3:].astype(int)), axis=-1) for p in (strips, full)]
    diff = np.abs(pre[0] - pre[1]).max(axis=-1)
    ink = int((full[..., 3] > 0).sum())
    assert ink > 1000, "nothing drawn"
    # Rasterising a part of a path can shade a pixel on its edge slightly differently (≤ 28
    # levels seen); a stale or missing segment differs by its whole opacity (≥ 100).
    assert diff.max() <= 64 and int((diff > 16).sum()) <= ink // 1000, (
        f"{int((diff > 16).sum())} pixels differ between the strips and a full repaint, "
        f"by up to {diff.max()}")

    before = live_canvas.paints(notebook)[0]
    notebook.run_and_wait(3, timeout=60)   # a keyframe: the kernel's envelopes, same data
    notebook.page.wait_for_function(
        f"(n) => document.querySelector('{live_canvas.ROOT}').parentElement.__tlPaints > n",
        arg=before, timeout=20_000)
    kernel = _columns(notebook)
    assert len(kernel) == len(folded) and len(kernel) > 6
    for s, (mine, theirs) in enumerate(zip(folded, kernel, strict=True)):
        a, b = np.asarray(mine["c"], float).reshape(-1, 6), np.asarray(theirs["c"], float).reshape(-1, 6)
        if mine["kind"] == 1:     # a mean line: (first, last, mean = sum / count)
            a = np.column_stack((a[:, :2], a[:, 4] / np.where(a[:, 5] > 0, a[:, 5], np.nan)))
            b = np.column_stack((b[:, :2], b[:, 4] / np.where(b[:, 5] > 0, b[:, 5], np.nan)))
        else:
            a, b = a[:, :4], b[:, :4]
        filled = ~np.isnan(b[:, 0])
        assert filled.sum() > 10, f"series {s}: nearly empty"
        assert np.array_equal(np.isnan(a[:, 0]), ~filled), f"series {s}: other columns filled"
        assert np.allclose(a[filled], b[filled], atol=0.05), f"series {s}: folded ≠ the kernel's"
    notebook.run_and_wait(4, timeout=60)
    assert notebook.problems() == []
