"""The tutorial's static figures: namespace trees, a migrated workload, the cost of clock reads.

Each draws with matplotlib off screen and leaves a PNG in the notebook (so a saved or rendered
notebook keeps its pictures); the live views are timens_lab.views'.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._display import show_png as _show_png
from ._exp import Cost
from ._obs import Segment


def show_tree(tree: Any, title: str, names: dict[str, str] | None = None,
              figsize: tuple[float, float] = (7.5, 3.2)) -> None:
    """Draw a namespace tree (TreePlot) and leave it in the notebook as a PNG; ``names`` (node
    key -> text, e.g. a Survey's) label the namespaces as the notebook calls them."""
    from ..views._figure import png_bytes
    from ..views.tree_plot import TreePlot

    plot = TreePlot(title=title, figsize=figsize, names=names)
    try:
        plot.update(tree)
        _show_png(png_bytes(plot.fig))
    finally:
        plot.close()


def plot_migration(segments: Sequence[Segment], checkpoint_ns: int | None = None) -> None:
    """MONOTONIC as the workload saw it, phase by phase, against wall-clock time."""
    from ..views._figure import close_figure, new_figure, png_bytes

    fig = new_figure((9.0, 3.6))
    try:
        ax = fig.add_subplot(1, 2, 1)
        zoom = fig.add_subplot(1, 2, 2)
        t0 = min(int(s.rt_ns[0]) for s in segments)
        ref = checkpoint_ns if checkpoint_ns is not None else 0
        for seg in segments:
            x = (seg.rt_ns - t0) / 1e9
            ax.plot(x, seg.monotonic_ns / 86400e9, lw=2, label=seg.label)
            zoom.plot(x, (seg.monotonic_ns - ref) / 1e9, lw=2, label=seg.label)
        ax.set_xlabel("wall-clock time (s)")
        ax.set_ylabel("MONOTONIC seen by the workload (days)")
        ax.set_title("every phase", fontsize=10, loc="left")
        ax.legend(fontsize=7)
        if checkpoint_ns is not None:
            zoom.set_ylim(-3, 4)
            zoom.axhline(0, color="0.4", lw=0.8, ls="--")
        zoom.set_title("around the checkpoint", fontsize=10, loc="left")
        zoom.set_xlabel("wall-clock time (s)")
        zoom.set_ylabel("MONOTONIC − checkpoint value (s)")
        for a in (ax, zoom):
            a.grid(True, lw=0.4, alpha=0.5)
        fig.tight_layout()
        _show_png(png_bytes(fig))
    finally:
        close_figure(fig)


def plot_cost(result: Cost) -> None:
    """ns per clock read, best round, per clock and place: vDSO bars (syscall in the text)."""
    import numpy as np

    from ..views._figure import close_figure, new_figure, png_bytes
    from ._exp import COST_CLOCKS

    fig = new_figure((9.0, 3.2))
    try:
        ax = fig.add_subplot(1, 1, 1)
        x = np.arange(len(COST_CLOCKS))
        width = 0.8 / len(result.places)
        for i, place in enumerate(result.places):
            ax.bar(x + i * width, [result.best(place, c) for c in COST_CLOCKS], width,
                   label=place)
        ax.set_xticks(x + 0.4 - width / 2, [c.upper() for c in COST_CLOCKS], fontsize=8,
                      rotation=15)
        ax.set_ylabel("ns per clock_gettime() (vDSO)")
        # Head room for the legend in one row above the bars, so it covers none of them.
        top = max(result.best(p, c) for p in result.places for c in COST_CLOCKS)
        ax.set_ylim(0, top * 1.3)
        ax.legend(fontsize=8, ncols=len(result.places), loc="upper center", frameon=False)
        ax.grid(True, axis="y", lw=0.4, alpha=0.5)
        fig.tight_layout()
        _show_png(png_bytes(fig))
    finally:
        close_figure(fig)
