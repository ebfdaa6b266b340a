"""The divergence plot on the live canvas: which series it draws, keyframes and deltas.

Series per clock, in drawing order (the matplotlib artists' zorder): the grey band that spans
every namespace's residual ± error, the selected namespace's own band, the residual mean line
of each namespace, then (in the offset axes) each namespace's min/max offset line. Colours and
widths are those of the matplotlib artists (divergence_plot.py), so the live picture and the
final PNG agree.

A *keyframe* carries every column of every series, reduced by the same
:class:`DivergenceFeed` as the matplotlib path (its envelopes), with the layout. A *delta*
carries the offsets measured since the last message as points (already in CSS pixels, each with
its pixel column and its time), a block per clock and role (canvas_wire.py ``pack_points``):
the browser folds them into its columns exactly as the feed's envelopes fold them (first/last x,
min/max y, running mean), and plays them out at the pace they were measured, a message interval
behind, so every animation frame paints new samples whatever the kernel's message rate. A
delta costs the kernel a few numpy calls per clock, whatever the number of namespaces or
columns.
"""

from __future__ import annotations

import io
import os
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg

from ..offsets import NSEC
from .canvas_wire import (
    BAND,
    LINE_MEAN,
    LINE_MINMAX,
    Block,
    PixelMap,
    css_colour,
    pack,
    pack_points,
    to_pixels,
)
from .decimate import column_of

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
        #: per axes (offset axes, then residual axes), data → pixels as of the last keyframe
        self.maps: list[PixelMap] = []
        plot.feed.keep_fresh = True

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
        self._forget_fresh()   # the keyframe's columns hold them
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
        self.maps = [PixelMap.of(a, h) for a in axes]
        groups: list[dict[str, Any] | None] = []
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
                groups.append(None)
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
            groups.append({"band": band, "sel": -1 if sel is None else sel,
                           "selRow": _rows.get(plot.selected, -1) if sel is not None else -1,
                           "resid": first_resid, "offset": first_offset,
                           "rows": len(plot.order), "columns": cols})
            line.dirty()
            resid.dirty()
            blocks.append(self._blocks(i, 0, cols, 0, cols))
        header, data = pack(self._pixels(blocks))
        status = plot.status
        box = status.get_window_extent(self.canvas.get_renderer())
        meta = {"size": [w, h], "axes": rects, "series": styles, "groups": groups,
                "t": plot.feed.t_max() or 0.0,
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
        """The offsets measured since the last message, as points, and the status line."""
        if not self.canvas.viewed:
            self._forget_fresh()
            self.missed = True
            return
        if self.canvas.want_key or self.missed:   # a new view, or one back after a silence
            self.keyframe(background=False)
            return
        plot = self.plot
        blocks: list[tuple[int, int, tuple[np.ndarray, ...]]] = []
        for i, clock in enumerate(plot.clocks):
            fresh = plot.feed.take_fresh(clock)
            block = plot.feed._block(clock)
            if fresh is None or block is None or i >= len(self.layout) or \
                    self.layout[i][4] != len(block[2]):
                continue   # nothing new, or a namespace arrived: a keyframe is on its way
            blocks += self._points(i, block[0], fresh)
        plot._update_status()
        header, data = pack_points(blocks)
        self.canvas.send_delta(plot.status.get_text(), plot.feed.t_max() or 0.0, header, data)
        self.deltas += 1

    def _points(self, i: int, line: Any, fresh: tuple[np.ndarray, ...]
                ) -> list[tuple[int, int, tuple[np.ndarray, ...]]]:
        """Clock ``i``'s new offsets as the points of its two blocks: (row, column, x, y, t) in
        the offset axes and (row, column, x, y of residual − err, of + err, of the residual, t)
        in the residual axes, in time order; points outside the columns are left out, as the
        envelopes leave them out (decimate.py)."""
        rows, t, off, err = fresh
        inside = (t >= line.x0) & (t <= line.x1) & (rows < line.rows)
        if not inside.all():
            rows, t, off, err = rows[inside], t[inside], off[inside], err[inside]
        if not len(t):
            return []
        order = np.argsort(t, kind="stable")
        rows, t, off, err = rows[order], t[order], off[order], err[order]
        col = column_of(t, line.x0, line.x1, line.columns)
        res = self.plot.feed.residual(self.plot.clocks[i], rows, off)
        top, bottom = self.maps[i], self.maps[len(self.plot.clocks) + i]
        with np.errstate(invalid="ignore"):
            y_off = top.y(off / NSEC)
            y_res = bottom.y(np.concatenate((res - err, res + err, res)))
        n = len(t)
        return [(i, 0, (rows, col, top.x(t), y_off, t)),
                (i, 1, (rows, col, bottom.x(t), y_res[:n], y_res[n:2 * n], y_res[2 * n:], t))]

    def _forget_fresh(self) -> None:
        for clock in self.plot.clocks:
            self.plot.feed.take_fresh(clock)

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
            out.append(("mean", Block(first_resid, r0, *resid.columns_of(r0, r1, mean=True))))
        if l1 > l0:
            out.append(("offset", Block(first_offset, l0, *line.columns_of(l0, l1, mean=False))))
        return out

    def _pixels(self, per_clock: list[list[tuple[str, Block]]]) -> list[Block]:
        """Data → CSS pixels. A mean line's columns leave as (first x, last x, mean, count):
        the browser keeps folding new points into that mean (canvas.js)."""
        n = len(self.plot.clocks)
        out = []
        for tagged in per_clock:
            if not tagged:
                continue
            i = self._clock_of(tagged[0][1].series)
            out += to_pixels([b for r, b in tagged if r == "offset"], self.maps[i])
            out += to_pixels([b for r, b in tagged if r == "resid"], self.maps[n + i])
            for role, b in tagged:
                if role == "mean":
                    (px,) = to_pixels([b._replace(yb=b.ya)], self.maps[n + i])
                    out.append(px._replace(yb=b.yb))
        return out

    def _clock_of(self, sid: int) -> int:
        for i, (band, _sel, _r, first_offset, n) in enumerate(self.layout):
            if band <= sid < first_offset + n:
                return i
        raise ValueError(f"series {sid} is in no clock's layout")
