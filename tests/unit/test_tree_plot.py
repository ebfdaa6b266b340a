"""The namespace tree on Agg: artist data, encodings, picking and live updates."""

from __future__ import annotations

import dataclasses

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from matplotlib.backend_bases import MouseEvent

from timens_lab.discovery.treemodel import Node, Tree
from timens_lab.views.tree_plot import LiveTree, TreePlot, node_text, offset_label

S = 10**9
H = 3600 * S


def owner_tree(*, pending: bool = True, extra: bool = False) -> Tree:
    t = Tree(by="owner")
    t.add(Node("user:1", "user", "user 4026531837"))
    t.add(Node("time:10", "time", "time 10", parent="user:1", state="active", frozen=True,
               monotonic_ns=0, boottime_ns=0, inode=10))
    t.add(Node("time:11", "time", "time 11", parent="user:1", state="active", frozen=True,
               monotonic_ns=H, boottime_ns=H, inode=11))
    t.add(Node("pid:100", "process", "100 sleep", parent="time:11", pid=100))
    t.add(Node("pid:101", "process", "101 sampler", parent="time:11", pid=101))
    t.add(Node("user:2", "user", "user 4026532177", parent="user:1"))
    t.add(Node("time:12", "time", "time 12", parent="user:2",
               state="pending" if pending else "active", frozen=not pending,
               monotonic_ns=-5 * S, boottime_ns=-5 * S, inode=12))
    if extra:
        t.add(Node("time:13", "time", "time 13", parent="user:2", state="active", frozen=True,
                   monotonic_ns=2 * 86400 * S, boottime_ns=H, inode=13))
    return t


@pytest.fixture
def plot() -> TreePlot:
    p = TreePlot()
    yield p
    p.close()


def index(plot: TreePlot, key: str) -> int:
    return plot.keys.index(key)


def test_one_point_per_node_one_segment_per_edge(plot: TreePlot) -> None:
    """The scatter holds every node, the LineCollection every parent→child edge."""
    tree = owner_tree()
    assert plot.update(tree)
    assert len(tree.nodes) == len(plot.nodes.get_offsets())
    n_edges = sum(len(k) for k in tree.children.values())
    assert n_edges == len(plot.edges.get_segments())
    for seg in plot.edges.get_segments():       # every segment joins two node positions
        for point in seg:
            assert tuple(point) in {tuple(p) for p in plot.nodes.get_offsets()}


def test_edges_do_not_cross(plot: TreePlot) -> None:
    """No two drawn edges intersect except at a shared node."""
    from tests.unit.test_layout import segments_cross

    plot.update(owner_tree(extra=True))
    segs = [tuple((float(x), float(y)) for x, y in s) for s in plot.edges.get_segments()]
    for i, s in enumerate(segs):
        for t in segs[i + 1:]:
            assert not segments_cross(s, t)


def test_labels_say_offsets(plot: TreePlot) -> None:
    """Labels carry '+1h', '−5s', and monotonic/boottime when they differ."""
    plot.update(owner_tree(extra=True))
    texts = {k: plot.labels[index(plot, k)].get_text() for k in plot.keys}
    assert texts["time:11"] == "time 11 +1h"
    assert texts["time:12"] == "time 12 \u22125s (pending)"
    assert texts["time:13"] == "time 13 +2d/+1h"
    assert texts["pid:100"] == "100 sleep"


def test_pending_looks_different_from_frozen(plot: TreePlot) -> None:
    """A pending namespace is hollow and dashed; freezing it fills it in its offset colour."""
    plot.update(owner_tree(pending=True))
    i = index(plot, "time:12")
    pending_face = plot.nodes.get_facecolors()[i].copy()
    pending_edge = plot.nodes.get_edgecolors()[i].copy()
    assert tuple(pending_face[:3]) == (1.0, 1.0, 1.0)
    assert plot.nodes.get_linestyles()[i][1] is not None          # dashed
    assert plot.update(owner_tree(pending=False))
    frozen_face = plot.nodes.get_facecolors()[index(plot, "time:12")]
    assert not np.allclose(pending_face, frozen_face)
    assert np.allclose(pending_edge[:3], frozen_face[:3])         # same offset colour
    assert plot.nodes.get_linestyles()[index(plot, "time:12")][1] is None


