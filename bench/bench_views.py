"""Frame cost of the live divergence plot on Agg: 16 namespaces × 3 clocks × 10,000 samples.

Issue 6's budget: ≤ 20 ms per frame on this 2-core machine, so that ipympl (which adds a diff
PNG per frame) can still deliver ≥ 20 fps. Measured in one run:

* ``full``: every frame sets all data and redraws the whole figure, lines not decimated: the
  anchor, what FuncAnimation does under ipympl (supports_blit is False);
* ``full+dec``: the same, lines decimated to min/max (offsets) and mean (residuals) per pixel
  column;
* ``blit``: restore the background, draw the data artists, ``canvas.blit``; lines not decimated;
* ``blit+dec``: blit plus decimation, the default of :class:`DivergencePlot`.

The error bands are per-column envelopes in every mode (they are one by nature).

Each timed frame is what the live loop does: read the next records from the source (a
SyntheticSource, ~83 new samples per namespace = 1 kHz sampling at 12 fps), compute offsets with
divergence(), update the artists, draw. The plot is preloaded with 10,000 samples per namespace
and clock (the x axis has headroom, so limits do not change while timing; the count of full
redraws is printed to show it). Times are medians of CPU time (CLOCK_PROCESS_CPUTIME_ID), which
other load on the machine inflates far less than wall time (printed too, with the load average).
Also printed: the poll/divergence share of a frame, and one full-figure PNG encode (ipympl's
per-frame cost before diffing) for comparison.

Run: ``python -m bench views`` or ``python -m bench.bench_views``.
"""

from __future__ import annotations

import os
import time

import matplotlib

matplotlib.use("Agg")

from bench._util import median_ms, table
from timens_lab.views.divergence_plot import DivergencePlot
from timens_lab.views.synthetic import SyntheticSource

NAMESPACES = 16
CLOCKS = ("monotonic", "boottime", "realtime")
PRELOAD = 10_000
RATE_HZ = 1000.0
PER_FRAME = 83
FRAMES = 30
BUDGET_MS = 20.0
S = 1_000_000_000

MODES = {  # name: (blit, decimate, frames timed): the slow modes take ~1 s a frame
    "full": (False, False, 8),
    "full+dec": (False, True, 8),
    "blit": (True, False, 8),
    "blit+dec": (True, True, FRAMES),
}


def offsets() -> dict[str, tuple[int, int]]:
    """16 namespaces from −1 h to +2 d, different monotonic and boottime offsets."""
    values = [-3600, -5, 0, 1, 90, 3600, 7200, 86400, 2 * 86400, -60, 30, 600, 43200, 10, -1, 5]
    return {f"ns{i + 1}": (v * S, (v + 60) * S) for i, v in enumerate(values[:NAMESPACES])}


def build(blit: bool, decimate: bool) -> tuple[DivergencePlot, SyntheticSource]:
    source = SyntheticSource(offsets(), samples=PRELOAD + (FRAMES + 5) * PER_FRAME,
                             chunk=PRELOAD, rate_hz=RATE_HZ, seed=1)
    plot = DivergencePlot(source, CLOCKS, figsize=(9.0, 4.8), blit=blit, decimate=decimate)
    plot.frame()              # preload 10k per namespace, first full draw
    plot.settle(headroom=1.5)  # limits with room to grow: no limit change while timing
    source.chunk = PER_FRAME
    return plot, source


def measure(blit: bool, decimate: bool, frames: int) -> tuple[float, float, float, int, int]:
    """Medians (wall ms per frame, CPU ms per frame, CPU ms in poll), full redraws while
    timing, points per line. CPU time (CLOCK_PROCESS_CPUTIME_ID) is what the budget is about
    and what other load on the machine does not inflate; wall time is what a user waits."""
    plot, _source = build(blit, decimate)
    walls, cpus, polls = [], [], []
    full_before = plot.full_redraws
    for i in range(frames + 3):
        w0, c0 = time.perf_counter(), time.process_time()
        plot.poll()
        c1 = time.process_time()
        plot.draw_frame()
        w2, c2 = time.perf_counter(), time.process_time()
        if i >= 3:  # warm-up
            walls.append(w2 - w0)
            cpus.append(c2 - c0)
            polls.append(c1 - c0)
    points = max(len(seg) for seg in plot.meas[0].get_segments())
    plot.close()
    return (median_ms(walls), median_ms(cpus), median_ms(polls),
            plot.full_redraws - full_before, points)


def png_encode_ms() -> float:
    """One ipympl-style PNG of the whole frame (what ipympl sends per frame, before diffing)."""
    import io

    import numpy as np
    from PIL import Image

    plot, _ = build(True, True)
    canvas = plot.fig.canvas
    pixels = np.asarray(canvas.buffer_rgba())
    times = []
    for _ in range(10):
        t = time.perf_counter()
        with io.BytesIO() as buf:
            Image.fromarray(pixels).save(buf, format="png")
        times.append(time.perf_counter() - t)
    plot.close()
    return median_ms(times)


def main() -> None:
    load = os.getloadavg()[0]
    print(f"{NAMESPACES} namespaces × {len(CLOCKS)} clocks, {PRELOAD} samples each preloaded, "
          f"+{PER_FRAME} per frame; Agg, 9×4.8 in at 100 dpi; medians of {FRAMES} frames "
          "(8 for the slow modes); "
          f"load average {load:.1f} on {os.cpu_count()} CPUs")
    results = {name: measure(*flags) for name, flags in MODES.items()}
    anchor = results["full"][1]
    rows = []
    for name, (wall, cpu, poll, full, points) in results.items():
        rows.append([name, f"{cpu:.1f}", f"{poll:.1f}", f"{wall:.1f}", f"{anchor / cpu:.2f}×",
                     f"{1000 / cpu:.0f}", full, points])
    table(rows, ["mode", "CPU ms/frame", "of which poll", "wall ms", "speed-up vs full",
                 "max fps", "full redraws", "points/line"])
    best = results["blit+dec"][1]
    verdict = "within" if best <= BUDGET_MS else "OVER"
    print(f"blit+dec: {best:.1f} CPU ms/frame, {verdict} the {BUDGET_MS:.0f} ms budget "
          f"({anchor / best:.1f}× less than the full-redraw anchor)")
    print(f"one full-figure PNG encode (ipympl's per-frame cost before diffing): "
          f"{png_encode_ms():.1f} ms")


if __name__ == "__main__":
    main()
