"""Divergence plot and live loop on Agg, fed by a synthetic Source with known offsets.

The synthetic records are generated from configured offsets (timens_lab/views/synthetic.py);
what the plot draws is checked against those offsets, not against divergence() itself.
"""

from __future__ import annotations

import asyncio
import io
import itertools

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from timens_lab.source import HOST, MISSING, Channel
from timens_lab.views import _plot_limits
from timens_lab.views.decimate import Envelope, minmax_columns
from timens_lab.views.divergence_plot import DivergencePlot
from timens_lab.views.live import LiveView
from timens_lab.views.synthetic import SyntheticSource

S = 10**9
H = 3600 * S
D = 24 * H
OFFSETS = {"ns1": (H, 2 * D), "ns2": (-5 * S, -5 * S), "ns3": (0, 90 * S)}
CLOCKS = ("monotonic", "boottime", "realtime")
#: divergence()'s bound for the synthetic sandwiches (150–600 ns wide) is well under 2 µs.
ERR_S = 2e-6


@pytest.fixture
def source() -> SyntheticSource:
    return SyntheticSource(OFFSETS, samples=2_000, chunk=250, rate_hz=200.0)


@pytest.fixture
def plot(source: SyntheticSource) -> DivergencePlot:
    p = DivergencePlot(source, CLOCKS)
    yield p
    p.close()


def run_to_end(plot: DivergencePlot, source: SyntheticSource) -> None:
    while not source.done:
        plot.frame()
    plot.finish()


def segments(collection: matplotlib.collections.LineCollection) -> list[np.ndarray]:
    return [np.asarray(s) for s in collection.get_segments()]


def expected_offset(name: str, clock: str) -> int:
    mono, boot = OFFSETS[name]
    return {"monotonic": mono, "boottime": boot, "realtime": 0}[clock]


def test_plotted_offset_is_the_configured_offset(plot: DivergencePlot,
                                                  source: SyntheticSource) -> None:
    """Every measured line lies on its namespace's configured offset (REALTIME on 0)."""
    run_to_end(plot, source)
    for i, clock in enumerate(CLOCKS):
        lines = segments(plot.meas[i])
        assert len(OFFSETS) == len(lines)
        for name, line in zip(plot.order, lines, strict=True):
            want = expected_offset(name, clock) / S
            assert len(line) > 10
            assert np.abs(line[:, 1] - want).max() < ERR_S, (name, clock)


def test_reference_lines_are_the_configured_offsets(plot: DivergencePlot,
                                                    source: SyntheticSource) -> None:
    """The dashed reference of each namespace is flat at its configured offset, full width."""
    run_to_end(plot, source)
    for i, clock in enumerate(CLOCKS):
        x0, x1 = plot.ax_offset[i].get_xlim()
        for name, ref in zip(plot.order, segments(plot.refs[i]), strict=True):
            want = expected_offset(name, clock) / S
            assert [(x0, want), (x1, want)] == [tuple(p) for p in ref]


def test_residual_and_band(plot: DivergencePlot, source: SyntheticSource) -> None:
    """Residual lines stay within the error bound of 0; the band covers every residual ± err."""
    run_to_end(plot, source)
    for i, clock in enumerate(CLOCKS):
        for line in segments(plot.resid[i]):
            assert np.abs(line[:, 1]).max() < ERR_S * S
        band = plot.bands[i].get_paths()[0].vertices
        for name in plot.order:
            _, res, err = plot.traces[(name, clock)].residual()
            assert band[:, 1].max() >= (res + err).max() - 1e-6
            assert band[:, 1].min() <= (res - err).min() + 1e-6
            assert err.min() > 0


def test_every_sample_is_used(plot: DivergencePlot, source: SyntheticSource) -> None:
    """All namespace records inside the host's span end up in the history, none twice."""
    run_to_end(plot, source)
    for name in OFFSETS:
        t = plot.traces[(name, "monotonic")].t.view
        assert np.all(np.diff(t) > 0)
        # The namespaces start a third of a period after the host, so only their last record
        # (after the host's last one) cannot be interpolated.
        assert len(t) == 2_000 - 1


