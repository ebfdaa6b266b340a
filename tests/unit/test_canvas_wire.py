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

from timens_lab.views.canvas_wire import Block, pack, to_pixels, unpack
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
    xm, _, ym, _ = rows.columns_of(0, 10, mean=True)
    assert (xm[0, 0], ym[0, 0]) == (pytest.approx(0.06), 2.0)


def test_pixels_are_where_matplotlib_draws() -> None:
    """to_pixels on a symlog axes equals ax.transData, with y counted from the top."""
    fig = Figure(figsize=(4, 3), dpi=100)
    ax = fig.add_subplot()
    ax.set_yscale("symlog", linthresh=1.0, linscale=0.5)
    ax.set_xlim(0, 10)
    ax.set_ylim(-1e5, 1e5)
    x = np.array([[1.0, 2.0, np.nan]])
    y = np.array([[-3600.0, 0.5, np.nan]])
    (out,) = to_pixels([Block(0, 0, x, x, y, y)], ax.transData, fig.bbox.height)
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


def test_canvas_plot_sends_keyframe_then_only_changed_columns() -> None:
    """With a browser view, the first frame is background + keyframe; later frames are deltas
    whose columns are the new data's and whose y pixels are the configured offsets'."""
    source = SyntheticSource({"a": (5 * S, 5 * S), "b": (-2 * S, 3600 * S)}, samples=4000,
                             chunk=1000, rate_hz=1000.0, seed=2)
    plot = DivergencePlot(source, renderer="canvas")
    sent: list[tuple[dict, list[bytes]]] = []
    canvas = plot.fig.canvas
    canvas.send = lambda content, buffers=None: sent.append((content, buffers or []))
    canvas._on_msg(None, {"type": "hello", "id": "v"}, [])
    plot.frame()
    canvas._on_msg(None, {"type": "stats", "id": "v", "raf": 60.0, "painted": 30.0}, [])
    plot.settle(headroom=3.0)
    assert [m[0]["type"] for m in sent][:2] == ["bg", "key"]
    key = [m for m in sent if m[0]["type"] == "key"][-1]
    series = key[0]["series"]
    assert sum(1 for s in series if s["kind"] == 0) == 2 * 3   # offset lines: 2 ns × 3 clocks
    sent.clear()
    source.chunk = 50
    canvas._on_msg(None, {"type": "stats", "id": "v", "raf": 60.0, "painted": 30.0}, [])
    plot.frame()
    (content, (header, data)), = sent
    assert content["type"] == "delta" and content["status"].startswith("frame")
    entries = unpack(header, data)
    # 50 ms of new data: a few of the keyframe's ~170 columns per series
    assert len(entries) > 0 and all(len(v) <= 20 for _, _, v in entries)
    assert all(s["columns"] > 100 for s in series)
    # monotonic offset lines sit at the configured offsets' pixels (±1 px: 50 ns noise)
    h = plot.fig.bbox.height
    ax = plot.ax_offset[0]
    for cid, off in (("a", 5.0), ("b", -2.0)):
        sid = next(i for i, s in enumerate(series) if s["kind"] == 0 and s["axes"] == 0
                   and s["color"].startswith(_rgb(plot.colours[cid])))
        cols = [v for s, _, v in entries if s == sid]
        assert cols, f"no delta for {cid}'s offset line"
        want = h - ax.transData.transform((1.0, off))[1]
        got = np.concatenate(cols)[:, 2:]
        assert np.nanmax(np.abs(got - want)) < 1.0
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
