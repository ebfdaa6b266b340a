"""discover() over a fake /proc, the owner and lineage trees, and the ``tree`` command output."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from timens_lab import cli, kernel
from timens_lab.commands import tree as tree_cmd
from timens_lab.discovery import trees
from timens_lab.discovery.scan import (
    INIT_TIME_INODE,
    INIT_USER_INODE,
    Discovery,
    NamespaceInfo,
    Process,
    UserNamespace,
    discover,
)
from timens_lab.offsets import Offsets

from .fakeproc import INIT_TIME, FakeProc, build

A, P, B, F, T, M = 4026532200, 4026532300, 4026532400, 4026532500, 4026532600, 4026532700
NOWHERE = "/nonexistent/timens-lab-test/ns"
ZERO = Offsets(0, 0)


def scenario() -> list[FakeProc]:
    """init → bash → unshare(A) → sleep in A → child in B; a pending holder of P; an fd on F;
    a thread holding T; a bind mount of M."""
    return [
        FakeProc(pid=1, comm="init", ppid=0, starttime=1,
                 mountinfo=f"42 27 0:4 time:[{M}] {NOWHERE} rw - nsfs nsfs rw\n"),
        FakeProc(pid=100, comm="bash", ppid=1, starttime=10),
        FakeProc(pid=200, comm="unshare", ppid=100, tfc=A, starttime=20, offsets=(123, 456)),
        FakeProc(pid=201, comm="sleep", ppid=200, time=A, starttime=21, offsets=(123, 456)),
        FakeProc(pid=300, comm="python", ppid=100, tfc=P, starttime=30, offsets=(3600, 7200)),
        FakeProc(pid=400, comm="child", ppid=201, time=B, starttime=40, offsets=(123, 999)),
        FakeProc(pid=500, comm="keeper", ppid=1, starttime=50, fds={3: f"time:[{F}]"}),
        FakeProc(pid=600, comm="jupyter", ppid=1, starttime=60, threads={601: (INIT_TIME, T)}),
    ]


@pytest.fixture
def fake(tmp_path: Path) -> Discovery:
    return discover(build(tmp_path / "proc", scenario()))


class TestDiscoverOnAFakeTree:
    def test_every_namespace_once(self, fake: Discovery) -> None:
        """Every way of pinning a namespace finds it, deduplicated by inode."""
        assert [ns.inode for ns in fake.namespaces] == [INIT_TIME, A, P, B, F, T, M]

    def test_members_eldest_first(self, fake: Discovery) -> None:
        """Members are the processes whose ns/time it is, eldest (starttime) first."""
        init = fake.get(INIT_TIME)
        assert init is not None
        assert [p.pid for p in init.members] == [1, 100, 200, 300, 500, 600]

    @pytest.mark.parametrize(("inode", "state", "frozen", "sources"), [
        (A, "active", True, ("process", "time_for_children")),
        (P, "pending", None, ("time_for_children",)),
        (F, "held", True, ("fd",)),
        (T, "pending", None, ("thread",)),
        (M, "held", True, ("mount",)),
    ])
    def test_state_and_sources(self, fake: Discovery, inode: int, state: str,
                               frozen: bool | None, sources: tuple[str, ...]) -> None:
        """State follows from who pins it; a pending namespace's frozenness is unknown."""
        ns = fake.get(inode)
        assert ns is not None
        assert (state, frozen, sources) == (ns.state, ns.frozen, ns.sources)

    def test_holders_fds_threads_mounts(self, fake: Discovery) -> None:
        """Each record names what pins it."""
        got = [fake.get(i) for i in (A, F, T, M)]
        assert None not in got
        a, f, t, m = (g for g in got if g is not None)
        pins = (a.holders, f.fds, t.threads, m.mounts)
        assert pins == ((200,), ((500, 3),), ((600, 601),), (NOWHERE,))

    @pytest.mark.parametrize(("inode", "offsets", "via"), [
        (INIT_TIME, Offsets(0, 0), "pid 1"),
        (A, Offsets(123 * 10**9, 456 * 10**9), "pid 201"),
        (P, Offsets(3600 * 10**9, 7200 * 10**9), "pid 300"),
        (T, Offsets(10**9, 10**9), "tid 601"),
    ])
    def test_offsets_through_time_for_children(self, fake: Discovery, inode: int,
                                               offsets: Offsets, via: str) -> None:
        """Offsets are read through a task whose time_for_children *is* the namespace."""
        ns = fake.get(inode)
        assert ns is not None
        assert (offsets, via) == (ns.offsets, ns.offsets_via)

    def test_holder_is_not_a_reader_of_its_own_clock(self, fake: Discovery) -> None:
        """The unsharer (time=init, tfc=A) does not lend A's offsets to init."""
        init = fake.get(INIT_TIME)
        assert init is not None
        assert Offsets(0, 0) == init.offsets

    def test_unopenable_is_labelled_not_guessed(self, fake: Discovery) -> None:
        """Fake links cannot be opened: no id, no owner, offsets of F unknown — and it says so."""
        f = fake.get(F)
        assert f is not None
        assert (f.ns_id, f.owner, f.offsets) == (None, (), None)
        assert any("could not be opened" in r for r in f.partial)
        assert any("offsets unreadable" in r for r in f.partial)
        assert fake.partial

    def test_gone_pid_is_skipped(self, tmp_path: Path) -> None:
        """A pid directory without ns links (exited mid-scan) is neither counted nor hidden."""
        proc = build(tmp_path / "proc", scenario()[:2])
        (Path(proc) / "777").mkdir()
        d = discover(proc)
        assert (0, {1, 100}) == (d.hidden_pids, set(d.processes))

    def test_more_fds_than_c_keeps(self, tmp_path: Path) -> None:
        """A process with many namespace fds (the engine's helper) has every one recorded."""
        fds = {10 + i: f"time:[{F + i}]" for i in range(kernel.MAX_NS_FDS + 3)}
        d = discover(build(tmp_path / "proc", [FakeProc(pid=1, comm="helper", fds=fds)]))
        held = {ns.inode: ns.fds for ns in d.namespaces if ns.state == "held"}
        assert held == {F + i: ((1, 10 + i),) for i in range(kernel.MAX_NS_FDS + 3)}

    def test_switches(self, tmp_path: Path) -> None:
        """fds/threads/mounts=False drop exactly the namespaces only those passes find."""
        d = discover(build(tmp_path / "proc", scenario()), fds=False, threads=False,
                     mounts=False)
        assert [ns.inode for ns in d.namespaces] == [INIT_TIME, A, P, B]


