"""What the live canvas receives: per-column quadruples in CSS pixels, packed as binary buffers.

A *series* is one drawn thing (an offset line, a residual mean line, an error band) over the
pixel columns of its axes, the columns of :class:`~timens_lab.views.decimate.Envelope`. Each
column is four float32 ``(xa, xb, ya, yb)`` in CSS pixels (origin top left, as the browser's
canvas), NaN when the column is empty:

* ``LINE_MINMAX``: the polyline goes through ``(xa, ya)`` then ``(xb, yb)``: (first x, min) and
  (last x, max), exactly :meth:`Envelope.line`;
* ``LINE_MEAN``: through ``(xa, ya)`` only (:meth:`Envelope.mean_line`);
* ``BAND``: the polygon of :func:`~timens_lab.views.decimate.band_polygon`: upper edge at
  ``yb`` from ``xa`` to ``xb``, lower edge at ``ya`` back.

A message carries any number of column ranges: an int32 header of ``(series, first column,
count)`` triples and one float32 array with ``4 × count`` values per triple, in order. The same
format carries a whole keyframe (every column) and a delta (the columns that changed). Kernel
side, ranges travel in :class:`Block` objects: the same columns of consecutive series (one per
namespace, the rows of an :class:`~timens_lab.views.decimate.EnvelopeRows`), so a frame costs a
few numpy calls per clock whatever the number of namespaces. numpy only, no widgets: tested on
its own (tests/unit/test_canvas_wire.py).
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


def to_pixels(blocks: Sequence[Block], transform: Any, height: float) -> list[Block]:
    """Data → CSS pixels with one call of a matplotlib transform (``ax.transData``) for all
    of ``blocks`` (which must share the axes); y is flipped (matplotlib counts from the
    bottom, the browser from the top)."""
    if not blocks:
        return []
    x = np.concatenate([np.concatenate((b.xa.ravel(), b.xb.ravel())) for b in blocks])
    y = np.concatenate([np.concatenate((b.ya.ravel(), b.yb.ravel())) for b in blocks])
    with np.errstate(invalid="ignore"):
        px = transform.transform(np.column_stack((x, y)))
    out, at = [], 0
    for b in blocks:
        n = b.xa.size
        xs, ys = px[at:at + 2 * n, 0], height - px[at:at + 2 * n, 1]
        shape = b.xa.shape
        out.append(Block(b.series, b.c0, xs[:n].reshape(shape), xs[n:].reshape(shape),
                         ys[:n].reshape(shape), ys[n:].reshape(shape)))
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
