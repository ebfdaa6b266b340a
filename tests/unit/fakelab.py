"""A fake Lab with the public API the panel and dashboard drive (tests only).

namespace (durations or offsets=)/enter/namespaces, offsets (get and set) and set_offsets,
spawn, close, sampler: the same duration parsing and the same typed errors as the real Lab, no
processes.
"""

from __future__ import annotations

import itertools
from typing import Any

from timens_lab.errors import OffsetsFrozenError, SpawnError
from timens_lab.offsets import Offsets, format_duration, parse_duration

_inodes = itertools.count(4026532400)


class FakeChild:
    def __init__(self, argv: list[str]) -> None:
        self.argv = argv
        self.pid = 40000 + next(_inodes) % 1000
        self.killed = False

    def kill(self) -> None:
        self.killed = True

    def wait(self, timeout: float | None = None) -> int:
        return -9


class FakeSampler:
    def __init__(self, ns: Any, rate: float | None, clocks: tuple[str, ...]) -> None:
        self.ns, self.rate, self.clocks = ns, rate, clocks
        self.calls: list[str] = []

    def pause(self) -> None:
        self.calls.append("pause")

    def resume(self) -> None:
        self.calls.append("resume")

    def stop(self) -> None:
        self.calls.append("stop")


class FakeNamespace:
    def __init__(self, lab: FakeLab, name: str, offsets: Offsets, rootless: bool) -> None:
        self.lab, self.name, self._offsets, self.rootless = lab, name, offsets, rootless
        self.inode = next(_inodes)
        self.frozen = False
        self.closed = False
        self.spawned: list[FakeChild] = []
        self.samplers: list[FakeSampler] = []

    @property
    def state(self) -> str:
        return "closed" if self.closed else "frozen" if self.frozen else "pending"

    @property
    def offsets(self) -> Offsets:
        return self._offsets

    @property
    def label(self) -> str:
        return (f"{self.name} {format_duration(self._offsets.monotonic_ns)}/"
                f"{format_duration(self._offsets.boottime_ns)}")

    @offsets.setter
    def offsets(self, value: Offsets) -> None:
        if self.frozen:
            raise OffsetsFrozenError("offsets frozen: a process already entered this namespace")
        self._offsets = value

    def set_offsets(self, monotonic: Any = None, boottime: Any = None) -> Offsets:
        if self.frozen:
            raise OffsetsFrozenError("offsets frozen: a process already entered this namespace")
        self._offsets = Offsets(
            parse_duration(monotonic) if monotonic is not None else self._offsets.monotonic_ns,
            parse_duration(boottime) if boottime is not None else self._offsets.boottime_ns)
        return self._offsets

    def spawn(self, argv: list[str]) -> FakeChild:
        if argv[0] == "no-such-command":
            raise SpawnError("no-such-command: not found")
        self.frozen = True
        child = FakeChild(argv)
        self.spawned.append(child)
        return child

    def sampler(self, rate: float | None = None, clocks: tuple[str, ...] = ()) -> FakeSampler:
        self.frozen = True
        sampler = FakeSampler(self, rate, clocks)
        self.samplers.append(sampler)
        return sampler

    def close(self) -> None:
        self.closed = True


class FakeJoined:
    state = "frozen"

    def __init__(self, pid: int) -> None:
        self.inode = next(_inodes)
        self.pid = pid
        self.spawned: list[FakeChild] = []

    def spawn(self, argv: list[str]) -> FakeChild:
        child = FakeChild(argv)
        self.spawned.append(child)
        return child


class FakeLab:
    def __init__(self) -> None:
        self._all: list[FakeNamespace] = []
        self.calls: list[tuple[Any, ...]] = []

    def namespace(self, monotonic: Any = None, boottime: Any = None, *,
                  offsets: Offsets | None = None, rootless: bool | None = None) -> FakeNamespace:
        self.calls.append(("namespace", monotonic, boottime, offsets, rootless))
        if offsets is None:
            offsets = Offsets(parse_duration(monotonic) if monotonic is not None else 0,
                              parse_duration(boottime) if boottime is not None else 0)
        ns = FakeNamespace(self, f"ns{len(self._all) + 1}", offsets, bool(rootless))
        self._all.append(ns)
        return ns

    def enter(self, pid: int) -> FakeJoined:
        self.calls.append(("enter", pid))
        if pid <= 0:
            from timens_lab.errors import NoSuchNamespaceError

            raise NoSuchNamespaceError(f"no process {pid}")
        return FakeJoined(pid)

    @property
    def namespaces(self) -> list[FakeNamespace]:
        return [ns for ns in self._all if not ns.closed]


