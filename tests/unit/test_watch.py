"""Watcher events from successive scans of a fake /proc that changes between polls."""

from __future__ import annotations

from pathlib import Path

import pytest

from timens_lab.discovery.watch import Event, Watcher

from .fakeproc import INIT_TIME, FakeProc, build, remove, write

A, P, F = 4026532200, 4026532300, 4026532500


@pytest.fixture
def root(tmp_path: Path) -> Path:
    build(tmp_path / "proc", [
        FakeProc(pid=1, comm="init", ppid=0, starttime=1),
        FakeProc(pid=200, comm="unshare", ppid=1, tfc=A, starttime=20),
        FakeProc(pid=201, comm="sleep", ppid=200, time=A, starttime=21),
        FakeProc(pid=300, comm="python", ppid=1, tfc=P, starttime=30),
        FakeProc(pid=500, comm="keeper", ppid=1, starttime=50, fds={3: f"time:[{F}]"}),
    ])
    return tmp_path / "proc"


def kinds(events: list[Event]) -> list[tuple[str, int, int | None]]:
    return [(e.kind, e.inode, e.pid) for e in events]


def test_first_poll_is_one_appeared_per_namespace(root: Path) -> None:
    """The first poll reports each namespace once, not each of its members."""
    w = Watcher(str(root))
    assert kinds(w.poll()) == [("appeared", i, None) for i in (INIT_TIME, A, P, F)]


def test_nothing_changed(root: Path) -> None:
    """A rescan of an unchanged system reports nothing."""
    w = Watcher(str(root))
    w.poll()
    assert w.poll() == []


def test_member_joined_and_left(root: Path) -> None:
    """A new process in A is a join; its exit is a leave."""
    w = Watcher(str(root))
    w.poll()
    write(root, FakeProc(pid=202, comm="worker", ppid=201, time=A, starttime=22))
    assert kinds(w.poll()) == [("member_joined", A, 202)]
    remove(root, 202)
    assert kinds(w.poll()) == [("member_left", A, 202)]


def test_pending_freezes(root: Path) -> None:
    """The first member of a pending namespace freezes it: frozen, then the join."""
    w = Watcher(str(root))
    w.poll()
    write(root, FakeProc(pid=301, comm="child", ppid=300, time=P, starttime=31))
    events = w.poll()
    assert kinds(events) == [("frozen", P, None), ("member_joined", P, 301)]
    assert events[0].state == "active"


def test_vanished(root: Path) -> None:
    """When the last thing pinning a namespace goes, it vanishes."""
    w = Watcher(str(root))
    w.poll()
    remove(root, 500)
    events = w.poll()
    assert kinds(events) == [("member_left", INIT_TIME, 500), ("vanished", F, None)]
    assert events[1].state == "gone"


def test_inode_reuse_without_id(root: Path) -> None:
    """Same inode, but nothing that pinned it before still does: a new namespace, not a join."""
    w = Watcher(str(root))
    w.poll()
    remove(root, 200)
    remove(root, 201)
    write(root, FakeProc(pid=250, comm="other", ppid=1, time=A, starttime=90))
    events = kinds(w.poll())
    assert ("vanished", A, None) in events
    assert ("appeared", A, None) in events
    assert not [e for e in events if e[0] == "member_joined"]


def test_pid_reuse_is_a_new_member(root: Path) -> None:
    """A recycled pid (new starttime) is a leave plus a join, keyed by (pid, starttime)."""
    w = Watcher(str(root))
    w.poll()
    write(root, FakeProc(pid=202, comm="a", ppid=201, time=A, starttime=22))
    w.poll()
    remove(root, 202)
    write(root, FakeProc(pid=202, comm="b", ppid=201, time=A, starttime=95))
    assert kinds(w.poll()) == [("member_joined", A, 202), ("member_left", A, 202)]


def test_follow_counts_and_sleeps(root: Path) -> None:
    """follow() polls `count` times with `interval` sleeps in between."""
    slept: list[float] = []
    batches = list(Watcher(str(root)).follow(0.25, count=3, sleep=slept.append))
    assert (len(batches), slept) == (3, [0.25, 0.25])
