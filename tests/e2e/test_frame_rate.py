"""Frames delivered to the browser by the live divergence plot with 16 real namespaces.

The goal (issue 9) is ≥ 20 fps for 16 namespaces. The view asks for more (``TARGET_FPS``) so
the figure printed is what the whole path delivers: 16 sampler processes → SamplerSet →
divergence → blitted Agg frame → ipympl diff PNG → comm → the browser's canvas. It is printed
whatever it is, next to the kernel's own frame count and the PNGs it pushed; the test asserts
only a floor that tells streaming from frozen (a machine busy with other work delivers less,
and a timed assertion on shared CI would be a flaky test, not a measurement). bench/ measures
the kernel-side cost on its own.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tests.e2e.page import NotebookPage, write_notebook
from tests.e2e.pixels import changed_fraction, ink_fraction, mismatch, save_comparison

pytestmark = pytest.mark.e2e

NAMESPACES = 16
#: What the view asks for; TIMENS_LAB_E2E_TARGET_FPS overrides it (to map delivered vs asked).
TARGET_FPS = int(os.environ.get("TIMENS_LAB_E2E_TARGET_FPS", "30"))
GOAL_FPS = 20
RATE_HZ = 1000     # per namespace, as in notebooks/02-live-divergence.ipynb
RUN_S = 10.0
WINDOW_S = 5.0
FLOOR_FPS = 1.0    # see test_live_divergence.py

SETUP = f"""\
import json
from timens_lab import Lab
from timens_lab.recording.replay import open_source
from timens_lab.views import DivergencePlot, LiveView

S = 10**9
values = [3600, 5, 0, 1, 90, 7200, 86400, 2 * 86400, 60, 30, 600, 43200, 10, 2, 15, 300]
lab = Lab()
namespaces = [lab.namespace(monotonic=f"{{v}}s", boottime=f"{{v + 60}}s", name=f"ns{{i + 1}}")
              for i, v in enumerate(values[:{NAMESPACES}])]
source = open_source(namespaces, lab=lab, rate={RATE_HZ}, mode="live")
plot = DivergencePlot(source, clocks=("monotonic", "boottime", "realtime"))
pushed = [0]
_send = plot.fig.canvas.send_binary
def counting(data, _send=_send):
    pushed[0] += 1
    return _send(data)
plot.fig.canvas.send_binary = counting
view = LiveView([plot], fps={TARGET_FPS}, duration={RUN_S})
view.start();
"""

RESULT = """\
await view.wait()
import numpy as np
np.save("fps16-kernel.npy", np.asarray(plot.fig.canvas.buffer_rgba()))   # the final frame
print("RESULT " + json.dumps({"frames": view.frames, "pushed": pushed[0],
      "seconds": view.stopped - view.started, "channels": len(source.channels())}))
"""

CLOSE = "source.close()\nlab.close()\n"


def test_sixteen_namespaces_stream_to_the_browser(notebook: NotebookPage, lab_root: Path,
                                                  need_timens: str, artifacts: Path,
                                                  report: Callable[[str], None]) -> None:
    write_notebook(lab_root / "e2e" / "fps16.ipynb",
                   ["%matplotlib widget", SETUP, RESULT, CLOSE])
    notebook.open("e2e/fps16.ipynb")
    notebook.run_all()

    canvas = notebook.wait_streaming(min_paints=2)
    notebook.page.wait_for_timeout(1000)   # past the first full draws (new channels)
    first = canvas.screenshot()
    painted, elapsed = notebook.measure_paints(WINDOW_S)
    second = canvas.screenshot()
    (artifacts / "fps16-canvas.png").write_bytes(second)
    notebook.wait_run(timeout=120)

    text = notebook.output_text(2)
    result = json.loads(text[text.index("RESULT ") + 7:].splitlines()[0])
    fps = max(painted, default=0) / elapsed
    kernel_fps = result["frames"] / result["seconds"]
    verdict = "meets" if fps >= GOAL_FPS else "BELOW"
    load = Path("/proc/loadavg").read_text().split()[:3]
    report(
        f"{NAMESPACES} namespaces × 3 clocks at {RATE_HZ} Hz, target {TARGET_FPS} fps: browser "
        f"painted {fps:.1f} fps ({max(painted, default=0)} frames in {elapsed:.1f} s) — "
        f"{verdict} the {GOAL_FPS} fps goal; {notebook.dropped} frames dropped by the browser over "
        f"the run (replaced while decoding); kernel drew {result['frames']} frames in "
        f"{result['seconds']:.1f} s = {kernel_fps:.1f} fps and pushed {result['pushed']} PNGs; "
        f"{result['channels']} channels; load average {' '.join(load)} on {_cpus()} CPUs")

    assert result["channels"] == NAMESPACES + 1, "a sampler is missing (16 namespaces + host)"
    ink = ink_fraction(second)
    assert ink > 0.02, (f"the canvas is (nearly) blank while streaming: {ink:.1%} ink, ~10 % "
                        f"expected (artifacts/e2e/fps16-canvas.png)")
    assert changed_fraction(first, second, skip_top=0.1) > 0.0005, "the canvas did not change: frozen"
    assert fps >= FLOOR_FPS, f"{fps:.2f} fps painted: not streaming"
    assert notebook.problems() == []

    # What the browser shows in the end is exactly what the kernel drew: ipympl sends each
    # frame as a diff against the previous one, so a frame lost on the way garbles every
    # later picture (matplotlib#19116).
    notebook.settle_paints()
    browser, kernel = notebook.canvas_rgb(0), np.load(lab_root / "e2e" / "fps16-kernel.npy")
    wrong = mismatch(browser, kernel)
    if wrong:
        save_comparison(browser, kernel, artifacts / "fps16-final")
    assert wrong == 0.0, (f"the browser's canvas differs from the kernel's final frame in "
                          f"{wrong:.2%} of its pixels (artifacts/e2e/fps16-final-*.png): diff frames were "
                          f"lost and no full frame repaired them")


def _cpus() -> int:
    return len(os.sched_getaffinity(0))