def test_namespace_records_ahead_of_the_host_wait(source: SyntheticSource) -> None:
    """Records newer than the last host record are kept until the host catches up."""
    plot = DivergencePlot(source, ("monotonic",))
    records = source.read_all()
    host, ns1 = records[HOST], records["ns1"]

    class Staggered:
        mode, banner = "replay", None
        calls = 0

        def channels(self) -> list[Channel]:
            return [c for c in source.channels() if c.id in (HOST, "ns1")]

        def read(self) -> dict[str, np.ndarray]:
            self.calls += 1
            if self.calls == 1:   # all namespace records, only the first 100 host records
                return {HOST: host[:100], "ns1": ns1}
            if self.calls == 2:
                return {HOST: host[100:], "ns1": ns1[:0]}
            return {}

        def stats(self) -> dict[str, object]:
            return {}

        def close(self) -> None:
            pass

    plot.source = Staggered()
    plot.poll()
    first = len(plot.traces[("ns1", "monotonic")].t)
    assert 0 < first < 120
    plot.poll()
    assert len(ns1) - 1 == len(plot.traces[("ns1", "monotonic")].t)
    plot.close()


def test_labels_are_the_channel_labels(plot: DivergencePlot, source: SyntheticSource) -> None:
    """The legend names namespaces as Channel.label does (the tree's naming)."""
    run_to_end(plot, source)
    texts = [t.get_text() for t in plot.legend.get_texts()]
    labels = [c.label for c in source.channels() if c.id != HOST]
    assert [*labels, "configured", "error band (all)"] == texts
    assert "ns1 +1h/+2d" in texts
    assert "\u22125s" in [t.get_text() for t in plot.ax_offset[0].get_yticklabels()]


