"""The canvas renderer's data path without a browser: decimated columns, pixels, binary buffers.

Independent references: matplotlib's own transform of the plotted points (where Agg draws
them), :class:`~timens_lab.views.decimate.Envelope` folded point by point, and numpy's
reading of the packed bytes.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from matplotlib.figure import Figure

from timens_lab.views.canvas_wire import Block, PixelMap, pack, pack_points, to_pixels, unpack, unpack_points
from timens_lab.views.decimate import Envelope, EnvelopeRows
from timens_lab.views.divergence_plot import DivergencePlot
from timens_lab.views.synthetic import SyntheticSource

S = 1_000_000_000


def test_pack_round_trips_blocks() -> None:
    """Each row of a block becomes one (series, c0, n) triple with its columns, in order."""
    rng = np.random.default_rng(3)
    a = [rng.normal(size=(3, 5)) for _ in range(4)]
    b = [rng.normal(size=(1, 2)) for _ in range(4)]
    header, data = pack([Block(7, 10, *a), Block(2, 0, *b)])
    got = unpack(header, data)
    assert [(s, c0, len(v)) for s, c0, v in got] == [(7, 10, 5), (8, 10, 5), (9, 10, 5),
                                                     (2, 0, 2)]
    for r in range(3):
        assert np.allclose(got[r][2], np.stack([x[r] for x in a], axis=-1), atol=1e-6)
    assert np.allclose(got[3][2], np.stack([x[0] for x in b], axis=-1))
    assert len(header) == 4 * 3 * 4 and len(data) == 4 * 4 * (15 + 2)


def test_unpack_rejects_a_header_that_does_not_match() -> None:
    header, data = pack([Block(0, 0, *(np.zeros((1, 3)) for _ in range(4)))])
    with pytest.raises(ValueError, match="header counts"):
        unpack(header, data + data)


def test_rows_fold_like_separate_envelopes_and_report_dirty_columns() -> None:
    """Folding many rows in one call equals folding each row's points into its own Envelope;
    the dirty range is exactly the columns that received points."""
    rng = np.random.default_rng(5)
    rows = EnvelopeRows(0.0, 10.0, 50, 3)
    singles = [Envelope(0.0, 10.0, 50) for _ in range(3)]
    x = rng.uniform(2.0, 4.0, 600)
    y = rng.normal(size=600)
    row = rng.integers(0, 3, 600)
    rows.add(row, x, y - 1, y + 1, mid=y)
    for r in range(3):
        m = row == r
        singles[r].add(x[m], y[m] - 1, y[m] + 1, mid=y[m])
    for r in range(3):
        for got, want in zip(rows.envelopes[r].line(), singles[r].line(), strict=True):
            assert np.array_equal(got, want)
        for got, want in zip(rows.envelopes[r].mean_line(), singles[r].mean_line(), strict=True):
            assert np.allclose(got, want)
    cols = np.unique((x * 5).astype(int))
    assert rows.dirty() == (cols.min(), cols.max() + 1)
    assert rows.dirty() is None   # taken
    rows.add(np.array([1]), np.array([9.99]), np.array([0.0]), np.array([0.0]))
    assert rows.dirty() == (49, 50)


def test_columns_of_match_envelope_lines() -> None:
    """A block's (xa, xb, ya, yb) columns are Envelope.line()'s points, NaN where empty."""
    rows = EnvelopeRows(0.0, 1.0, 10, 2)
    y = np.array([1.0, 3.0, 2.0])
    rows.add(np.array([0, 0, 1]), np.array([0.05, 0.07, 0.55]), y, y, mid=y)
    xa, xb, ya, yb = rows.columns_of(0, 10, mean=False)
    assert (xa[0, 0], xb[0, 0], ya[0, 0], yb[0, 0]) == (0.05, 0.07, 1.0, 3.0)
    assert np.isnan(xa[0, 1:]).all() and np.isnan(ya[1, :5]).all()
    assert (xa[1, 5], ya[1, 5]) == (0.55, 2.0)
    first, last, mean, count = rows.columns_of(0, 10, mean=True)
    assert (first[0, 0], last[0, 0], mean[0, 0], count[0, 0]) == (0.05, 0.07, 2.0, 2)
    xs, ys = rows.envelopes[0].mean_line()     # drawn at the centre of [first, last]
    assert (xs[0], ys[0]) == (pytest.approx((first[0, 0] + last[0, 0]) / 2), mean[0, 0])
    assert np.isnan(count[0, 1:]).all() and count[1, 5] == 1


def test_pixels_are_where_matplotlib_draws() -> None:
    """to_pixels on a symlog axes (PixelMap: the scale, then plain arithmetic) equals
    ax.transData, with y counted from the top."""
    fig = Figure(figsize=(4, 3), dpi=100)
    ax = fig.add_subplot()
    ax.set_yscale("symlog", linthresh=1.0, linscale=0.5)
    ax.set_xlim(0, 10)
    ax.set_ylim(-1e5, 1e5)
    x = np.array([[1.0, 2.0, np.nan]])
    y = np.array([[-3600.0, 0.5, np.nan]])
    (out,) = to_pixels([Block(0, 0, x, x, y, y)], PixelMap.of(ax, fig.bbox.height))
    want = ax.transData.transform(np.column_stack((x[0, :2], y[0, :2])))
    assert np.allclose(out.xa[0, :2], want[:, 0])
    assert np.allclose(out.ya[0, :2], fig.bbox.height - want[:, 1])
    assert np.isnan(out.xa[0, 2]) and np.isnan(out.ya[0, 2])


def test_no_browser_view_no_messages() -> None:
    """Without a browser view (headless runs), the canvas plot sends nothing and stays paced
    by the LiveView (pace() is None)."""
    source = SyntheticSource({"a": (5 * S, 5 * S)}, samples=2000, chunk=500, seed=1)
    plot = DivergencePlot(source, renderer="canvas")
    sent: list[object] = []
    plot.fig.canvas.send = lambda content, buffers=None: sent.append(content)
    for _ in range(3):
        plot.frame()
    assert sent == [] and plot.pace() is None
    plot.close()


def test_pack_points_round_trips() -> None:
    rng = np.random.default_rng(8)
    a = tuple(rng.normal(size=4) for _ in range(5))
    b = tuple(rng.normal(size=2) for _ in range(7))
    header, data = pack_points([(0, 0, a), (2, 1, b)])
    (c0, r0, fa), (c1, r1, fb) = unpack_points(header, data)
    assert (c0, r0, fa.shape, c1, r1, fb.shape) == (0, 0, (5, 4), 2, 1, (7, 2))
    assert np.allclose(fa, np.stack(a), atol=1e-6) and np.allclose(fb, np.stack(b), atol=1e-6)
    assert pack_points([]) == (b"", b"")


def _keyframe_columns(sent: list[tuple[dict, list[bytes]]]) -> tuple[dict, dict[int, np.ndarray]]:
    """The last keyframe's meta and every series' columns (columns × 4, NaN where empty)."""
    meta, (header, data) = [m for m in sent if m[0]["type"] == "key"][-1]
    cols = {i: np.full((s["columns"], 4), np.nan) for i, s in enumerate(meta["series"])}
    for sid, c0, v in unpack(header, data):
        cols[sid][c0:c0 + len(v)] = v
    return meta, cols


def _fold(cols: dict[int, np.ndarray], meta: dict, points: list[tuple[int, int, np.ndarray]]
          ) -> None:
    """What static/canvas.js does with a delta's points, point by point (its fold()), on the
    keyframe's columns: first/last x, the pixel of the smallest value (largest y) and of the
    largest, and a mean line's running mean over its count."""
    kinds = {i: s["kind"] for i, s in enumerate(meta["series"])}

    def fold(sid: int, col: int, x: float, lo: float, hi: float, mid: float | None) -> None:
        c = cols[sid][col]
        if kinds[sid] == 1:     # LINE_MEAN: (first, last, mean, count)
            if np.isnan(c[0]):
                c[:] = (x, x, mid, 1)
            else:
                c[:] = (min(c[0], x), max(c[1], x), (c[2] * c[3] + mid) / (c[3] + 1), c[3] + 1)
        elif np.isnan(c[0]):
            c[:] = (x, x, lo, hi)
        else:
            c[:] = (min(c[0], x), max(c[1], x), max(c[2], lo), min(c[3], hi))

    for clock, role, f in points:
        g = meta["groups"][clock]
        for p in f.T:
            row, col = int(p[0]), int(p[1])
            if role == 0:
                fold(g["offset"] + row, col, p[2], p[3], p[3], None)
            else:
                fold(g["resid"] + row, col, p[2], p[5], p[5], p[5])
                fold(g["band"], col, p[2], p[3], p[4], None)
                if row == g["selRow"]:
                    fold(g["sel"], col, p[2], p[3], p[4], None)


