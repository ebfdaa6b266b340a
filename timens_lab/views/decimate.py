"""Decimation to what the pixels can show: min and max of y per pixel column.

A line of 10,000 points drawn into 250 pixel columns shows, per column, a vertical stroke from
its minimum to its maximum; drawing exactly those two points per column gives the same pixels
with ≤ 2 points per column (measured: blitting 16 × 1k points costs 3.8 ms
against 14.1 ms for 16 × 10k). Outliers survive, unlike every-n-th-point subsampling.

:class:`Envelope` keeps the per-column extremes *incrementally*: while the x limits stay put
(between full redraws) a frame only folds in its new points, O(new + columns), instead of
re-reducing the whole history. :class:`EnvelopeRows` keeps the envelopes of many lines over
the same columns in one 2-D block, so one frame folds every namespace's new points in one call
(per-line calls cost ~0.25 ms each in numpy overhead: 12 ms a frame for 16 namespaces × 3
clocks). Each envelope remembers which columns changed since :meth:`Envelope.take_dirty`: what
the canvas renderer sends to the browser (canvas.py).
"""

from __future__ import annotations

import numpy as np


def minmax_columns(x: np.ndarray, y: np.ndarray, x0: float, x1: float,
                   columns: int) -> tuple[np.ndarray, np.ndarray]:
    """The polyline of (x, y) reduced to ≤ 2 points per column of ``[x0, x1)``, in x order.

    Points outside ``[x0, x1]`` are dropped (they are outside the axes). Returns (xs, ys).
    """
    env = Envelope(x0, x1, columns)
    env.add(x, y, y)
    return env.line()


class Envelope:
    """Per-column running min of ``lo`` and max of ``hi`` over ``columns`` columns of [x0, x1]."""

    def __init__(self, x0: float, x1: float, columns: int) -> None:
        self.reset(x0, x1, columns)

    def reset(self, x0: float, x1: float, columns: int) -> None:
        _check(x0, x1, columns)
        self._bind(float(x0), float(x1), int(columns), *_blank(1, int(columns)), 0)

    def _bind(self, x0: float, x1: float, columns: int, lo: np.ndarray, hi: np.ndarray,
              first: np.ndarray, last: np.ndarray, total: np.ndarray, count: np.ndarray,
              dirty: np.ndarray, row: int) -> None:
        """Use row ``row`` of 2-D arrays (shared with an :class:`EnvelopeRows`) as this
        envelope's storage: views, so folding into the block updates this envelope too."""
        self.x0, self.x1, self.columns = x0, x1, columns
        self.lo, self.hi = lo[row], hi[row]
        self.first = first[row]   # x of the first and last point per column,
        self.last = last[row]     # so a lone point is drawn where it was
        self.sum = total[row]     # of ``mid``, for the per-column mean
        self.count = count[row]
        self._dirty = dirty[row]  # [lowest, highest + 1] column changed since take_dirty()

    def take_dirty(self) -> tuple[int, int] | None:
        """The columns ``[lo, hi)`` changed since the last call (None: none); resets."""
        lo, hi = int(self._dirty[0]), int(self._dirty[1])
        self._dirty[:] = (self.columns, 0)
        return (lo, hi) if hi > lo else None

    def add(self, x: np.ndarray, lo: np.ndarray, hi: np.ndarray,
            mid: np.ndarray | None = None) -> None:
        """Fold in points (x ascending or not); NaN and out-of-range points are ignored.

        ``lo``/``hi`` feed the per-column extremes; ``mid`` (optional) the per-column mean.
        """
        x = np.asarray(x, dtype=float)
        lo = np.asarray(lo, dtype=float)
        hi = np.asarray(hi, dtype=float)
        ok = (x >= self.x0) & (x <= self.x1) & np.isfinite(lo) & np.isfinite(hi)
        if mid is not None:
            mid = np.asarray(mid, dtype=float)
            ok &= np.isfinite(mid)
        if not ok.all():
            x, lo, hi = x[ok], lo[ok], hi[ok]
            mid = None if mid is None else mid[ok]
        if not len(x):
            return
        col = column_of(x, self.x0, self.x1, self.columns)
        np.minimum.at(self.lo, col, lo)
        np.maximum.at(self.hi, col, hi)
        np.fmin.at(self.first, col, x)               # fmin/fmax: NaN (empty column) loses
        np.fmax.at(self.last, col, x)
        if mid is not None:
            np.add.at(self.sum, col, mid)
            np.add.at(self.count, col, 1)
        self._dirty[0] = min(self._dirty[0], int(col.min()))
        self._dirty[1] = max(self._dirty[1], int(col.max()) + 1)

    def filled(self) -> np.ndarray:
        return np.isfinite(self.lo)

    def line(self) -> tuple[np.ndarray, np.ndarray]:
        """≤ 2 points per filled column: (first x, min) and (last x, max)."""
        f = self.filled()
        xs = np.column_stack((self.first[f], self.last[f])).ravel()
        ys = np.column_stack((self.lo[f], self.hi[f])).ravel()
        return xs, ys

    def mean_line(self) -> tuple[np.ndarray, np.ndarray]:
        """One point per column that got ``mid`` values: (centre of its x span, mean)."""
        f = self.count > 0
        return (self.first[f] + self.last[f]) / 2, self.sum[f] / self.count[f]

    def band(self) -> np.ndarray:
        """A closed polygon (N, 2) around the filled columns: upper edge out, lower edge back."""
        return band_polygon(self.first, self.last, self.lo, self.hi)

    def extent(self) -> tuple[float, float] | None:
        """(min lo, max hi) over the filled columns, None when empty."""
        f = self.filled()
        if not f.any():
            return None
        return float(self.lo[f].min()), float(self.hi[f].max())


