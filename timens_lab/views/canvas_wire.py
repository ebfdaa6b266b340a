"""What the live canvas receives: columns and points in CSS pixels, packed as binary buffers.

A *series* is one drawn thing (an offset line, a residual mean line, an error band) over the
pixel columns of its axes, the columns of :class:`~timens_lab.views.decimate.Envelope`. A
keyframe sends every column as four float32 ``(xa, xb, ya, yb)`` in CSS pixels (origin top
left, as the browser's canvas), NaN when the column is empty:

* ``LINE_MINMAX``: the polyline goes through ``(xa, ya)`` then ``(xb, yb)``: (first x, min) and
  (last x, max), exactly :meth:`Envelope.line`;
* ``LINE_MEAN``: ``(first x, last x, mean, count)``; the line goes through the centre of
  ``[xa, xb]`` at the mean (:meth:`Envelope.mean_line`), and the count lets the browser go on
  averaging;
* ``BAND``: the polygon of :func:`~timens_lab.views.decimate.band_polygon`: upper edge at
  ``yb`` from ``xa`` to ``xb``, lower edge at ``ya`` back.

Columns travel as an int32 header of ``(series, first column, count)`` triples and one float32
array with ``4 × count`` values per triple, in order (:func:`pack`); kernel side, in
:class:`Block` objects: the same columns of consecutive series (one per namespace, the rows of an
:class:`~timens_lab.views.decimate.EnvelopeRows`), so a keyframe costs a few numpy calls per
clock whatever the number of namespaces. Deltas carry the new measurements as points
(:func:`pack_points`), which the browser folds into its columns. numpy only, no widgets: tested
on its own (tests/unit/test_canvas_wire.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

LINE_MINMAX, LINE_MEAN, BAND = 0, 1, 2


class Block(NamedTuple):
    """Columns ``c0 ..`` of series ``series, series + 1, ...`` (one per row of the 2-D arrays,
    rows × columns), NaN where empty; data coordinates or pixels."""

    series: int
    c0: int
    xa: np.ndarray
    xb: np.ndarray
    ya: np.ndarray
    yb: np.ndarray


class PixelMap(NamedTuple):
    """Data → CSS pixels of one axes as plain arithmetic: ``ax.transData`` is the axes' scales
    (identity, or symlog's own transform) followed by an axis-aligned affine map, so a frame
    needs no matplotlib transform calls (~90 µs each), only the scale's numpy and two
    multiply-adds. Valid until the axes' limits or size change (each change is a keyframe)."""

    sx: float
    tx: float
    sy: float
    ty: float
    height: float
    xscale: Any     # the scale's transform, None when linear
    yscale: Any

    @classmethod
    def of(cls, ax: Any, height: float) -> PixelMap:
        m = (ax.transLimits + ax.transAxes).get_matrix()
        xs, ys = ax.xaxis.get_transform(), ax.yaxis.get_transform()
        return cls(float(m[0, 0]), float(m[0, 2]), float(m[1, 1]), float(m[1, 2]), height,
                   None if xs.is_affine else xs, None if ys.is_affine else ys)

    def x(self, values: np.ndarray) -> np.ndarray:
        if self.xscale is not None:
            values = self.xscale.transform_non_affine(values.reshape(-1, 1)).reshape(values.shape)
        return self.sx * values + self.tx

    def y(self, values: np.ndarray) -> np.ndarray:
        """From the top, as the browser counts."""
        if self.yscale is not None:
            values = self.yscale.transform_non_affine(values.reshape(-1, 1)).reshape(values.shape)
        return (self.height - self.ty) - self.sy * values


def to_pixels(blocks: Sequence[Block], pixels: PixelMap) -> list[Block]:
    """Data → CSS pixels for ``blocks`` (which must share the axes of ``pixels``); y is
    flipped (matplotlib counts from the bottom, the browser from the top)."""
    if not blocks:
        return []
    x = np.concatenate([np.concatenate((b.xa.ravel(), b.xb.ravel())) for b in blocks])
    y = np.concatenate([np.concatenate((b.ya.ravel(), b.yb.ravel())) for b in blocks])
    with np.errstate(invalid="ignore"):
        xs, ys = pixels.x(x), pixels.y(y)
    out, at = [], 0
    for b in blocks:
        n = b.xa.size
        shape = b.xa.shape
        out.append(Block(b.series, b.c0, xs[at:at + n].reshape(shape),
                         xs[at + n:at + 2 * n].reshape(shape), ys[at:at + n].reshape(shape),
                         ys[at + n:at + 2 * n].reshape(shape)))
        at += 2 * n
    return out


def pack(blocks: Sequence[Block]) -> tuple[bytes, bytes]:
    """(header, data) buffers for ``blocks``: one triple per row."""
    header, data = [], []
    for b in blocks:
        rows, n = b.xa.shape
        h = np.empty((rows, 3), dtype="<i4")
        h[:, 0] = b.series + np.arange(rows)
        h[:, 1], h[:, 2] = b.c0, n
        header.append(h.ravel())
        data.append(np.stack((b.xa, b.xb, b.ya, b.yb), axis=-1).astype("<f4").ravel())
    if not blocks:
        return b"", b""
    return np.concatenate(header).tobytes(), np.concatenate(data).tobytes()


def pack_points(blocks: Sequence[tuple[int, int, tuple[np.ndarray, ...]]]
                ) -> tuple[bytes, bytes]:
    """(header, data) buffers for blocks of points: ``(clock, role, columns)`` each, where
    ``columns`` are equally long arrays (row, pixel column, x px, y values..., t s); the header
    holds ``(clock, role, points, fields)`` per block, the data each block's columns one after
    the other (structure of arrays), float32."""
    if not blocks:
        return b"", b""
    header = np.array([(i, role, len(cols[0]), len(cols)) for i, role, cols in blocks],
                      dtype="<i4")
    data = np.concatenate([c for _, _, cols in blocks for c in cols]).astype("<f4")
    return header.tobytes(), data.tobytes()


def unpack_points(header: bytes, data: bytes) -> list[tuple[int, int, np.ndarray]]:
    """The inverse of :func:`pack_points`: ``(clock, role, fields × points float32)`` each."""
    h = np.frombuffer(header, dtype="<i4").reshape(-1, 4)
    d = np.frombuffer(data, dtype="<f4")
    out, at = [], 0
    for clock, role, n, fields in h:
        size = int(n) * int(fields)
        out.append((int(clock), int(role), d[at:at + size].reshape(int(fields), int(n))))
        at += size
    if at != len(d):
        raise ValueError(f"header counts {at} values, data holds {len(d)}")
    return out


def unpack(header: bytes, data: bytes) -> list[tuple[int, int, np.ndarray]]:
    """The inverse of :func:`pack`: ``(series, first column, (n, 4) float32 array)`` each."""
    h = np.frombuffer(header, dtype="<i4").reshape(-1, 3)
    d = np.frombuffer(data, dtype="<f4").reshape(-1, 4)
    out, at = [], 0
    for series, c0, n in h:
        out.append((int(series), int(c0), d[at:at + n]))
        at += int(n)
    if at != len(d):
        raise ValueError(f"header counts {at} columns, data holds {len(d)}")
    return out


def css_colour(rgba: Sequence[float], alpha: float | None = None) -> str:
    """A matplotlib RGBA tuple (0–1) as a CSS ``rgba()`` string."""
    r, g, b = (round(255 * float(v)) for v in rgba[:3])
    a = float(rgba[3]) if alpha is None and len(rgba) > 3 else (1.0 if alpha is None else alpha)
    return f"rgba({r},{g},{b},{a:.3f})"