def test_canvas_plot_sends_keyframe_then_new_points() -> None:
    """With a browser view, the first frame is background + keyframe; later frames are deltas
    of the new measurements as points: at the configured offsets' pixels, in time order, and
    folded into the keyframe's columns as the browser folds them they give the columns the
    kernel's own envelopes give (the next keyframe), so live frames and keyframes agree."""
    source = SyntheticSource({"a": (5 * S, 5 * S), "b": (-2 * S, 3600 * S)}, samples=4000,
                             chunk=1000, rate_hz=1000.0, seed=2)
    plot = DivergencePlot(source, renderer="canvas")
    sent: list[tuple[dict, list[bytes]]] = []
    canvas = plot.fig.canvas
    canvas.send = lambda content, buffers=None: sent.append((content, buffers or []))
    canvas._on_msg(None, {"type": "hello", "id": "v"}, [])
    plot.frame()
    plot.select("b")           # its own band too
    canvas._on_msg(None, {"type": "stats", "id": "v", "raf": 60.0, "painted": 30.0}, [])
    plot.settle(headroom=3.0)
    assert [m[0]["type"] for m in sent][:2] == ["bg", "key"]
    meta, before = _keyframe_columns(sent)
    assert sum(1 for s in meta["series"] if s["kind"] == 0) == 2 * 3   # offset lines: 2 ns × 3
    assert meta["groups"][0]["selRow"] == 1 and meta["groups"][0]["sel"] >= 0
    sent.clear()
    source.chunk = 50
    canvas._on_msg(None, {"type": "stats", "id": "v", "raf": 60.0, "painted": 30.0}, [])
    plot.frame()
    (content, (header, data)), = sent
    assert content["type"] == "delta" and content["status"].startswith("frame")
    assert content["t"] == pytest.approx(plot.feed.t_max())
    points = unpack_points(header, data)
    assert sorted((c, r) for c, r, _ in points) == [(i, r) for i in range(3) for r in (0, 1)]
    for _, role, f in points:
        assert f.shape[0] == (5 if role == 0 else 7)
        assert 80 <= f.shape[1] <= 100            # 50 ms of 2 namespaces at 1 kHz
        assert np.all(np.diff(f[-1]) >= 0)        # in time order (the browser plays them out)
    # monotonic offset points sit at the configured offsets' pixels (±1 px: 50 ns noise)
    h = plot.fig.bbox.height
    ax = plot.ax_offset[0]
    offset0 = next(f for c, r, f in points if (c, r) == (0, 0))
    for row, (cid, off) in enumerate((("a", 5.0), ("b", -2.0))):
        want = h - ax.transData.transform((1.0, off))[1]
        ys = offset0[3][offset0[0] == row]
        assert len(ys) and np.abs(ys - want).max() < 1.0, cid
    _fold(before, meta, points)
    sent.clear()
    plot.canvas_frames.keyframe(background=False)
    _, after = _keyframe_columns(sent)
    for sid in before:
        assert np.allclose(before[sid], after[sid], rtol=1e-5, atol=0.02, equal_nan=True), sid
    plot.close()


