"""The divergence plot on the live canvas: which series it draws, keyframes and deltas.

Series per clock, in drawing order (the matplotlib artists' zorder): the grey band that spans
every namespace's residual ± error, the selected namespace's own band, the residual mean line
of each namespace, then (in the offset axes) each namespace's min/max offset line. Colours and
widths are those of the matplotlib artists (divergence_plot.py), so the live picture and the
final PNG agree. The envelopes come from the same :class:`DivergenceFeed` as the matplotlib
path; only the columns each frame changed are sent (``EnvelopeRows.dirty``), one block of
rows per clock and role, so a frame costs a few numpy calls per clock.
"""

from __future__ import annotations

import io
import os
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg

from .canvas_wire import BAND, LINE_MEAN, LINE_MINMAX, Block, css_colour, pack, to_pixels

if TYPE_CHECKING:  # pragma: no cover
    from .canvas import LiveCanvas

_BAND_RGBA = (0.55, 0.55, 0.55, 0.3)


def choose_renderer(renderer: str, fig: Any) -> str:
    """"canvas" or "matplotlib": a figure passed in is matplotlib's; "auto" picks the canvas in
    a Jupyter kernel with anywidget, unless TIMENS_LAB_RENDERER=matplotlib."""
    if fig is not None:
        return "matplotlib"
    if renderer == "auto":
        if os.environ.get("TIMENS_LAB_RENDERER", "") == "matplotlib":
            return "matplotlib"
        try:
            from .canvas import canvas_available
        except ImportError:  # no anywidget (not installed with the notebook extra)
            return "matplotlib"
        return "canvas" if canvas_available() else "matplotlib"
    return renderer


