"""The demo's stage without a browser or a kernel: readouts from measured offsets, the theme's
colours in the plot, figure sizes for the page, and figures whose text is never clipped or
overlapping (checked on the renderer's own list of what it painted)."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

import matplotlib
import pytest

matplotlib.use("Agg")

import matplotlib as mpl
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

from timens_lab.demo import figures, stage
from timens_lab.discovery.treemodel import Node, Tree
from timens_lab.views.divergence_feed import DivergenceFeed
from timens_lab.views.divergence_plot import DivergencePlot
from timens_lab.views.synthetic import SyntheticSource
from timens_lab.views.tree_plot import TreePlot

S = 10**9
DAY = 86400 * S
CLOCKS = ("monotonic", "boottime", "realtime")
HOST = {"monotonic": 1000 * S, "boottime": 1020 * S, "realtime": 1_750_000_000 * S}
#: Offsets like the four scenarios' (monotonic, boottime), ns.
SCENARIOS = {
    "a day ahead": {"a day ahead": (DAY, DAY)},
    "a year behind": {"max behind": (-20_752 * S, -20_752 * S)},
    "nesting": {"A": (3600 * S, 3600 * S), "B in A": (3600 * S, 3600 * S),
                "C in A": (5 * S, 3600 * S)},
    "migration": {"machine A": (5 * DAY, 5 * DAY), "machine B": (5 * DAY - 2_001_000_000,
                                                                5 * DAY - 2_001_000_000)},
}


def fed(offsets: dict[str, tuple[int, int]], reads: int = 5) -> DivergenceFeed:
    source = SyntheticSource(offsets, samples=2000, chunk=200)
    feed = DivergenceFeed(CLOCKS)
    for _ in range(reads):
        feed.poll(source)
    return feed


def test_readouts_are_host_clocks_plus_the_measured_offsets() -> None:
    """Each namespace column reads host + offset per clock (uptime is BOOTTIME), as configured
    within the measurement's error bound; the residual is measured − configured in ns."""
    offsets = {"ahead": (DAY, 2 * DAY), "behind": (-5 * S, -5 * S)}
    data = stage.readout_data(fed(offsets), HOST)
    host, *columns = data["columns"]
    assert host["clocks"] == {"uptime": HOST["boottime"], **HOST}
    assert [c["name"] for c in columns] == ["ahead", "behind"]
    for column in columns:
        mono, boot = offsets[column["name"]]
        want = {"monotonic": HOST["monotonic"] + mono, "boottime": HOST["boottime"] + boot,
                "realtime": HOST["realtime"], "uptime": HOST["boottime"] + boot}
        resid, err = map(int, re.fullmatch(r"([+-]\d+) ns \(± (\d+) ns\)",
                                           column["resid"]).groups())
        assert abs(resid) <= err < 1000
        for clock, value in want.items():
            assert abs(column["clocks"][clock] - value) <= err, clock
    assert columns[0]["ahead"] == {"monotonic": "ahead", "boottime": "ahead", "realtime": "",
                                   "uptime": "ahead"}
    assert columns[1]["ahead"]["monotonic"] == "behind"
    assert columns[0]["sub"] == "MONOTONIC +1d · BOOTTIME +2d"


def test_readouts_say_nothing_before_the_first_measurement() -> None:
    """A namespace seen but not measured yet shows no number ("…" on the page), not zero."""
    feed = DivergenceFeed(CLOCKS)
    feed.poll(SyntheticSource({"new": (DAY, DAY)}, samples=10, chunk=0))
    column = stage.readout_data(feed, HOST)["columns"][1]
    assert set(column["clocks"].values()) == {None}
    assert column["resid"] == "…"


@pytest.mark.parametrize("theme", stage.THEMES)
def test_the_plot_takes_the_themes_colour_blind_safe_colours(theme: str) -> None:
    """Under the stage's rc, namespaces get Okabe–Ito colours in order, and the figure the
    theme's paper and ink."""
    with mpl.rc_context(stage.matplotlib_rc(theme)):
        plot = DivergencePlot(SyntheticSource(SCENARIOS["nesting"], samples=100))
        plot.poll()
        try:
            want = [to_rgba(c) for c in stage.OKABE_ITO[theme][:3]]
            assert [plot.colours[cid] for cid in plot.order] == want
            paper = to_rgba("black" if theme == "dark" else "white")
            assert to_rgba(plot.fig.get_facecolor()) == paper
        finally:
            plot.close()


