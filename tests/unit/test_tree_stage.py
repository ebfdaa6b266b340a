"""The namespace tree as the demo's stage draws it: members by command or role, holders dimmed,
large type that shrinks only as far as needed for no label to touch another."""

from __future__ import annotations

import matplotlib
import pytest

matplotlib.use("Agg")

from timens_lab.demo.figures import text_problems
from timens_lab.discovery.treemodel import Node, Tree
from timens_lab.views.tree_plot import TreePlot, member_text

S = 10**9


def lab_tree(members: int = 3) -> Tree:
    t = Tree(by="lineage")
    t.add(Node("time:1", "time", "host", state="active", frozen=True, monotonic_ns=0,
               boottime_ns=0, inode=1))
    t.add(Node("time:2", "time", "A", parent="time:1", state="active", frozen=True,
               monotonic_ns=3600 * S, boottime_ns=3600 * S, inode=2))
    t.add(Node("pid:200", "process", "200 python3", parent="time:2", pid=200))
    t.add(Node("pid:201", "process", "201 python3", parent="time:2", pid=201))
    for i in range(members):
        t.add(Node(f"pid:{300 + i}", "process", f"{300 + i} sleep", parent="time:2", pid=300 + i))
    return t


@pytest.fixture
def plot() -> TreePlot:
    p = TreePlot(figsize=(6.0, 4.0))
    yield p
    p.close()


def labels(plot: TreePlot) -> dict[str, tuple[str, float, str]]:
    """node key → (text, alpha, style) of its label."""
    return {k: (t.get_text(), t.get_alpha(), t.get_fontstyle())
            for k, t in zip(plot.keys, plot.labels, strict=False)}


def test_members_by_command_and_role_holders_dimmed(plot: TreePlot) -> None:
    """members="command": the pid goes, a known role replaces the command, a holder is faded
    and italic; the default still says "PID COMM"."""
    plot.update(lab_tree(members=1))
    assert labels(plot)["pid:300"][0] == "300 sleep"
    plot.set_style(members="command")
    assert plot.set_roles({200: "sampler", 201: "holder"})
    got = labels(plot)
    assert got["pid:300"] == ("sleep", 1.0, "normal")
    assert got["pid:200"] == ("sampler", 1.0, "normal")
    assert got["pid:201"] == ("holder", 0.4, "italic")
    assert plot.nodes.get_facecolors()[plot.keys.index("pid:201")][3] == pytest.approx(0.3)
    assert not plot.set_roles({200: "sampler", 201: "holder"})   # unchanged: no redraw


def test_member_text_keeps_labels_it_cannot_parse() -> None:
    """Only "PID COMM" of that very pid is shortened; a summary leaf keeps its words."""
    assert member_text(Node("x", "process", "79 processes", parent="time:1")) == "79 processes"
    assert member_text(Node("pid:5", "process", "5 bash", pid=5)) == "bash"
    assert member_text(Node("pid:5", "process", "5 bash", pid=5), {5: "sampler"}) == "sampler"


def test_bad_members_mode_is_refused(plot: TreePlot) -> None:
    with pytest.raises(ValueError, match="members must be"):
        plot.set_style(members="names")


@pytest.mark.parametrize("members", [2, 8, 16])
@pytest.mark.parametrize("figsize", [(6.8, 4.5), (4.6, 2.4)])
def test_large_type_never_touches(members: int, figsize: tuple[float, float]) -> None:
    """At the stage's 12 pt, a short figure with many members shrinks the type until no label
    overlaps another or leaves the figure (before the fit for height, rows overprinted)."""
    plot = TreePlot(figsize=figsize, title="lineage tree", fontsize=12.0, min_fontsize=5.0,
                    members="command")
    try:
        plot.update(lab_tree(members))
        assert text_problems(plot.fig) == []
        if members == 2:
            assert plot._fontsize == 12.0   # room enough: no shrinking
    finally:
        plot.close()