class CanvasFrames:
    """Keyframes and deltas of one DivergencePlot for its :class:`LiveCanvas`."""

    def __init__(self, plot: Any) -> None:   # a DivergencePlot (it imports us: no type import back)
        self.plot = plot
        self.canvas: LiveCanvas = plot.fig.canvas  # type: ignore[assignment]
        #: per clock, the series ids of the last keyframe: band, selected band (or None),
        #: first residual line, first offset line, and the number of namespaces (rows)
        self.layout: list[tuple[int, int | None, int, int, int]] = []
        self.size = (0.0, 0.0)
        self.background_stale = True
        self.missed = True          # frames went by unsent: the next message is a keyframe
        self.keyframes = 0
        self.deltas = 0

    # --- keyframes

    def render_background(self) -> None:
        """Agg renders everything but the animated data artists; send it as a PNG."""
        from PIL import Image

        canvas: Any = self.canvas
        FigureCanvasAgg.draw(canvas)
        buf = io.BytesIO()
        Image.fromarray(np.asarray(canvas.buffer_rgba())).save(buf, format="png",
                                                                compress_level=1)
        canvas.send_background(buf.getvalue())
        self.background_stale = False

    def keyframe(self, *, background: bool) -> None:
        """Layout, styles and every column; the background first if asked (or stale)."""
        fig = self.plot.fig
        self.size = (fig.bbox.width, fig.bbox.height)
        if not self.canvas.viewed:
            self.background_stale |= background
            self.missed = True
            return
        self.missed = False
        if background or self.background_stale or self.canvas.background is None:
            self.render_background()
        elif self.canvas.want_key:   # a new view: it has no background yet
            self.canvas.send_background(self.canvas.background)
        plot = self.plot
        w, h = self.size
        n = len(plot.clocks)
        axes = [*plot.ax_offset, *plot.ax_resid]
        rects = [[a.bbox.x0, h - a.bbox.y1, a.bbox.width, a.bbox.height] for a in axes]
        px = fig.dpi / 72.0
        styles: list[dict[str, Any]] = []
        self.layout, blocks = [], []

        def add(i: int, kind: int, role: str, cid: str | None, columns: int) -> int:
            styles.append({"axes": i if role == "offset" else n + i, "kind": kind,
                           "color": self._colour(role, cid), "width": self._width(role, cid) * px,
                           "columns": columns})
            return len(styles) - 1

        for i, clock in enumerate(plot.clocks):
            block = plot.feed._block(clock)
            if block is None:
                self.layout.append((-1, None, -1, -1, 0))
                continue
            line, resid, _rows = block
            cols = line.columns
            band = add(i, BAND, "band", None, cols)
            sel = None
            if plot.selected in _rows:
                sel = add(i, BAND, "selected", plot.selected, cols)
            first_resid = len(styles)
            for cid in plot.order:
                add(i, LINE_MEAN, "resid", cid, cols)
            first_offset = len(styles)
            for cid in plot.order:
                add(i, LINE_MINMAX, "offset", cid, cols)
            self.layout.append((band, sel, first_resid, first_offset, len(plot.order)))
            line.dirty()
            resid.dirty()
            blocks.append(self._blocks(i, 0, cols, 0, cols))
        header, data = pack(self._pixels(blocks))
        status = plot.status
        box = status.get_window_extent(self.canvas.get_renderer())
        meta = {"size": [w, h], "axes": rects, "series": styles,
                "status": {"text": status.get_text(), "x": box.x0, "y": h - box.y0,
                           "font": f"{status.get_fontsize() * px:.1f}px sans-serif"}}
        self.canvas.send_key(meta, header, data)
        self.keyframes += 1

    def final(self, png: bytes) -> None:
        """The finished picture (matplotlib's, with the data) replaces the live layers."""
        self.canvas.final_png = png
        if self.canvas.viewed:
            self.canvas.send_background(png)
            fig = self.plot.fig
            self.canvas.send_key({"size": [fig.bbox.width, fig.bbox.height], "axes": [],
                                  "series": [], "status": None}, b"", b"")

    def _colour(self, role: str, cid: str | None) -> str:
        if role == "band":
            return css_colour(_BAND_RGBA)
        rgba = self.plot.colours[cid]
        return css_colour(rgba, 0.35 if role == "selected" else None)

    def _width(self, role: str, cid: str | None) -> float:
        base = 2.6 if cid is not None and cid == self.plot.selected else 1.2
        return base + 0.4 if role == "offset" else base

    # --- deltas

    def delta(self) -> None:
        """The columns that changed since the last message, and the status line."""
        if not self.canvas.viewed:
            self.missed = True
            return
        if self.canvas.want_key or self.missed:   # a new view, or one back after a silence
            self.keyframe(background=False)
            return
        plot = self.plot
        blocks = []
        for i, clock in enumerate(plot.clocks):
            block = plot.feed._block(clock)
            if block is None or i >= len(self.layout) or self.layout[i][4] != len(block[2]):
                continue   # a namespace arrived: a keyframe is on its way
            line, resid = block[0].dirty(), block[1].dirty()
            if line is None and resid is None:
                continue
            blocks.append(self._blocks(i, *(line or (0, 0)), *(resid or (0, 0))))
        plot._update_status()
        header, data = pack(self._pixels(blocks))
        self.canvas.send_delta(plot.status.get_text(), header, data)
        self.deltas += 1

    # --- columns

    def _blocks(self, i: int, l0: int, l1: int, r0: int, r1: int) -> list[tuple[str, Block]]:
        """Clock ``i``'s blocks in data coordinates, tagged with their axes: offset columns
        ``[l0, l1)``, residual columns ``[r0, r1)`` (the bands and the mean lines)."""
        plot = self.plot
        line, resid, rows = plot.feed._block(plot.clocks[i])  # type: ignore[misc]
        band, sel, first_resid, first_offset, _n = self.layout[i]
        out: list[tuple[str, Block]] = []
        if r1 > r0:
            first, last, lo, hi = resid.union(r0, r1)
            filled = np.isfinite(lo)
            nan = np.nan
            out.append(("resid", Block(band, r0, *(np.where(filled, a, nan)[None, :]
                                                     for a in (first, last, lo, hi)))))
            if sel is not None and plot.selected in rows:
                r = rows[plot.selected]
                cols = resid.columns_of(r0, r1, mean=False)
                out.append(("resid", Block(sel, r0, *(a[r:r + 1] for a in cols))))
            out.append(("resid", Block(first_resid, r0, *resid.columns_of(r0, r1, mean=True))))
        if l1 > l0:
            out.append(("offset", Block(first_offset, l0, *line.columns_of(l0, l1, mean=False))))
        return out

    def _pixels(self, per_clock: list[list[tuple[str, Block]]]) -> list[Block]:
        """Data → CSS pixels, one transform call per axes."""
        plot = self.plot
        h = plot.fig.bbox.height
        out = []
        for tagged in per_clock:
            if not tagged:
                continue
            i = self._clock_of(tagged[0][1].series)
            for role, ax in (("offset", plot.ax_offset[i]), ("resid", plot.ax_resid[i])):
                out += to_pixels([b for r, b in tagged if r == role], ax.transData, h)
        return out

    def _clock_of(self, sid: int) -> int:
        for i, (band, _sel, _r, first_offset, n) in enumerate(self.layout):
            if band <= sid < first_offset + n:
                return i
        raise ValueError(f"series {sid} is in no clock's layout")