# --- trees from hand-made records


def ns(inode: int, *, owner: tuple[int, ...] = (INIT_USER_INODE,),
       members: tuple[Process, ...] = (), holders: tuple[int, ...] = (),
       offsets: Offsets | None = ZERO, state: str = "active",
       partial: tuple[str, ...] = ()) -> NamespaceInfo:
    return NamespaceInfo(inode, None, state, True if state == "active" else None,  # type: ignore[arg-type]
                         offsets, "pid 1", owner, members, holders, (), (), (), ("process",),
                         partial)


def proc(pid: int, ppid: int, time: int, start: int, tfc: int | None = None) -> Process:
    return Process(pid, ppid, f"p{pid}", 0, start, time, time if tfc is None else tfc)


U1 = 4026532100
HOUR = 3600 * 10**9


def made(namespaces: list[NamespaceInfo], procs: list[Process]) -> Discovery:
    users = {INIT_USER_INODE: UserNamespace(INIT_USER_INODE, None, 0, 1),
             U1: UserNamespace(U1, INIT_USER_INODE, 1000, 7)}
    return Discovery(tuple(namespaces), users, {p.pid: p for p in procs}, 0, INIT_USER_INODE)


@pytest.fixture
def family() -> Discovery:
    """init ⊃ X (+1h, by p10) ⊃ Y (+1h inherited, +2h boottime set, rootless under U1);
    pending Z held by p30 in X; W with unknown owner."""
    p1, p10, p11 = proc(1, 0, INIT_TIME_INODE, 1), proc(10, 1, INIT_TIME_INODE, 5, 1), \
        proc(11, 10, 1, 6)
    p20, p30 = proc(20, 11, 2, 9), proc(30, 11, 1, 12, tfc=3)
    return made([
        ns(INIT_TIME_INODE, members=(p1, p10)),
        ns(1, members=(p11, p30), offsets=Offsets(HOUR, 0)),
        ns(2, owner=(U1, INIT_USER_INODE), members=(p20,), offsets=Offsets(HOUR, 2 * HOUR)),
        ns(3, holders=(30,), state="pending", offsets=Offsets(HOUR, 0)),
        ns(4, owner=(), offsets=None, state="held", partial=("owner hidden",)),
    ], [p1, p10, p11, p20, p30])


