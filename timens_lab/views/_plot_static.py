"""What the divergence plot draws once per full redraw: reference lines, offset ticks, legend, banner.

A mixin of :class:`~timens_lab.views.divergence_plot.DivergencePlot` (its state lives there).
These live in the blit background (matplotlib path) or the background PNG (canvas path), so
they cost nothing per frame; only limit, channel or label changes redraw them.
"""

from __future__ import annotations

import textwrap
from typing import Any

from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator

from ..offsets import NSEC, format_duration

#: More distinct configured offsets than this and the offset axis gets round-number ticks.
MAX_OFFSET_TICKS = 7
_NICE_S = (1.0, 60.0, 3600.0, 86400.0, 365 * 86400.0)
#: The grey of the error band (all namespaces), in the plot and its legend.
_BAND = (0.55, 0.55, 0.55, 0.3)


def wrap_banner(text: str, fig: Figure, column: float = 0.18, fontsize: float = 7.0) -> str:
    """``text`` wrapped to the width of the figure's right-hand column (``column`` of its width):
    about 0.6 em per character at ``fontsize`` points, each line of ``text`` wrapped alone."""
    width_pt = fig.get_figwidth() * 72 * column
    chars = max(12, int(width_pt / (fontsize * 0.6)))
    return "\n".join(textwrap.fill(line, chars) for line in text.splitlines() if line.strip())


def seconds_label(v: float, _pos: object = None) -> str:
    """Offset tick labels: exact ("+1h", "−5s", "+2d") for whole nanoseconds, else 3 digits."""
    ns = v * NSEC
    if abs(ns) < 2**53 and abs(ns - round(ns)) < 1e-3 and abs(v) >= 1:
        return format_duration(round(ns))
    if v == 0:
        return "0"
    sign = "+" if v > 0 else "\u2212"
    a = abs(v)
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("min", 60.0), ("s", 1.0),
                       ("ms", 1e-3), ("µs", 1e-6)):
        if a >= size:
            return f"{sign}{a / size:.3g}{unit}"
    return f"{sign}{a * 1e9:.3g}ns"


class StaticLayer:
    """Reference lines, ticks, legend and banner over the plot's feed, traces and axes."""

    clocks: Any
    ax_offset: Any
    traces: Any
    order: Any
    refs: Any
    feed: Any
    colours: Any
    banner: Any
    source: Any
    fig: Any
    legend: Any
    _legend_key: Any

    def _set_static(self) -> None:
        """Reference lines, ticks, legend and banner: they live in the blit background."""
        for i, clock in enumerate(self.clocks):
            x0, x1 = self.ax_offset[i].get_xlim()
            segs, colours, values = [], [], {0.0}
            for cid in self.order:
                trace = self.traces[(cid, clock)]
                if trace.configured_ns is not None:
                    y = trace.configured_ns / NSEC
                    segs.append([(x0, y), (x1, y)])
                    colours.append(self.colours[cid])
                    values.add(y)
            self.refs[i].set_segments(segs)
            self.refs[i].set_color(colours)
            self.ax_offset[i].yaxis.set_major_locator(FixedLocator(self._ticks(i, values)))
        labels = [self.feed.channels[cid].label for cid in self.order]
        key = (tuple(labels), tuple(tuple(self.colours[cid]) for cid in self.order))
        self.banner.set_text(wrap_banner(self.source.banner or "", self.fig))
        if key == self._legend_key:  # a legend costs ~80 ms to build: only when it changed
            return
        self._legend_key = key
        if self.legend is not None:
            self.legend.remove()
        handles: list[Any] = [Line2D([], [], color=self.colours[cid], lw=1.6)
                              for cid in self.order]
        handles += [Line2D([], [], color="0.3", ls="--", lw=1.0),
                    PolyCollection([], facecolors=[_BAND])]
        labels += ["configured", "error band (all)"]
        self.legend = self.fig.legend(handles, labels, loc="upper left",
                                      bbox_to_anchor=(0.81, 0.88), fontsize=7, frameon=False,
                                      ncols=1 if len(handles) <= 20 else 2)

    def _ticks(self, i: int, values: set[float]) -> list[float]:
        """Ticks at the configured offsets when few, else at ±1 s, 1 min, 1 h, 1 d, 1 y;
        never two closer than a label's height (on the symlog axis +90ms sits on 0, +5d on
        5d − 2 s): 0 first, then the largest offsets (the legend still names every one)."""
        ax = self.ax_offset[i]
        y0, y1 = ax.get_ylim()
        if len(values) > MAX_OFFSET_TICKS:
            values = {0.0, *_NICE_S, *(-v for v in _NICE_S)}
        ticks = [v for v in values if y0 <= v <= y1]
        need = ax.yaxis.get_ticklabels()[0].get_fontsize() if ax.yaxis.get_ticklabels() else 7
        need_px = 1.3 * need * self.fig.dpi / 72
        ys = dict(zip(ticks, ax.transData.transform([(0.0, v) for v in ticks])[:, 1]
                      if ticks else [], strict=True))
        kept: list[float] = []
        for v in sorted(ticks, key=lambda v: (v != 0, -abs(v))):
            if all(abs(ys[v] - ys[k]) >= need_px for k in kept):
                kept.append(v)
        return sorted(kept)