def _rgb(rgba: tuple[float, ...]) -> str:
    r, g, b = (round(255 * v) for v in rgba[:3])
    return f"rgba({r},{g},{b},"


def test_savefig_mid_run_shows_the_data() -> None:
    """The live frames leave matplotlib's data artists empty; a PNG taken mid-run (a snapshot,
    an export) still has the lines: the canvas fills them before printing."""
    import io

    from PIL import Image

    from timens_lab.views._figure import png_bytes

    source = SyntheticSource({"a": (5 * S, 5 * S)}, samples=3000, chunk=1000, seed=4)
    plot = DivergencePlot(source, renderer="canvas")
    plot.frame()
    plot.settle(headroom=2.0)
    plot.frame()
    png = np.asarray(Image.open(io.BytesIO(png_bytes(plot.fig))).convert("RGB")).astype(int)
    rgb = np.array([round(255 * c) for c in plot.colours["a"][:3]])
    assert (np.abs(png - rgb).max(axis=-1) < 30).sum() > 100, "no line of a's colour in the PNG"
    plot.close()


def test_time_axis_grows_at_once_however_costly_keyframes_are(monkeypatch: pytest.MonkeyPatch
                                                               ) -> None:
    """Past the time axis's right edge the canvas has nothing new to draw (its columns end
    there), so the axis grows at the next limit check, even while costly keyframes hold other
    limit changes back for up to MAX_REDRAW_INTERVAL_S."""
    from timens_lab.views import _plot_limits

    monkeypatch.setattr(_plot_limits, "LIMIT_CHECKS_HZ", 1e9)   # look at every frame
    source = SyntheticSource({"a": (5 * S, 5 * S)}, samples=30_000, chunk=500, seed=1)
    plot = DivergencePlot(source, renderer="canvas")
    plot.fig.canvas.send = lambda content, buffers=None: None
    plot.fig.canvas._on_msg(None, {"type": "hello", "id": "v"}, [])
    plot.frame()
    plot.keyframe_cost = 1.0   # a 1 s render: other limit changes wait MAX_REDRAW_INTERVAL_S
    assert plot._redraw_interval() == _plot_limits.MAX_REDRAW_INTERVAL_S
    x1 = plot.ax_offset[0].get_xlim()[1]
    while (plot.feed.t_max() or 0.0) <= x1:
        assert not source.done
        full = plot.full_redraws
        plot.frame()
    assert plot.full_redraws == full + 1
    assert plot.feed.t_max() <= plot.ax_offset[0].get_xlim()[1]
    plot.close()
