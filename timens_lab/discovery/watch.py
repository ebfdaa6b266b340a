"""Watch time namespaces: rescan and report what changed, for live trees and ``tree --watch``.

>>> w = Watcher()                                   # doctest: +SKIP
>>> w.poll()      # first call: one "appeared" per namespace   # doctest: +SKIP
>>> w.poll()      # later calls: only changes                  # doctest: +SKIP

Events: ``appeared``, ``frozen`` (a pending namespace got its first member, so its offsets can
no longer change), ``member_joined``, ``member_left``, ``vanished``.

Identity survives inode reuse (kernel-timens.md finding 9: a dead namespace's inode comes back
at once). Where the kernel has NS_GET_ID (Linux 6.18) a namespace *is* its id. Without it, a
namespace seen again under the same inode counts as the same one only if something that pinned
it before still does: a member or holder with the same (pid, starttime), the same fd, the same
bind mount. Members are keyed by (pid, starttime), so a recycled pid is a new member.

A rescan is a full discovery (~40 ms for 1,000 namespaces, bench/bench_discovery.py) on one
:class:`~timens_lab.discovery.scan.Scanner`, which keeps owner chains (re-checked by NS_GET_ID, not
walked again) and remembers which namespaces ever had members; the diff is by identity, so a
view redraws only what the events name.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Literal

from . import procfs
from .nsinfo import Discovery, NamespaceInfo
from .scan import Scanner

EventKind = Literal["appeared", "frozen", "member_joined", "member_left", "vanished"]
Key = tuple[str, int, int]   # ("id", ns_id, 0) or ("ino", inode, generation)


@dataclasses.dataclass(frozen=True, slots=True)
class Event:
    """One change. ``pid``/``comm`` are set for member events."""

    kind: EventKind
    inode: int
    ns_id: int | None
    state: str                  # the namespace's state after the change ("gone" when vanished)
    pid: int | None = None
    comm: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class _Seen:
    ns: NamespaceInfo
    members: dict[tuple[int, int], str]   # (pid, starttime) → comm
    anchors: frozenset[tuple[str, object]]


class Watcher:
    """Successive scans diffed into :class:`Event` lists; ``discovery`` is the latest snapshot."""

    def __init__(self, proc: str | os.PathLike[str] = procfs.PROC, *, threads: bool = True,
                 fds: bool = True, mounts: bool = True) -> None:
        self._scanner = Scanner(proc, threads=threads, fds=fds, mounts=mounts)
        self._seen: dict[Key, _Seen] = {}
        self._generation = itertools.count(1)
        self.discovery: Discovery | None = None

    def poll(self) -> list[Event]:
        """Rescan; return the changes since the last poll (every namespace on the first)."""
        d = self._scanner.scan()
        first = self.discovery is None
        events: list[Event] = []
        now: dict[Key, _Seen] = {}
        by_inode: dict[int, list[Key]] = {}
        for old_key, old_seen in self._seen.items():
            by_inode.setdefault(old_seen.ns.inode, []).append(old_key)
        for ns in d.namespaces:
            seen = _snapshot(ns, d)
            key = self._match(ns, seen, by_inode.get(ns.inode, ()))
            now[key] = seen
            old = self._seen.get(key)
            if old is None:
                events.append(Event("appeared", ns.inode, ns.ns_id, ns.state))
                continue
            if old.ns.frozen is not True and ns.frozen is True:
                events.append(Event("frozen", ns.inode, ns.ns_id, ns.state))
            for member in sorted(seen.members.keys() - old.members.keys()):
                events.append(Event("member_joined", ns.inode, ns.ns_id, ns.state,
                                    member[0], seen.members[member]))
            for member in sorted(old.members.keys() - seen.members.keys()):
                events.append(Event("member_left", ns.inode, ns.ns_id, ns.state,
                                    member[0], old.members[member]))
        for key, old in self._seen.items():
            if key not in now:
                events.append(Event("vanished", old.ns.inode, old.ns.ns_id, "gone"))
        self._seen = now
        self.discovery = d
        if first:
            return [e for e in events if e.kind == "appeared"]
        return events

    def follow(self, interval: float = 1.0, *, count: int | None = None,
               sleep: Callable[[float], None] = time.sleep) -> Iterator[list[Event]]:
        """Poll every ``interval`` seconds (``count`` times, or forever), yielding each batch."""
        for i in itertools.count():
            if count is not None and i >= count:
                return
            if i:
                sleep(interval)
            yield self.poll()

    def _match(self, ns: NamespaceInfo, seen: _Seen, candidates: Iterable[Key]) -> Key:
        if ns.ns_id is not None:
            key: Key = ("id", ns.ns_id, 0)
            if key in self._seen:
                return key
        # No id now (or first seen): reuse an earlier key for this inode only when something
        # that pinned it then still pins it now; otherwise the inode was recycled.
        for old_key in candidates:
            old = self._seen[old_key]
            same_id = ns.ns_id is not None and old.ns.ns_id == ns.ns_id
            unknown_id = ns.ns_id is None or old.ns.ns_id is None
            if same_id or (unknown_id and old.anchors & seen.anchors):
                return old_key
        if ns.ns_id is not None:
            return ("id", ns.ns_id, 0)
        return ("ino", ns.inode, next(self._generation))


def _snapshot(ns: NamespaceInfo, d: Discovery) -> _Seen:
    members = {(p.pid, p.starttime): p.comm for p in ns.members}
    anchors: set[tuple[str, object]] = {("proc", m) for m in members}
    for pid in ns.holders:
        p = d.processes.get(pid)
        if p is not None:
            anchors.add(("proc", (pid, p.starttime)))
    for pid, fd in ns.fds:
        p = d.processes.get(pid)
        anchors.add(("fd", (pid, p.starttime if p else None, fd)))
    anchors.update(("mount", m) for m in ns.mounts)
    return _Seen(ns, members, frozenset(anchors))