def test_figure_sizes_follow_the_room() -> None:
    """At 1920 px the plot's smallest type (7 pt) is ≥ 16 px; heights follow the room, with a
    floor; the width changing rebuilds, the height resizes."""
    fit = figures.fit((1920, 450))
    assert fit.plot_dpi * 7 / 72 >= 16
    assert round(fit.plot_in[0] * fit.plot_dpi) == round(0.6 * 1920)
    assert round(fit.plot_in[1] * fit.plot_dpi) == 450 == round(fit.tree_in[1] * fit.tree_dpi)
    assert figures.fit((1280, 100)).room[1] == figures.MIN_HEIGHT_PX
    assert figures.fit((1920, 0)).room[1] == figures.DEFAULT_HEIGHT_PX
    assert figures.refit(fit, (1280, 450)) == "rebuild"
    assert figures.refit(fit, (1920, 380)) == "resize"
    assert figures.refit(fit, (1920, 455)) is None
    assert figures.refit(None, (1920, 450)) is None


def test_text_problems_sees_clipped_and_overlapping_text() -> None:
    """The checker itself: a clean figure passes; text past the edge and text on text fail."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4, 3))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.set_title("fine")
    assert figures.text_problems(fig) == []
    fig.text(0.98, 0.5, "past the right edge")
    fig.text(0.1, 0.5, "one label")
    fig.text(0.12, 0.5, "another one")
    problems = figures.text_problems(fig)
    assert "clipped: 'past the right edge'" in problems
    assert "overlap: 'one label' and 'another one'" in problems


def _dressed(offsets: dict[str, tuple[int, int]], room: tuple[int, int],
             renderer: str = "auto") -> Any:
    """A plot and a tree as the stage dresses them, fed a few frames of synthetic data."""
    # Labelled by name, as the demo's samplers are (DemoApp.sample) and its replay is.
    source = figures.NamesOnly(SyntheticSource(offsets, samples=3000, chunk=300))
    plot = DivergencePlot(source, CLOCKS, figsize=figures.PLOT_DESIGN_IN, renderer=renderer)
    tree = TreePlot(figsize=(5.6, 3.6), title="lineage tree")
    dash = SimpleNamespace(plot=plot, tree=tree, view=SimpleNamespace(hooks=[], views=[]))
    figures.dress(dash, figures.fit(room), window_s=60.0)
    for _ in range(6):
        plot.frame()
        for hook in dash.view.hooks:
            hook()
    return dash


@pytest.mark.parametrize("room", [(1920, 450), (1920, 300), (1280, 240), (1280, 420)])
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_the_stage_plot_reads_cleanly(scenario: str, room: tuple[int, int]) -> None:
    """Every painted text of the divergence plot lies inside the figure, off every other
    text and off every other axes, at the sizes the stage uses."""
    dash = _dressed(SCENARIOS[scenario], room)
    try:
        assert figures.text_problems(dash.plot.fig) == []
    finally:
        dash.plot.close()
        dash.tree.close()


@pytest.mark.parametrize("room", [(1920, 450), (1920, 291)])
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_the_canvas_rendered_stage_plot_fits_and_refits(scenario: str,
                                                        room: tuple[int, int]) -> None:
    """The same with the live canvas renderer (what a kernel with anywidget uses; its fitting
    lays the figure out without painting it), and after a resize to a shorter page
    (JupyterLab's is 291 px at 1920×1080): its figure is not pyplot's, so GridSpec.update alone
    would not move its axes and the margins would walk until matplotlib raised "bottom cannot
    be >= top"."""
    dash = _dressed(SCENARIOS[scenario], room, renderer="canvas")
    try:
        assert dash.plot.renderer == "canvas"
        assert figures.text_problems(dash.plot.fig) == []
        figures.resize(dash, figures.fit((room[0], 240)))
        for _ in range(6):
            dash.plot.frame()
            for hook in dash.view.hooks:
                hook()
        assert figures.text_problems(dash.plot.fig) == []
    finally:
        dash.plot.close()
        dash.tree.close()


def test_the_time_axis_moving_costs_one_render_and_no_layout(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The live picture stands still while the kernel renders: when only the time axis grows or
    scrolls, its new tick labels move no margin, so the full redraw is one render of the
    background and no layout pass for fitting (which costs about as much again)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    dash = _dressed(SCENARIOS["a day ahead"], (1920, 450), renderer="canvas")
    plot = dash.plot
    try:
        plot.fig.canvas.send = lambda content, buffers=None: None
        plot.fig.canvas._on_msg(None, {"type": "hello", "id": "v"}, [])
        plot.frame()
        renders, layouts = [], []
        draw, lay_out = FigureCanvasAgg.draw, plot.fig.draw_without_rendering

        def counted(canvas: Any) -> None:
            if canvas is plot.fig.canvas:   # not the tree's
                renders.append(canvas)
            draw(canvas)

        monkeypatch.setattr(FigureCanvasAgg, "draw", counted)
        monkeypatch.setattr(plot.fig, "draw_without_rendering",
                            lambda: (layouts.append(1), lay_out()))
        x1 = plot.ax_offset[0].get_xlim()[1]
        for ax in plot.ax_offset:   # what the limits do when the data reach the right edge
            ax.set_xlim(0.0, 3 * x1)
        plot.full_draw()
        for hook in dash.view.hooks:
            hook()
        assert (len(renders), len(layouts)) == (1, 0)
        assert figures.text_problems(plot.fig) == []
    finally:
        plot.close()
        dash.tree.close()


def test_margins_are_fitted_again_only_when_a_label_can_be_wider() -> None:
    """Digits share one width in the stage's font, so "−1000" → "−2000" needs no fit and
    "500" → "1000" does."""
    fig = Figure()
    ax = fig.add_subplot()
    keys = []
    for ticks in ([-1000, 0, 1000], [-2000, 0, 2000], [-500, 0, 500]):
        ax.set_yticks(ticks, [f"{t:.0f}".replace("-", "\u2212") for t in ticks])
        keys.append(figures._label_texts(fig))
    assert keys[0] == keys[1] != keys[2]


def test_without_fitting_the_same_plot_has_clipped_text() -> None:
    """The same figure size without the stage's fitting clips labels: what the fitting is for."""
    source = figures.NamesOnly(SyntheticSource(SCENARIOS["a year behind"], samples=3000,
                                               chunk=300))
    plot = DivergencePlot(source, CLOCKS, figsize=figures.PLOT_DESIGN_IN)
    fit = figures.fit((1280, 240))
    plot.fig.set_dpi(fit.plot_dpi)
    plot.fig.set_size_inches(*fit.plot_in)
    try:
        for _ in range(6):
            plot.frame()
        assert figures.text_problems(plot.fig) != []
    finally:
        plot.close()


def _host_tree() -> Tree:
    t = Tree(by="lineage")
    t.add(Node("time:1", "time", "host", state="active", frozen=True, monotonic_ns=0,
               boottime_ns=0, inode=1))
    t.add(Node("time:2", "time", "time 2", parent="time:1", state="active", frozen=True,
               monotonic_ns=DAY, boottime_ns=DAY, inode=2))
    t.add(Node("pid:20", "process", "20 sleep", parent="time:2", pid=20))
    t.add(Node("time:3", "time", "time 3", parent="time:1", state="active", frozen=True,
               monotonic_ns=S, boottime_ns=S, inode=3))
    t.add(Node("pid:30", "process", "30 nginx", parent="time:3", pid=30))
    t.add(Node("time:1:members", "process", "80 processes", parent="time:1"))
    t.add(Node("time:4", "time", "time 4 [crun web]", state="active", frozen=True,
               monotonic_ns=0, boottime_ns=0, inode=4))
    return t


def test_the_stage_tree_shows_this_scenario_and_folds_the_rest() -> None:
    """The host, the scenario's namespaces and their members stay; every other time
    namespace on the machine (and what is in it) becomes one "N other namespaces" leaf."""
    out = figures.stage_tree(_host_tree(), {"time:2"}, "time:1")
    assert [(d, n.label) for d, n in out.walk()] == [
        (0, "host"), (1, "time 2"), (2, "20 sleep"), (1, "80 processes"),
        (1, "2 other namespaces")]
    unchanged = _host_tree()
    assert figures.stage_tree(unchanged, {"time:2"}, "time:99") is unchanged