class TestOwnerTree:
    def test_shape(self, family: Discovery) -> None:
        """User namespaces nest by parent; time namespaces sit under their owner; members below."""
        t = trees.owner_tree(family)
        assert ["time:4", f"user:{INIT_USER_INODE}"] == t.roots  # inode order
        assert ["time:1", "time:3", f"time:{INIT_TIME_INODE}", f"user:{U1}"] == \
            t.children[f"user:{INIT_USER_INODE}"]
        assert t.children[f"user:{U1}"] == ["time:2"]
        assert t.children["time:1"] == ["pid:11", "pid:30"]

    def test_children_sorted_by_inode(self, family: Discovery) -> None:
        """Siblings come in inode order, so a redraw never reshuffles them."""
        t = trees.owner_tree(family)
        kids = t.children[f"user:{INIT_USER_INODE}"]
        assert kids == sorted(kids, key=lambda k: t.nodes[k].inode or 0)

    def test_time_node_fields(self, family: Discovery) -> None:
        """A time node carries offsets, state and partialness for the views."""
        t = trees.owner_tree(family)
        z, w = t.nodes["time:3"], t.nodes["time:4"]
        assert (z.state, z.monotonic_ns, z.boottime_ns, z.partial) == ("pending", HOUR, 0, False)
        assert (w.monotonic_ns, w.partial, w.label) == (None, True, "time 4 ? held")

    def test_without_members(self, family: Discovery) -> None:
        """members=False leaves out process nodes."""
        assert not [n for n in trees.owner_tree(family, members=False).nodes.values()
                    if n.kind == "process"]

    def test_walk_visits_everything(self, family: Discovery) -> None:
        """Every node is reachable from the roots exactly once."""
        t = trees.owner_tree(family)
        assert sorted(t.nodes) == sorted(n.key for _, n in t.walk())


class TestLineage:
    def test_creators_from_the_process_tree(self, family: Discovery) -> None:
        """Creator = the namespace of the eldest member's nearest ancestor outside it, or of the
        eldest holder for a pending one; unknown when nothing points anywhere."""
        got = {i: c for i, (c, _) in trees.creators(family).items()}
        assert got == {INIT_TIME_INODE: None, 1: INIT_TIME_INODE, 2: 1, 3: 1, 4: None}

    def test_hints_win(self, family: Discovery) -> None:
        """Spawn records override the process tree; unknown or self hints are ignored."""
        got = trees.creators(family, {2: INIT_TIME_INODE, 3: 999, 1: 1})
        assert got[2] == (INIT_TIME_INODE, "spawn record")
        assert got[3][0] == 1
        assert got[1][0] == INIT_TIME_INODE

    def test_tree_and_inheritance(self, family: Discovery) -> None:
        """Edges follow creators; details say which offsets were inherited and which set."""
        t = trees.lineage_tree(family)
        assert [f"time:{INIT_TIME_INODE}", "time:4"] == t.roots
        assert "time:2" in t.children["time:1"]
        assert t.nodes["time:2"].detail.startswith("monotonic +1h inherited, boottime +2h set")

    def test_cycle_is_cut(self) -> None:
        """Two namespaces that each look created by the other: one link is dropped, not looped."""
        a, b = proc(5, 6, 1, 1), proc(6, 5, 2, 2)
        d = made([ns(1, members=(a,)), ns(2, members=(b,))], [a, b])
        got = trees.creators(d)
        assert sum(c is None for c, _ in got.values()) == 1
        assert any("cycle" in how for _, how in got.values())
        t = trees.lineage_tree(d)
        assert len(t.nodes) == len(list(t.walk()))

    def test_hidden_ancestors(self) -> None:
        """A member whose parents are invisible has an unknown creator, said in words."""
        a = proc(5, 99, 1, 1)
        creator, how = trees.creators(made([ns(1, members=(a,))], [a]))[1]
        assert (creator, "hidden or gone" in how) == (None, True)