class EnvelopeRows:
    """Envelopes of ``rows`` lines over the same columns, folded together in one call."""

    def __init__(self, x0: float, x1: float, columns: int, rows: int) -> None:
        _check(x0, x1, columns)
        self.x0, self.x1, self.columns, self.rows = float(x0), float(x1), int(columns), rows
        arrays = _blank(rows, self.columns)
        self._arrays = arrays
        self.envelopes = []
        for r in range(rows):
            env = Envelope.__new__(Envelope)
            env._bind(self.x0, self.x1, self.columns, *arrays, r)
            self.envelopes.append(env)

    def add(self, row: np.ndarray, x: np.ndarray, lo: np.ndarray, hi: np.ndarray,
            mid: np.ndarray | None = None) -> None:
        """Fold points into the envelope of their ``row`` (an int array like ``x``); the same
        rules as :meth:`Envelope.add`."""
        x = np.asarray(x, dtype=float)
        lo = np.asarray(lo, dtype=float)
        hi = np.asarray(hi, dtype=float)
        row = np.asarray(row, dtype=np.intp)
        ok = (x >= self.x0) & (x <= self.x1) & np.isfinite(lo) & np.isfinite(hi)
        if mid is not None:
            mid = np.asarray(mid, dtype=float)
            ok &= np.isfinite(mid)
        if not ok.all():
            x, lo, hi, row = x[ok], lo[ok], hi[ok], row[ok]
            mid = None if mid is None else mid[ok]
        if not len(x):
            return
        col = column_of(x, self.x0, self.x1, self.columns)
        flat = row * self.columns + col
        a_lo, a_hi, a_first, a_last, a_sum, a_count, dirty = self._arrays
        np.minimum.at(a_lo.reshape(-1), flat, lo)
        np.maximum.at(a_hi.reshape(-1), flat, hi)
        np.fmin.at(a_first.reshape(-1), flat, x)
        np.fmax.at(a_last.reshape(-1), flat, x)
        if mid is not None:
            np.add.at(a_sum.reshape(-1), flat, mid)
            np.add.at(a_count.reshape(-1), flat, 1)
        np.minimum.at(dirty[:, 0], row, col)
        np.maximum.at(dirty[:, 1], row, col + 1)


    def dirty(self) -> tuple[int, int] | None:
        """Columns ``[lo, hi)`` any row changed since its envelope was last read; resets."""
        d = self._arrays[6]
        lo, hi = (int(d[:, 0].min()), int(d[:, 1].max())) if len(d) else (0, 0)
        d[:, 0], d[:, 1] = self.columns, 0
        return (lo, hi) if hi > lo else None

    def columns_of(self, c0: int, c1: int, *, mean: bool) -> tuple[np.ndarray, ...]:
        """Every row's columns ``[c0, c1)`` as (xa, xb, ya, yb), rows × columns, NaN where
        empty: (first x, last x, min, max), or with ``mean`` (first x, last x, mean, count of
        points: what :meth:`Envelope.mean_line` draws at the centre, and what folding more
        points into the mean needs)."""
        a_lo, a_hi, a_first, a_last, a_sum, a_count = (a[:, c0:c1] for a in self._arrays[:6])
        if mean:
            some = a_count > 0
            with np.errstate(invalid="ignore", divide="ignore"):
                y = a_sum / a_count                      # 0/0: NaN, an empty column
            return (np.where(some, a_first, np.nan), np.where(some, a_last, np.nan), y,
                    np.where(some, a_count, np.nan))
        filled = np.isfinite(a_lo)
        return (np.where(filled, a_first, np.nan), np.where(filled, a_last, np.nan),
                np.where(filled, a_lo, np.nan), np.where(filled, a_hi, np.nan))

    def union(self, c0: int, c1: int) -> tuple[np.ndarray, ...]:
        """Columns ``[c0, c1)`` of the union of every row: (first, last, lo, hi), the band
        that spans every line (lo = +inf where no row has a point)."""
        a_lo, a_hi, a_first, a_last = self._arrays[:4]
        s = slice(c0, c1)
        return (np.fmin.reduce(a_first[:, s], axis=0, initial=np.nan),
                np.fmax.reduce(a_last[:, s], axis=0, initial=np.nan),
                a_lo[:, s].min(axis=0, initial=np.inf), a_hi[:, s].max(axis=0, initial=-np.inf))

    def extent(self) -> tuple[float, float] | None:
        """(min lo, max hi) over every row's filled columns, None when all are empty."""
        lo, hi = self._arrays[0], self._arrays[1]
        filled = np.isfinite(lo)
        if not filled.any():
            return None
        return float(lo[filled].min()), float(hi[filled].max())


