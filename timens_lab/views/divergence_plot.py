"""Live divergence plot: each namespace's clocks against the host's, and how exact that is.

One column per clock. Top row: the measured offset (namespace clock − host clock, on a
symmetric-log axis so −5 s and +2 d fit together; ticks at the configured offsets) with the
configured offset as a dashed reference line. Bottom row: the residual, measured − configured
in nanoseconds, which is where the precision shows: per namespace the residual's mean per pixel
column, over a grey error band that spans, per column, every namespace's min(residual − err) to
max(residual + err) (``err`` is :func:`timens_lab.clocks.divergence.divergence`'s bound), so no sample
and no uncertainty is hidden by the averaging. The selected namespace (shared with the tree and
the panel) gets its own band in its colour and a thicker line. REALTIME is not offset by time
namespaces (time_namespaces(7)); its reference is 0 and its lines lie flat on it. Lines are
labelled with ``Channel.label``, the name the tree uses.

Drawing (matplotlib's blitting tutorial): the data artists are ``animated`` and blitted —
``restore_region`` + ``draw_artist`` + ``canvas.blit`` — over a background grabbed on every
``draw_event`` (so an ipympl resize or the toolbar's home button re-grabs it); _delivery.py
says when and how frames reach the browser. A full redraw happens only when limits, channels or
labels change, and for limits at most once a second. Data are reduced per pixel column
(decimate.py), incrementally while the limits hold (divergence_feed.py keeps the data). One
LineCollection or PolyCollection per axes and role, not one artist per line: a frame costs
about a dozen ``draw_artist`` calls whatever the number of namespaces.

Why per-column means for the residual lines and not min/max zigzags: the residual is sampling
jitter of a few hundred ns, so a min/max line fills its whole band, and 16 overlapping filled
bands are unreadable (and drew in 73 ms a frame on Agg, against 17 ms for this design, with
bench/bench_views.py); the min/max survive as the band. The offset lines are min/max decimated.

Two renderers, one data model (divergence_feed.py): in a Jupyter kernel with anywidget the live
frames go to a browser canvas (canvas.py, divergence_canvas.py): matplotlib draws only the
background (axes, ticks, legend, reference lines) when limits change, the new measurements
travel as binary points up to ``MESSAGE_HZ`` times a second within ``VIEW_BUDGET`` of one core,
and the browser plays them out at its own animation-frame rate. Elsewhere (scripts, tests, a
figure passed in, or ``TIMENS_LAB_RENDERER=matplotlib``) the blitted matplotlib path below. Either way
:meth:`DivergencePlot.finish` draws the final picture with matplotlib, which the saved notebook
keeps.

No kernel calls here: the plot reads a :class:`~timens_lab.source.Source`, live or replayed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullLocator

from ..source import Source
from ._delivery import FrameDelivery
from ._figure import close_figure, new_figure
from ._plot_limits import AxisLimits
from ._plot_static import _BAND, StaticLayer, seconds_label
from .decimate import band_polygon
from .divergence_canvas import choose_renderer
from .divergence_feed import NSEC, DivergenceFeed, Trace, configured_offset

__all__ = ["DivergencePlot", "configured_offset", "seconds_label"]

CLOCK_TITLES = {"monotonic": "MONOTONIC", "boottime": "BOOTTIME", "realtime": "REALTIME",
                "monotonic_raw": "MONOTONIC_RAW", "monotonic_coarse": "MONOTONIC_COARSE",
                "boottime_alarm": "BOOTTIME_ALARM"}
#: The status line ("frame N · t s") is re-rendered this often while blitting.
STATUS_HZ = 4.0
#: Font size of the offset tick labels (tick_params labelsize below), in points.
_TICK_PT = 7.0
#: The canvas renderer's kernel-side budget: at most this share of one core (issue 17: ≤ 10 %
#: for the whole kernel, so headroom for the comm's sending thread and the event loop).
VIEW_BUDGET = 0.06
#: The canvas renderer's message rate at most (the browser paints at its own rate).
MESSAGE_HZ = 20.0


class DivergencePlot(AxisLimits, StaticLayer):
    """Measured vs configured offsets, per namespace and clock, updated from a Source."""

    def __init__(self, source: Source,
                 clocks: Sequence[str] = ("monotonic", "boottime", "realtime"), *,
                 fig: Figure | None = None, figsize: tuple[float, float] = (9.0, 4.8),
                 window_s: float | None = None, blit: bool = True, decimate: bool = True,
                 history: int = 200_000, renderer: str = "auto") -> None:
        if renderer not in ("auto", "canvas", "matplotlib"):
            raise ValueError(f"renderer must be 'auto', 'canvas' or 'matplotlib', not {renderer!r}")
        self.renderer = choose_renderer(renderer, fig)
        self.source = source
        self.clocks = tuple(clocks)
        self.window_s = window_s
        self.blit = blit
        self.decimate = decimate
        if fig is not None:
            self.fig = fig
        elif self.renderer == "canvas":
            from .canvas import canvas_figure

            self.fig = canvas_figure(figsize)
        else:
            self.fig = new_figure(figsize)
        self._own_fig = fig is None
        self.frames = 0
        self.full_redraws = 0
        self.feed = DivergenceFeed(self.clocks, history=history)
        self.colours: dict[str, Any] = {}        # channel id → line colour
        self.selected: str | None = None         # channel id
        self.done = False
        self._bg: Any = None
        self._status_px: Any = None              # pixels of the last status rendering
        self._status_at = -np.inf
        self._dirty = True                       # a full redraw is due
        self._last_full = -np.inf
        self._shrink_since: dict[str, float] = {}
        self._restyle = False                    # canvas: a keyframe without a new background
        self._final = False
        self.cpu_s = 0.0                         # thread CPU spent in frame(), in total
        self.cpu_share = 0.0                     # of one core, over the last ~0.5 s
        self.keyframe_cost = 0.0                 # CPU s of a frame with a full redraw (avg)
        self._window_at = 0.0
        self._window_cpu = 0.0
        self._min_period = 1.0 / MESSAGE_HZ
        self._limits_at = 0.0
        self._reduced: dict[str, tuple[float, float, int, int]] = {}  # clock → columns reduced
        self._legend_key: Any = None
        self._period = 1.0 / MESSAGE_HZ          # the canvas renderer's current message period
        self._build_axes()
        self._cid = self.fig.canvas.mpl_connect("draw_event", self._on_draw)
        self.delivery = FrameDelivery(self.fig)
        self.canvas_frames: Any = None
        #: called on every full redraw once limits and labels are set, before anything is
        #: rendered: a caller that fits margins to the labels (the demo) does it there, so a
        #: limit change costs one render, not a render and a second one for the new margins
        self.relayout: Callable[[], None] | None = None
        if self.renderer == "canvas":
            from .divergence_canvas import CanvasFrames

            self.canvas_frames = CanvasFrames(self)
            canvas: Any = self.fig.canvas   # a LiveCanvas (canvas.py), not a plain Agg canvas
            canvas.before_print = self._set_artist_data  # savefig mid-run: data too

    # --- figure

    def _build_axes(self) -> None:
        n = len(self.clocks)
        gs = self.fig.add_gridspec(2, n, hspace=0.08, wspace=0.32,
                                   left=0.12, right=0.80, top=0.88, bottom=0.11)
        self.ax_offset = [self.fig.add_subplot(gs[0, i]) for i in range(n)]
        self.ax_resid = [self.fig.add_subplot(gs[1, i], sharex=self.ax_offset[i])
                         for i in range(n)]
        self.meas: list[LineCollection] = []
        self.refs: list[LineCollection] = []
        self.resid: list[LineCollection] = []
        self.bands: list[PolyCollection] = []
        for i, clock in enumerate(self.clocks):
            top, bottom = self.ax_offset[i], self.ax_resid[i]
            top.set_title(CLOCK_TITLES.get(clock, clock.upper()), fontsize=9)
            top.set_yscale("symlog", linthresh=1.0, linscale=0.5)
            top.yaxis.set_major_formatter(FuncFormatter(seconds_label))
            top.yaxis.set_minor_locator(NullLocator())
            top.tick_params(labelbottom=False, labelsize=_TICK_PT)
            bottom.tick_params(labelsize=7)
            bottom.set_xlabel("time (s)", fontsize=8)
            bottom.axhline(0.0, color="0.3", lw=0.8, ls="--", zorder=1)
            for ax in (top, bottom):
                ax.grid(True, lw=0.4, alpha=0.5)
            animated = self.blit or self.renderer == "canvas"
            self.refs.append(top.add_collection(
                LineCollection([], linestyles="--", linewidths=1.0, alpha=0.9, zorder=1)))
            self.meas.append(top.add_collection(
                LineCollection([], linewidths=1.6, animated=animated, zorder=2)))
            self.bands.append(bottom.add_collection(
                PolyCollection([], linewidths=0, animated=animated, zorder=1)))
            self.resid.append(bottom.add_collection(
                LineCollection([], linewidths=1.0, animated=animated, zorder=2)))
            top.set_xlim(0.0, 10.0)
            top.set_ylim(-1.5, 1.5)
            bottom.set_ylim(-1000.0, 1000.0)
        self.ax_offset[0].set_ylabel("offset vs host", fontsize=8)
        self.ax_resid[0].set_ylabel("measured − configured (ns)", fontsize=8)
        # In an axes, not the figure: savefig draws animated axes artists but skips figure ones.
        self.status = self.ax_offset[0].text(0.0, 1.22, "", transform=self.ax_offset[0].transAxes,
                                             fontsize=8, va="bottom", ha="left",
                                             animated=animated)
        # The right-hand column under the legend is free: a replay's banner (several long
        # lines) goes there, wrapped to the column, so it never covers a title or a tick label.
        self.banner = self.fig.text(0.815, 0.11, "", fontsize=7, va="bottom", ha="left",
                                    color="#a04000", linespacing=1.25)
        self.legend: Any = None

    def _data_artists(self) -> list[Any]:
        return [*self.bands, *self.resid, *self.meas]

    def _animated(self) -> list[Any]:
        return [*self._data_artists(), self.status]

    def _on_draw(self, _event: object) -> None:
        """Any full draw (ours, a resize, the toolbar): re-grab the background, redraw on top.
        Not while saving: savefig draws everything, which is no background."""
        canvas: Any = self.fig.canvas
        if not self.blit or canvas.is_saving() or self.renderer == "canvas":
            return
        self._bg = canvas.copy_from_bbox(self.fig.bbox)
        self._status_px = None
        for artist in self._animated():
            self.fig.draw_artist(artist)

    # --- selection

    def select(self, key: str | None) -> None:
        """Highlight a namespace: a channel id, or a tree key ``time:<inode>`` (None: none)."""
        chosen = None
        for cid in self.order:
            ch = self.feed.channels[cid]
            if key in (cid, f"time:{ch.ns_inode}"):
                chosen = cid
        self._restyle |= chosen != self.selected
        self.selected = chosen

    # --- data

    @property
    def traces(self) -> dict[tuple[str, str], Trace]:
        return self.feed.traces

    @property
    def order(self) -> list[str]:
        """Namespace channel ids, in legend order."""
        return self.feed.order

    def poll(self) -> list[str]:
        """Drain the source; returns the ids of namespaces that appeared."""
        added = self.feed.poll(self.source)
        if added:
            import matplotlib as mpl

            # The rc colour cycle while it lasts (matplotlib's default is tab10; the demo sets
            # Okabe–Ito), then tab20 for everyone (16 namespaces stay apart).
            cycle = [to_rgba(c) for c in mpl.rcParams["axes.prop_cycle"].by_key().get("color", [])]
            if len(self.order) <= len(cycle):
                self.colours = {cid: cycle[i] for i, cid in enumerate(self.order)}
            else:
                cmap = mpl.colormaps["tab20"]
                self.colours = {cid: cmap(i) for i, cid in enumerate(self.order)}
            self._dirty = True  # new legend entries and reference lines
        return added

    # --- per frame

    def frame(self) -> None:
        """One live frame: poll the source, then draw."""
        start, wall, full = time.thread_time(), time.perf_counter(), self.full_redraws
        self.poll()
        self.draw_frame()
        spent = time.thread_time() - start
        self.cpu_s += spent
        if self.full_redraws != full:   # the cost of a keyframe: what limit changes cost
            self.keyframe_cost = spent if not self.keyframe_cost else (
                0.7 * self.keyframe_cost + 0.3 * spent)
        self._steer(spent, wall, keyframe=self.full_redraws != full)

    def _steer(self, spent: float, wall: float, *, keyframe: bool) -> None:
        """Twice a second, scale the canvas renderer's frame period by its measured share of a
        core over VIEW_BUDGET. A frame's cost is a fixed part plus the data since the last
        one, so the share falls as the period grows and this settles where it meets the
        budget (or at MESSAGE_HZ). Full redraws (the limits moved: rare, and
        ~0.1–0.4 s of text layout in matplotlib) count in :attr:`cpu_s` but do not steer:
        one would stall the pace for seconds."""
        if not self._window_at:
            self._window_at = wall
        if not keyframe:
            self._window_cpu += spent
        elapsed = wall - self._window_at
        if elapsed < 0.5:
            return
        self.cpu_share = self._window_cpu / elapsed
        ratio = min(max(self.cpu_share / VIEW_BUDGET, 0.5), 2.0)
        self._period = min(max(self._period * ratio, self._min_period), 1.0)
        self._window_at, self._window_cpu = wall, 0.0

    def pace(self) -> float | None:
        """Seconds until this view wants its next frame, or None: at the LiveView's fps.

        The canvas renderer sends up to MESSAGE_HZ messages a second, fewer while the view's
        share of a core exceeds VIEW_BUDGET (:meth:`_steer`); the browser paints at its own
        animation-frame rate whatever this rate is (it plays the points of each message out
        over the interval: canvas.js), so a faster rate only shortens the ~1.5 intervals the
        picture runs behind the data. Without a browser view, None.
        """
        if self.canvas_frames is None or self.done:
            return None
        canvas: Any = self.fig.canvas   # a LiveCanvas: it knows whether a browser shows it
        if not canvas.viewed:
            return None
        self._min_period = 1.0 / MESSAGE_HZ
        self._period = max(self._period, self._min_period)
        return self._period

    def draw_frame(self) -> None:
        """Blit, or redraw in full when limits or channels changed (or blitting is off)."""
        self.frames += 1
        self._update_status()
        self.done = self.done or bool(getattr(self.source, "done", False))
        if self.canvas_frames is not None and not self._final:
            frames = self.canvas_frames
            if self._dirty or self._limits_changed() or frames.size != (
                    self.fig.bbox.width, self.fig.bbox.height):
                self.full_draw()
            elif self._restyle:
                self._restyle = False
                frames.keyframe(background=False)
            else:
                frames.delta()
            return
        if self._dirty or self._limits_changed() or not self.blit or self._bg is None:
            self.full_draw()
        else:
            self._set_artist_data()
            self._blit()

    def settle(self, headroom: float = 1.0) -> None:
        """Limits fitted to the data now (x with ``headroom``× room to grow), full redraw."""
        self._limits_changed(force=True)
        if headroom != 1.0:
            x0, x1 = self.ax_offset[0].get_xlim()
            for ax in self.ax_offset:
                ax.set_xlim(x0, x0 + (x1 - x0) * headroom)
        self.full_draw()

    def finish(self) -> None:
        """The final picture as a normal (not animated) figure, limits fitted, fully drawn."""
        self.poll()
        self._update_status()
        for artist in self._animated():
            artist.set_animated(False)
        self.blit = False
        self._final = True
        self.settle()

    def full_draw(self) -> None:
        self._dirty = False
        self._last_full = time.perf_counter()
        self.full_redraws += 1
        self._rebuild_envelopes()
        if self.canvas_frames is None or self._final:  # the canvas draws the data itself
            self._set_artist_data()
        self._set_static()
        if self.relayout is not None:
            self.relayout()
        if self.canvas_frames is not None:
            self._restyle = False
            if self._final:
                from ._figure import png_bytes

                self.canvas_frames.final(png_bytes(self.fig))
            else:
                self.canvas_frames.keyframe(background=True)
            return
        self.delivery.render_full()  # draw_event → background grabbed, animated artists on top
        self.delivery.push()

    def _blit(self) -> None:
        canvas: Any = self.fig.canvas
        canvas.restore_region(self._bg)
        for artist in self._data_artists():
            self.fig.draw_artist(artist)
        self._draw_status(canvas)
        self.delivery.push()

    def _draw_status(self, canvas: Any) -> None:
        """Re-render the status line at most STATUS_HZ times a second; in between, paste the
        pixels of its last rendering (text layout costs ~1.5 ms a frame, a paste ~0.05 ms)."""
        now = time.perf_counter()
        if self._status_px is not None and now - self._status_at < 1.0 / STATUS_HZ:
            canvas.restore_region(self._status_px)
            return
        self._update_status()
        self.fig.draw_artist(self.status)
        self._status_at = now
        self._status_px = canvas.copy_from_bbox(self.status.get_window_extent().padded(2))

    def close(self) -> None:
        self.fig.canvas.mpl_disconnect(self._cid)
        if self._own_fig:
            close_figure(self.fig)

    # --- artists

    def _rebuild_envelopes(self) -> None:
        """Limits changed: re-reduce each trace's history into the new pixel columns.

        Only when the columns changed (x limits, width, namespaces): envelopes hold data
        coordinates, so new y limits need none, and a re-reduction costs ~20 ns per sample
        of history (seconds for 16 namespaces × 3 clocks × 200k samples).
        """
        for i, clock in enumerate(self.clocks):
            x0, x1 = self.ax_offset[i].get_xlim()
            cols = max(int(self.ax_offset[i].bbox.width), 16)
            key = (x0, x1, cols, len(self.order))
            if self._reduced.get(clock) != key or self.feed._block(clock) is None:
                self._reduced[clock] = key
                self.feed.reduce(clock, x0, x1, cols)

    def _set_artist_data(self) -> None:
        for i, clock in enumerate(self.clocks):
            traces = [self.traces[(cid, clock)] for cid in self.order]
            segs, rsegs = [], []
            for trace in traces:
                if self.decimate and trace.line is not None and trace.resid is not None:
                    segs.append(np.column_stack(trace.line.line()))
                    rsegs.append(np.column_stack(trace.resid.mean_line()))
                else:
                    t, res, _ = trace.residual()
                    segs.append(np.column_stack((t, trace.offset.view / NSEC)))
                    rsegs.append(np.column_stack((t, res)))
            colours = [self.colours[t.channel.id] for t in traces]
            widths = [2.6 if t.channel.id == self.selected else 1.2 for t in traces]
            self.meas[i].set_segments(segs)
            self.meas[i].set_color(colours)
            self.meas[i].set_linewidth([w + 0.4 for w in widths])
            self.resid[i].set_segments(rsegs)
            self.resid[i].set_color(colours)
            self.resid[i].set_linewidth(widths)
            polys, faces = self._bands(traces)
            self.bands[i].set_verts(polys)
            self.bands[i].set_facecolor(faces)

    def _bands(self, traces: list[Trace]) -> tuple[list[np.ndarray], list[Any]]:
        """The union band of every namespace, plus the selected namespace's own band."""
        envs = [t.resid for t in traces if t.resid is not None]
        if not envs:
            return [], []
        first = np.fmin.reduce([e.first for e in envs])
        last = np.fmax.reduce([e.last for e in envs])
        lo = np.minimum.reduce([e.lo for e in envs])
        hi = np.maximum.reduce([e.hi for e in envs])
        polys, faces = [band_polygon(first, last, lo, hi)], [_BAND]
        for t in traces:
            if t.channel.id == self.selected and t.resid is not None:
                polys.append(t.resid.band())
                faces.append((*self.colours[t.channel.id][:3], 0.35))
        return polys, faces

    def _update_status(self) -> None:
        """Short on purpose: text layout costs ≈1.5 ms short, ≈3.5 ms long."""
        span = self.feed.t_max() or 0.0
        drops = sum(s.drops for s in self.source.stats().values())
        text = f"frame {self.frames} · {span:.1f} s"
        self.status.set_text(text + (f" · {drops} dropped" if drops else ""))
