"""The dashboard's wiring, headless: shared selection, names, member pruning, the loop."""

from __future__ import annotations

import asyncio
import dataclasses

import matplotlib
import pytest

matplotlib.use("Agg")

from tests.unit.fakelab import FakeLab
from timens_lab.discovery.treemodel import Node, Tree
from timens_lab.views.dashboard import Dashboard, prune_members
from timens_lab.views.synthetic import SyntheticSource

S = 10**9
H = 3600 * S


def lab_tree(lab: FakeLab, members: int = 2) -> Tree:
    """What discovery would report for the fake lab: host with many processes, then ours."""
    t = Tree(by="lineage")
    t.add(Node("time:1", "time", "time 1 0/0", state="active", frozen=True, monotonic_ns=0,
               boottime_ns=0, inode=1))
    for pid in range(100, 100 + 40):
        t.add(Node(f"pid:{pid}", "process", f"{pid} kworker", parent="time:1", pid=pid))
    for ns in lab.namespaces:
        off = ns.offsets
        t.add(Node(f"time:{ns.inode}", "time", f"time {ns.inode}", parent="time:1",
                   state="active" if ns.frozen else "pending", frozen=ns.frozen,
                   monotonic_ns=off.monotonic_ns, boottime_ns=off.boottime_ns, inode=ns.inode))
        for i in range(members):
            pid = 1000 + ns.inode % 1000 * 10 + i
            t.add(Node(f"pid:{pid}", "process", f"{pid} sleep", parent=f"time:{ns.inode}",
                       pid=pid))
    return t


@pytest.fixture
def dash() -> Dashboard:
    lab = FakeLab()
    source = SyntheticSource({"ns1": (H, H)}, samples=400, chunk=40, rate_hz=200.0)
    d = Dashboard(lab, source, tree_provider=lambda: lab_tree(lab),
                  sampler_factory=lambda ns, r, c: ns.sampler(rate=r, clocks=c),
                  clocks=("monotonic",))
    yield d
    d.close()


def test_prune_members_summarises_crowds() -> None:
    """A namespace with 40 processes shows one '40 processes' leaf; small ones keep theirs."""
    lab = FakeLab()
    lab.namespace(monotonic="1h")
    tree = prune_members(lab_tree(lab, members=3), max_members=5)
    host_kids = tree.children["time:1"]
    assert [k for k in host_kids if tree.nodes[k].kind == "process"] == ["time:1:members"]
    assert tree.nodes["time:1:members"].label == "40 processes"
    ns_key = next(k for k in host_kids if tree.nodes[k].kind == "time")
    assert len(tree.children[ns_key]) == 3
    assert all(k in tree.nodes for kids in tree.children.values() for k in kids)


def test_selection_is_shared_three_ways(dash: Dashboard) -> None:
    """Picking in the tree selects in the panel and the plot; the panel's choice moves the
    tree's ring."""
    a = dash.panel.create()
    b = dash.panel.create()
    dash.view.step()
    dash.tree.update(lab_tree(dash.lab))
    dash.tree.select(f"time:{a.inode}", notify=True)
    assert f"time:{a.inode}" == dash.panel.selected
    assert a.name == dash.panel.namespace.value
    dash.panel.namespace.value = b.name
    assert f"time:{b.inode}" == dash.tree.selected
    assert tuple(dash.tree.positions[f"time:{b.inode}"]) == tuple(dash.tree.ring.get_offsets()[0])


def test_tree_uses_the_lab_names(dash: Dashboard) -> None:
    """The tree labels the lab's namespaces as the panel and legend do ("ns1 +1h/0")."""
    dash.panel.monotonic.value.value, dash.panel.monotonic.unit.value = 1, "h"
    ns = dash.panel.create()
    dash._last_refresh = 0.0
    dash.view.step()
    dash.view.step()
    texts = [t.get_text() for t in dash.tree.labels if t.get_visible()]
    assert f"{ns.label} (pending)" in texts


def test_runs_headless_until_its_source_ends(dash: Dashboard) -> None:
    """With a tree (never 'done') the loop runs to its duration and both figures are final."""
    dash.view.duration = 0.5
    asyncio.run(dash.view.run(show=False))
    assert dash.plot.frames >= 2
    assert dash.tree.keys
    assert not dash.plot.status.get_animated()


def test_snapshot_stacks_both_figures(dash: Dashboard) -> None:
    """snapshot() returns one PNG as tall as the tree and the plot together."""
    import io

    from PIL import Image

    dash.view.step()
    png = dash.snapshot()
    height = Image.open(io.BytesIO(png)).height
    dpi = dash.plot.fig.dpi
    assert round(dash.tree.fig.get_figheight() * dpi + dash.plot.fig.get_figheight() * dpi) \
        == height


def test_recycled_inode_is_not_given_the_old_name(dash: Dashboard) -> None:
    """A node with the inode of a lab namespace but another NS_GET_ID keeps its own label."""
    ns = dash.panel.create()
    ns.ns_id = 4242
    tree = lab_tree(dash.lab)
    key = f"time:{ns.inode}"
    node = tree.nodes[key]
    tree.nodes[key] = dataclasses.replace(node, ns_id=4242)
    dash.tree.update(tree)
    assert dash.names()[key] == ns.label
    tree.nodes[key] = dataclasses.replace(node, ns_id=9999, label="time 77 +1h/+2h")
    dash.tree.update(tree)
    assert key not in dash.names()
    ns.close()
    assert key not in dash.names()