def column_of(x: np.ndarray, x0: float, x1: float, columns: int) -> np.ndarray:
    """The pixel column of each x in [x0, x1] (x == x1 lands in the last column)."""
    col = ((x - x0) * (columns / (x1 - x0))).astype(np.intp)
    np.minimum(col, columns - 1, out=col)
    return col


def _check(x0: float, x1: float, columns: int) -> None:
    if not x1 > x0 or columns < 1:
        raise ValueError(f"bad envelope: [{x0}, {x1}] with {columns} columns")


def _blank(rows: int, columns: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                            np.ndarray, np.ndarray, np.ndarray]:
    """Empty storage: lo, hi, first, last, sum, count (rows × columns) and dirty (rows × 2)."""
    dirty = np.empty((rows, 2), dtype=np.int64)
    dirty[:, 0], dirty[:, 1] = columns, 0
    return (np.full((rows, columns), np.inf), np.full((rows, columns), -np.inf),
            np.full((rows, columns), np.nan), np.full((rows, columns), np.nan),
            np.zeros((rows, columns)), np.zeros((rows, columns), dtype=np.int64), dirty)


def band_polygon(first: np.ndarray, last: np.ndarray, lo: np.ndarray,
                 hi: np.ndarray) -> np.ndarray:
    """Polygon around per-column [lo, hi] spans (empty columns: lo = +inf are skipped)."""
    f = np.isfinite(lo) & np.isfinite(hi)
    if not f.any():
        return np.empty((0, 2))
    xs = np.column_stack((first[f], last[f])).ravel()
    upper = np.repeat(hi[f], 2)
    lower = np.repeat(lo[f], 2)
    return np.column_stack((np.concatenate((xs, xs[::-1])),
                            np.concatenate((upper, lower[::-1]))))