def test_blits_between_full_redraws(source: SyntheticSource,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """With headroom, new data are blitted (pixels change, no full redraw); data past the x
    limit cause one full redraw."""
    monkeypatch.setattr(_plot_limits, "MIN_REDRAW_INTERVAL_S", 0.0)
    plot = DivergencePlot(source, CLOCKS)
    plot.frame()
    plot.settle(headroom=3.0)
    full = plot.full_redraws
    canvas = plot.fig.canvas
    before = np.asarray(canvas.buffer_rgba()).copy()
    plot.frame()
    assert full == plot.full_redraws
    assert not np.array_equal(before, np.asarray(canvas.buffer_rgba()))
    x1 = plot.ax_offset[0].get_xlim()[1]
    while plot.traces[("ns1", "monotonic")].t.view[-1] <= x1 and not source.done:
        plot.frame()
    assert full + 1 == plot.full_redraws
    assert plot.traces[("ns1", "monotonic")].t.view[-1] <= plot.ax_offset[0].get_xlim()[1]
    plot.close()


def test_draw_event_regrabs_background(plot: DivergencePlot, source: SyntheticSource) -> None:
    """A full draw from outside (ipympl resize, toolbar home) replaces the blit background."""
    plot.frame()
    bg = plot._bg
    plot.fig.canvas.draw()
    assert plot._bg is not None
    assert bg is not plot._bg


def test_new_channel_appears(source: SyntheticSource) -> None:
    """A namespace that appears mid-run gets a line at its offset and a legend entry."""
    plot = DivergencePlot(source, ("monotonic",))
    plot.frame()
    assert "late" not in plot.order
    source.add("late", 7 * S, 7 * S, samples=400)
    plot.frame()
    plot.frame()
    assert plot.order[-1] == "late"
    assert "late +7s/+7s" in [t.get_text() for t in plot.legend.get_texts()]
    line = segments(plot.meas[0])[-1]
    assert len(line) > 0
    assert np.abs(line[:, 1] - 7).max() < ERR_S
    plot.close()


def test_missing_clock_is_skipped(source: SyntheticSource) -> None:
    """A clock the sampler did not read (MISSING) draws nothing and breaks nothing."""
    recs = source.read_all()
    recs["ns1"]["boottime"] = MISSING

    class Once:
        mode, banner = "replay", None

        def __init__(self) -> None:
            self.sent = False

        def channels(self) -> list[Channel]:
            return source.channels()

        def read(self) -> dict[str, np.ndarray]:
            if self.sent:
                return {}
            self.sent = True
            return recs

        def stats(self) -> dict[str, object]:
            return {}

        def close(self) -> None:
            pass

    plot = DivergencePlot(Once(), ("monotonic", "boottime"))
    plot.frame()
    plot.finish()
    assert len(plot.traces[("ns1", "boottime")].t) == 0
    assert len(plot.traces[("ns2", "boottime")].t) > 0
    plot.close()


def test_select_highlights(plot: DivergencePlot, source: SyntheticSource) -> None:
    """Selecting by tree key thickens that namespace's lines and adds its own band."""
    plot.frame()
    inode = next(c.ns_inode for c in source.channels() if c.id == "ns2")
    plot.select(f"time:{inode}")
    assert plot.selected == "ns2"
    plot.frame()
    widths = plot.resid[0].get_linewidths()
    assert widths[plot.order.index("ns2")] > widths[plot.order.index("ns1")]
    assert len(plot.bands[0].get_paths()) == 2
    plot.select(None)
    plot.frame()
    assert len(plot.bands[0].get_paths()) == 1


def test_decimation_keeps_extremes_and_bounds_points() -> None:
    """min/max per column: ≤ 2 points per column, and a one-sample spike survives."""
    x = np.linspace(0.0, 100.0, 100_000)
    y = np.sin(x)
    y[54_321] = 50.0
    xs, ys = minmax_columns(x, y, 0.0, 100.0, 700)
    assert len(xs) <= 2 * 700
    assert ys.max() == 50.0
    assert y.min() == ys.min()
    assert np.all(np.diff(xs) >= 0)


def test_envelope_incremental_equals_batch() -> None:
    """Folding data in chunks gives the same columns as folding it at once."""
    rng = np.random.default_rng(7)
    x = np.sort(rng.uniform(0, 10, 5_000))
    y = rng.normal(size=5_000)
    whole, parts = Envelope(0, 10, 123), Envelope(0, 10, 123)
    whole.add(x, y, y, mid=y)
    for i in range(0, 5_000, 333):
        parts.add(x[i:i + 333], y[i:i + 333], y[i:i + 333], mid=y[i:i + 333])
    for a, b in zip(whole.line(), parts.line(), strict=True):
        assert np.array_equal(a, b)
    for a, b in zip(whole.mean_line(), parts.mean_line(), strict=True):
        assert np.allclose(a, b)


# --- the live loop


def test_live_view_runs_to_the_end_of_a_replay(source: SyntheticSource) -> None:
    """run() draws frames until the source is done, then leaves a complete final frame."""
    plot = DivergencePlot(source, CLOCKS)
    view = LiveView([plot], fps=200)
    asyncio.run(view.run(show=False))
    assert source.done
    assert not view.running
    assert view.frames == plot.frames >= 8
    assert f"frame {plot.frames}" in plot.status.get_text()
    assert not plot.status.get_animated()          # finish(): a normal, complete figure
    plot.close()


def test_live_view_yields_between_frames_and_stops() -> None:
    """Another task (a widget callback) runs between every two frames, and stop() ends the
    loop after at most one more frame; no timing assumptions."""
    source = SyntheticSource(OFFSETS, samples=100_000, chunk=20, rate_hz=1000.0)
    plot = DivergencePlot(source, ("monotonic",))
    log: list[str] = []
    view = LiveView([plot], fps=1000, hooks=[lambda: log.append("F")])

    async def main() -> int:
        view.start(show=False)
        while log.count("F") < 10:
            log.append("T")
            await asyncio.sleep(0)
        view.stop()
        at_stop = view.frames
        await view.wait()
        return view.frames - at_stop

    after_stop = asyncio.run(main())
    frames = "".join(log).lstrip("T")
    assert "FF" not in frames[: frames.rfind("F")]   # a T between every two frames
    assert after_stop <= 1
    assert not view.running
    assert not source.done
    plot.close()


def test_live_view_duration() -> None:
    """duration= ends the loop by itself, not before the time is up."""
    view = LiveView([DivergencePlot(SyntheticSource(OFFSETS, samples=100_000, chunk=5),
                                    ("monotonic",))], fps=50, duration=0.3)
    asyncio.run(view.run(show=False))
    assert view.stopped - view.started >= 0.3
    assert view.frames >= 1
    view.views[0].close()


def test_live_view_reraises_a_view_error() -> None:
    """An exception in a frame ends the loop and comes back from wait()."""

    class Broken:
        fig = matplotlib.figure.Figure()

        def frame(self) -> None:
            raise RuntimeError("boom")

        def finish(self) -> None:
            pass

    view = LiveView([Broken()], fps=50)
    with pytest.raises(RuntimeError, match="boom"):
        asyncio.run(view.run(show=False))


def test_snapshot_png_is_the_final_frame(source: SyntheticSource) -> None:
    """The snapshot PNG differs from frame 1 and matches a re-render of the final state."""
    from PIL import Image

    from timens_lab.views._figure import png_bytes

    plot = DivergencePlot(source, CLOCKS)
    plot.frame()
    first = png_bytes(plot.fig)
    view = LiveView([plot], fps=200)
    asyncio.run(view.run(show=False))
    (final,) = view.snapshot()
    a = np.asarray(Image.open(io.BytesIO(first)))
    b = np.asarray(Image.open(io.BytesIO(final)))
    assert a.shape == b.shape
    assert not np.array_equal(a, b)
    assert np.array_equal(b, np.asarray(Image.open(io.BytesIO(png_bytes(plot.fig)))))
    plot.close()


class _Browser:
    """A webagg "web socket" that records what the kernel sends (ipympl's canvas plays this
    role for the real frontend)."""

    def __init__(self) -> None:
        self.images: list[str] = []

    def send_json(self, content: dict[str, object]) -> None:
        pass

    def send_binary(self, blob: bytes) -> None:
        """A full frame is opaque; a diff is transparent where nothing changed."""
        from PIL import Image

        alpha = np.asarray(Image.open(io.BytesIO(blob)).convert("RGBA"))[:, :, 3]
        self.images.append("full" if alpha.min() == 255 else "diff")


def test_frames_reach_a_webagg_view_with_periodic_full_frames(
        source: SyntheticSource, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each rendered frame is sent to the view, as a diff, with a full frame every HEAL_S to
    repair diffs the browser lost; an ipympl canvas with no view yet gets nothing."""
    from matplotlib.backends.backend_webagg_core import (
        FigureCanvasWebAggCore,
        FigureManagerWebAgg,
    )
    from matplotlib.figure import Figure

    from timens_lab.views import _delivery

    fig = Figure(figsize=(6, 3.5))
    canvas = FigureCanvasWebAggCore(fig)
    FigureManagerWebAgg(canvas, 1).add_web_socket(browser := _Browser())
    plot = DivergencePlot(source, ("monotonic",), fig=fig)
    monkeypatch.setattr(_delivery, "HEAL_S", 3600.0)
    for _ in range(4):
        plot.frame()
    assert browser.images == ["full", "diff", "diff", "diff"]
    monkeypatch.setattr(_delivery, "HEAL_S", 0.0)
    plot.frame()
    assert browser.images[-1] == "full"

    canvas.syncing_data_url = True        # what ipympl says until a browser view initialised
    plot.frame()
    assert len(browser.images) == 5
    plot.close()


@pytest.mark.filterwarnings("ignore:Widget.widgets is deprecated:DeprecationWarning")
@pytest.mark.filterwarnings("ignore:Passing unrecognized arguments to super:DeprecationWarning")
def test_closing_an_ipympl_figure_closes_its_widgets() -> None:
    """Under ipympl a figure is a canvas widget with a Layout and a Toolbar (with its own
    Layout); plt.close closes only the canvas, close_figure the rest too."""
    import matplotlib.pyplot as plt

    before_backend = plt.get_backend()  # before ipympl: importing it makes itself the backend
    pytest.importorskip("ipympl")
    import ipywidgets as W

    from timens_lab.views._figure import close_figure, new_figure

    plt.switch_backend("module://ipympl.backend_nbagg")
    try:
        before = set(W.Widget.widgets)
        fig = new_figure((3.0, 2.0))
        assert hasattr(fig.canvas, "comm")
        close_figure(fig)
        left = {k: type(w).__name__ for k, w in W.Widget.widgets.items() if k not in before}
    finally:
        plt.switch_backend(before_backend)
    assert left == {}


def test_start_outside_a_loop_says_what_to_do(source: SyntheticSource) -> None:
    """start() without a running loop explains the alternative instead of a bare asyncio error."""
    view = LiveView([DivergencePlot(source, ("monotonic",))])
    with pytest.raises(RuntimeError, match=r"asyncio.run\(view.run\(\)\)"):
        view.start(show=False)
    view.views[0].close()


def test_banner_and_tick_labels_stay_clear_of_each_other() -> None:
    """A replay's long banner covers no title, tick label or legend, no label is clipped (even an
    offset whose exact label is long: 100000 s → "+1d3h46m40s"), and no two tick labels overlap
    (+90ms sits next to 0 on the symlog axis, +2d3h next to +1d)."""
    banner = ("REPLAY · 2 time namespaces + host at 500 Hz for 7 s, recorded 2026-12-03 00:39:54 "
              "UTC on vm (Linux 6.18.44, as root).\nLive mode is off here: forced by "
              "TIMENS_LAB_MODE=replay\nHint: unset TIMENS_LAB_MODE (or set it to auto) to use "
              "live time namespaces")
    source = SyntheticSource({"ahead": (H, 2 * H), "flip": (100_000 * S, 0),
                              "mixed": (90 * S // 1000, 2 * D + 3 * H), "day": (D, D)},
                             samples=400, chunk=200, banner=banner)
    plot = DivergencePlot(source, CLOCKS)
    try:
        run_to_end(plot, source)
        canvas = plot.fig.canvas
        canvas.draw()
        renderer = canvas.get_renderer()  # type: ignore[attr-defined]
        fig_box = plot.fig.bbox
        labels = [t for ax in (*plot.ax_offset, *plot.ax_resid)
                  for t in (ax.title, ax.xaxis.label, ax.yaxis.label,
                            *ax.get_xticklabels(), *ax.get_yticklabels()) if t.get_text()]
        assert any("1d3h46m40s" in t.get_text() for t in labels)
        banner_box = plot.banner.get_window_extent(renderer)
        assert plot.banner.get_text().count("\n") >= 3  # wrapped into the column
        assert fig_box.x0 <= banner_box.x0 and banner_box.x1 <= fig_box.x1 + 1
        assert fig_box.y0 <= banner_box.y0 and banner_box.y1 <= fig_box.y1
        for text in labels:
            box = text.get_window_extent(renderer)
            assert not box.overlaps(banner_box), f"the banner covers {text.get_text()!r}"
            assert box.x0 >= fig_box.x0 and box.x1 <= fig_box.x1, f"{text.get_text()!r} is clipped"
        for ax in plot.ax_offset:  # +90ms next to 0, +2d3h next to +1d: never on top
            boxes = [t.get_window_extent(renderer) for t in ax.get_yticklabels() if t.get_text()]
            assert len(boxes) >= (1 if ax.get_title() == "REALTIME" else 3)
            for a, b in itertools.combinations(boxes, 2):
                assert not a.overlaps(b), f"tick labels overlap on {ax.get_title()}"
        legend_box = plot.legend.get_window_extent(renderer)
        assert not legend_box.overlaps(banner_box), "the banner covers the legend"
    finally:
        plot.close()
