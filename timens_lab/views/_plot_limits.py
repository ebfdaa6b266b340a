"""When the divergence plot's axes change limits: grow at once, shrink after a while, rarely.

A mixin of :class:`~timens_lab.views.divergence_plot.DivergencePlot` (its state lives there):
a change of limits means a full redraw (and for the canvas renderer a new background PNG), so
limits grow at once when data leave the axes, shrink only after SHRINK_AFTER_S of being much
too loose, and change at most once per MIN_REDRAW_INTERVAL_S unless forced.
"""

from __future__ import annotations

import time
from typing import Any

#: A full redraw for limits that merely could be tighter waits this long (growing ones do not).
SHRINK_AFTER_S = 5.0
#: Full redraws for limit changes at most this often (new channels are drawn at once).
MIN_REDRAW_INTERVAL_S = 1.0
#: The canvas renderer looks at the limits this often (the matplotlib path: every frame).
LIMIT_CHECKS_HZ = 4.0
#: The canvas renderer's keyframes (a full matplotlib render of the background, 0.1–0.5 s of
#: text layout on a busy 2-core machine) may take this share of a core: the interval between
#: limit changes stretches to cost / share, up to MAX_REDRAW_INTERVAL_S.
KEYFRAME_BUDGET = 0.03
MAX_REDRAW_INTERVAL_S = 4.0


class AxisLimits:
    """Limit logic over the plot's ``feed``, ``ax_offset``/``ax_resid`` and ``window_s``."""

    feed: Any
    clocks: tuple[str, ...]
    ax_offset: list[Any]
    ax_resid: list[Any]
    window_s: float | None
    canvas_frames: Any
    _last_full: float
    _limits_at: float
    _shrink_since: dict[str, float]
    keyframe_cost: float

    def _redraw_interval(self) -> float:
        """Seconds between limit changes: MIN_REDRAW_INTERVAL_S, longer for costly keyframes."""
        if self.canvas_frames is None:
            return MIN_REDRAW_INTERVAL_S
        return min(max(MIN_REDRAW_INTERVAL_S, self.keyframe_cost / KEYFRAME_BUDGET),
                   MAX_REDRAW_INTERVAL_S)

    def _limits_changed(self, *, force: bool = False) -> bool:
        """New limits when data leave the axes (or could be much tighter for a while).

        Growing is immediate, shrinking waits SHRINK_AFTER_S; neither more than once per
        MIN_REDRAW_INTERVAL_S (see _redraw_interval) unless forced. Returns True when a limit
        changed.
        """
        now = time.perf_counter()
        if not force and self.canvas_frames is not None:
            # The canvas renderer sends up to 20 messages a second: looking at the extents
            # (~0.7 ms) a few times a second is enough (data outside the axes are clipped).
            if now - self._limits_at < 1.0 / LIMIT_CHECKS_HZ:
                return False
            self._limits_at = now
        if not force and now - self._last_full < self._redraw_interval():
            # Except for the time axis running out: past its right edge nothing new is drawn
            # (the columns end there), so the picture would stand still for up to
            # MAX_REDRAW_INTERVAL_S. It grows by doubling or scrolls by a quarter window, so
            # this costs O(log t) keyframes, or one per window / 4.
            return self._x_limits(force)
        changed = self._x_limits(force)
        for i, clock in enumerate(self.clocks):
            changed |= self._y_limits(self.ax_offset[i], f"o{clock}", self.feed.offset_extent(clock),
                                      now, force, symlog=True)
            changed |= self._y_limits(self.ax_resid[i], f"r{clock}", self.feed.resid_extent(clock),
                                      now, force, symlog=False)
        return changed

    def _x_limits(self, force: bool) -> bool:
        t_max = self.feed.t_max()
        if t_max is None:
            return False
        x0, x1 = self.ax_offset[0].get_xlim()
        if force:
            new = (0.0 if self.window_s is None else max(0.0, t_max - self.window_s),
                   max(t_max, 1e-3) * 1.02)
        elif t_max <= x1:
            return False
        elif self.window_s is None:  # grow: O(log t) full redraws over a run
            # by half; the canvas renderer doubles (its keyframes cost a matplotlib render)
            grow = 1.5 if self.canvas_frames is None else 2.0
            new = (0.0, max(t_max * grow, 10.0))
        else:  # scroll in steps of a quarter window, not every frame
            new = (max(0.0, t_max + self.window_s / 4 - self.window_s), t_max + self.window_s / 4)
        if new == (x0, x1):
            return False
        for ax in self.ax_offset:
            ax.set_xlim(*new)
        return True

    def _y_limits(self, ax: Any, key: str, extent: tuple[float, float] | None, now: float,
                  force: bool, *, symlog: bool) -> bool:
        if extent is None:
            return False
        lo, hi = extent
        y0, y1 = ax.get_ylim()
        if symlog:
            want = (_pad_symlog(lo, lower=True), _pad_symlog(hi, lower=False))
        else:
            span = max(hi - lo, 10.0)   # ≥ 10 ns, so a flat line is not a hair-thin axis
            want = (lo - 0.25 * span, hi + 0.25 * span)
        outside = lo < y0 or hi > y1
        loose = (y1 - y0) > 4 * (want[1] - want[0])
        if not (force or outside):
            if not loose:
                self._shrink_since.pop(key, None)
                return False
            if now - self._shrink_since.setdefault(key, now) < SHRINK_AFTER_S:
                return False
        self._shrink_since.pop(key, None)
        if (y0, y1) == want:
            return False
        ax.set_ylim(*want)
        return True



def _pad_symlog(v: float, *, lower: bool) -> float:
    """A limit beyond ``v`` on a symlog(linthresh=1 s) axis: 3× past it, at least ±1.5 s."""
    if lower:
        return min(v * 3 if v < -1 else v - 1.5, -1.5) if v < 1 else v / 3
    return max(v * 3 if v > 1 else v + 1.5, 1.5) if v > -1 else v / 3
