"""The records discovery returns: plain immutable data, no /proc and no kernel calls.

:func:`timens_lab.discovery.scan.discover` builds a :class:`Discovery`; :mod:`timens_lab.discovery.trees`
turns it into trees; ``timens-lab tree --json`` serialises it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final, Literal, NamedTuple

from ..offsets import Offsets

if TYPE_CHECKING:
    from .containers import Container

NsState = Literal["pending", "active", "held"]
#: How a namespace was found: a member's ns/time, a holder's ns/time_for_children, a thread's
#: own time_for_children, an open fd, an nsfs bind mount.
SOURCES: Final = ("process", "time_for_children", "thread", "fd", "mount")
#: PROC_TIME_INIT_INO / PROC_USER_INIT_INO (include/linux/proc_ns.h).
INIT_TIME_INODE: Final = 0xEFFFFFFA
INIT_USER_INODE: Final = 0xEFFFFFFD


class Process(NamedTuple):
    """One visible process: what trees and members need (a NamedTuple: built per pid, cheaply)."""

    pid: int
    ppid: int
    comm: str
    uid: int                  # owner of /proc/PID: the euid, root if non-dumpable (as lsns)
    starttime: int            # clock ticks since boot: (pid, starttime) survives pid reuse
    time: int                 # inode of ns/time: the namespace whose clocks it reads
    time_for_children: int    # inode of ns/time_for_children
    container: Container | None = None  # the container it runs in, when files say (containers.py)


class UserNamespace(NamedTuple):
    """A user namespace on an owner chain."""

    inode: int
    parent: int | None        # None: the root of what we can see (NS_GET_USERNS said EPERM)
    owner_uid: int | None     # NS_GET_OWNER_UID: who created it
    ns_id: int | None


class NamespaceInfo(NamedTuple):
    """Everything discovery learnt about one time namespace (a NamedTuple: immutable, cheap).

    ``state``: *active* has members (so its offsets are frozen); *pending* has no member but a
    process or thread holds it as time_for_children, and no member was ever seen (``frozen`` is
    None: a member may have come and gone unseen, which the kernel does not show: only a write
    would tell); *held* has no member and frozen offsets: kept alive only by an fd or a bind
    mount (nothing can write its offsets any more), or a Scanner saw a member leave.
    """

    inode: int
    ns_id: int | None                      # NS_GET_ID (Linux 6.18), unique while the system runs
    state: NsState
    frozen: bool | None
    offsets: Offsets | None                # None: could not be read (see partial)
    offsets_via: str | None                # "pid 123", "tid 124" or "setns"
    owner: tuple[int, ...]                 # owning user ns, then its ancestors up to our root
    members: tuple[Process, ...]           # processes whose ns/time is this; eldest first
    holders: tuple[int, ...]               # pids holding it only as time_for_children
    threads: tuple[tuple[int, int], ...]   # (pid, tid): threads whose own time_for_children it is
    fds: tuple[tuple[int, int], ...]       # (pid, fd) open on it
    mounts: tuple[str, ...]                # bind mounts: ours first, then other mount
                                           # namespaces' copies as /proc/PID/root/...
    sources: tuple[str, ...]               # subset of SOURCES, in that order
    partial: tuple[str, ...] = ()          # what we could not read about it (empty: complete)
    container: Container | None = None     # the container whose namespace this is (its members')

    @property
    def key(self) -> str:
        """Tree key, ``time:INODE`` (unique within one discovery)."""
        return f"time:{self.inode}"

    @property
    def is_initial(self) -> bool:
        return self.inode == INIT_TIME_INODE


@dataclasses.dataclass(frozen=True)
class Discovery:
    """One snapshot: time namespaces sorted by inode, plus what they refer to."""

    namespaces: tuple[NamespaceInfo, ...]
    user_namespaces: Mapping[int, UserNamespace]
    processes: Mapping[int, Process]
    hidden_pids: int                   # processes whose ns links we may not read
    self_userns: int | None            # our own user namespace: the top of every visible chain
    notes: tuple[str, ...] = ()        # why the view is partial, in words

    @property
    def partial(self) -> bool:
        """True when something was hidden from us; counts are then lower bounds."""
        return bool(self.notes) or any(ns.partial for ns in self.namespaces)

    def get(self, inode: int) -> NamespaceInfo | None:
        """The namespace with this inode, or None."""
        for ns in self.namespaces:
            if ns.inode == inode:
                return ns
        return None