def test_colours_follow_the_sign_of_the_offset(plot: TreePlot) -> None:
    """Ahead of the host is warm (red > blue), behind is cool, zero is neutral."""
    plot.update(owner_tree(pending=False))
    faces = plot.nodes.get_facecolors()
    ahead, behind, host = (faces[index(plot, k)] for k in ("time:11", "time:12", "time:10"))
    assert ahead[0] > ahead[2]
    assert behind[2] > behind[0]
    assert abs(host[0] - host[2]) < 0.1


def test_same_tree_is_not_redrawn(plot: TreePlot) -> None:
    """update() returns False (and draws nothing) when nothing visible changed."""
    assert plot.update(owner_tree())
    assert not plot.update(owner_tree())


def test_vanished_namespace_leaves_the_picture(plot: TreePlot) -> None:
    """A namespace missing from the next tree is no longer drawn or labelled."""
    plot.update(owner_tree(extra=True))
    plot.select("time:13")
    assert plot.update(owner_tree())
    assert "time:13" not in plot.keys
    assert len(plot.ring.get_offsets()) == 0
    visible = [t.get_text() for t in plot.labels if t.get_visible()]
    assert not any("time 13" in t for t in visible)


def _click(plot: TreePlot, key: str) -> None:
    plot.fig.canvas.draw()
    x, y = plot.ax.transData.transform(plot.positions[key])
    event = MouseEvent("button_press_event", plot.fig.canvas, x, y, button=1)
    plot.fig.pick(event)


def test_click_selects_namespace(plot: TreePlot) -> None:
    """A pick on a time node selects it and calls on_select with its key."""
    chosen: list[str | None] = []
    plot.on_select = chosen.append
    plot.update(owner_tree())
    _click(plot, "time:12")
    assert chosen == ["time:12"]
    assert tuple(plot.positions["time:12"]) == tuple(plot.ring.get_offsets()[0])


def test_click_on_member_selects_its_namespace(plot: TreePlot) -> None:
    """A pick on a process selects the time namespace it belongs to."""
    chosen: list[str | None] = []
    plot.on_select = chosen.append
    plot.update(owner_tree())
    _click(plot, "pid:101")
    assert chosen == ["time:11"]


def test_offset_label_forms() -> None:
    """Same offsets once; different as monotonic/boottime; unknown as '?'."""
    assert offset_label(H, H) == "+1h"
    assert offset_label(0, 2 * 86400 * S) == "0/+2d"
    assert offset_label(None, 0) == "?"


def test_node_text_does_not_repeat_what_discovery_wrote() -> None:
    """trees.py labels already carry offsets and state; they are not added twice."""
    node = Node("time:5", "time", "time 5 +1h/+2d pending", state="pending", frozen=False,
                monotonic_ns=H, boottime_ns=2 * 86400 * S)
    assert node_text(node) == "time 5 +1h/+2d pending"
    assert node_text(dataclasses.replace(node, partial=True)) == "time 5 +1h/+2d pending *"


def test_live_tree_pulls_and_shows_errors(plot: TreePlot) -> None:
    """Without a loop LiveTree calls the provider inline; a failing provider shows its error on
    the figure and the last good tree stays."""
    from timens_lab.errors import PrivilegeError

    trees = [owner_tree(), PrivilegeError("cannot read /proc/1/ns/time"), owner_tree(extra=True)]

    def provider() -> Tree:
        item = trees.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    live = LiveTree(plot, provider, interval=0.0)
    live.frame()
    assert len(plot.keys) == 7
    live.frame()
    assert "cannot read /proc/1/ns/time" in plot.ax.get_title(loc="left")
    assert len(plot.keys) == 7
    live.frame()
    assert len(plot.keys) == 8
    assert "error" not in plot.ax.get_title(loc="left")


def test_uncertain_pending_and_container_labels() -> None:
    """A discovered pending namespace (frozen unknown) reads "pending?"; the lab's own stays
    "pending"; a process in a container carries its container label."""
    ns = Node(key="time:5", kind="time", label="time 5 +1h/+1h [crun web]", state="pending",
              frozen=None, monotonic_ns=3600 * 10**9, boottime_ns=3600 * 10**9)
    assert node_text(ns) == "time 5 +1h/+1h [crun web] (pending?)"
    assert node_text(ns, "ns1 +1h") == "ns1 +1h (pending)"
    proc = Node(key="pid:9", kind="process", label="9 sleep", parent="time:5", pid=9,
                container="crun web")
    assert node_text(proc) == "9 sleep [crun web]"