class TestCommandOutput:
    def test_text_like_lsns(self, family: Discovery) -> None:
        """Rows are namespaces with lsns-style branches; offsets as +1h/+2h; pending marked."""
        text = tree_cmd.render_text(family, "owner")
        lines = text.splitlines()
        assert lines[0].split() == ["NS", "TYPE", "STATE", "NPROCS", "PID", "USER", "MONO/BOOT",
                                    "COMMAND"]
        row2 = next(line for line in lines if line.startswith("  └─2 "))
        assert "+1h/+2h" in row2
        row3 = next(line for line in lines if line.startswith("├─3 "))
        assert "pending" in row3
        assert "(p30: time_for_children)" in row3
        row4 = next(line for line in lines if line.startswith("4 "))
        assert row4.split() == ["4", "time", "held*", "0", "?"]

    def test_processes_flag(self, family: Discovery) -> None:
        """-p adds one row per member under its namespace."""
        text = tree_cmd.render_text(family, "lineage", processes=True)
        assert sum(" proc " in line for line in text.splitlines()) == 5

    def test_json_schema_v1(self, family: Discovery) -> None:
        """The JSON has every documented key, and round-trips through json."""
        doc = json.loads(json.dumps(tree_cmd.as_json(family, "lineage")))
        assert {"version", "by", "partial", "notes", "hidden_pids", "self_userns",
                "user_namespaces", "namespaces", "tree"} == set(doc)
        assert (doc["version"], doc["by"]) == (1, "lineage")
        n2 = next(n for n in doc["namespaces"] if n["inode"] == 2)
        assert {"inode", "ns_id", "state", "frozen", "initial", "offsets", "offsets_via",
                "owner", "creator", "creator_how", "nprocs", "members", "holders", "threads",
                "fds", "mounts", "sources", "partial", "container"} == set(n2)
        assert (n2["offsets"], n2["creator"], n2["owner"]) == \
            ({"monotonic_ns": HOUR, "boottime_ns": 2 * HOUR, "monotonic": "+1h",
                 "boottime": "+2h"}, 1, [U1, INIT_USER_INODE])
        assert {"key", "kind", "label", "inode", "ns_id", "pid", "state", "container",
                "children"} == \
            set(doc["tree"][0])

    def test_json_tree_nests_like_the_tree(self, family: Discovery) -> None:
        """The nested JSON tree holds every node of the Tree exactly once."""
        doc = tree_cmd.as_json(family, "owner")
        keys: list[str] = []
        stack: list[dict[str, Any]] = list(doc["tree"])
        while stack:
            node = stack.pop()
            keys.append(node["key"])
            stack.extend(node["children"])
        assert sorted(trees.owner_tree(family).nodes) == sorted(keys)


class TestCli:
    @pytest.mark.parametrize("value", ["0", "-1", "abc", "nan", "1e9"])
    def test_bad_interval(self, value: str, capsys: pytest.CaptureFixture[str]) -> None:
        """A bad --interval is a one-line error with a hint and exit status 2."""
        with pytest.raises(SystemExit) as exc:
            cli.main(["tree", "--watch", "--interval", value])
        err = capsys.readouterr().err
        assert (exc.value.code, "error: argument --interval" in err,
                                   "hint:" in err) == (2, True, True)

    @pytest.mark.parametrize("value", ["0", "-3", "x"])
    def test_bad_count(self, value: str, capsys: pytest.CaptureFixture[str]) -> None:
        """--count needs a whole number >= 1."""
        with pytest.raises(SystemExit) as exc:
            cli.main(["tree", "--watch", "--count", value])
        assert exc.value.code == 2
        assert "error: argument --count" in capsys.readouterr().err

    def test_bad_by(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--by accepts owner and lineage only."""
        with pytest.raises(SystemExit) as exc:
            cli.main(["tree", "--by", "parent"])
        assert exc.value.code == 2
        assert "invalid choice" in capsys.readouterr().err
