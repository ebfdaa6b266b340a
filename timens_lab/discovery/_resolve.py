"""Pass 2 of discovery, per namespace: turn what C read into a :class:`NamespaceInfo`.

The common case costs nothing here: C (``kernel.query_namespaces``) already read the offsets,
NS_GET_ID and the owning user namespace. This module adds what needs memory or care: owner
chains (walked once per user namespace, then cached), namespaces only a bind mount pins, and
the setns probe for offsets no process can show — never for a namespace someone may still
write (see the discovery module docstring).
"""

from __future__ import annotations

import dataclasses
import errno
import os

from .. import kernel
from ..offsets import Offsets
from .nsinfo import INIT_USER_INODE, NamespaceInfo, NsState, Process, UserNamespace

# Candidate kinds for kernel.query_namespaces (05-discovery.cdef.h).
_MEMBER, _HOLDER, _THREAD, _FD = 1, 2, 3, 4


@dataclasses.dataclass
class Pins:
    """Everything pass 1 saw pinning one namespace."""

    members: list[Process] = dataclasses.field(default_factory=list)
    holders: list[int] = dataclasses.field(default_factory=list)
    thread_holders: list[tuple[int, int]] = dataclasses.field(default_factory=list)
    fds: list[tuple[int, int]] = dataclasses.field(default_factory=list)
    mounts: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (shown, open path)


class Resolver:
    """Per-namespace resolution with caches that outlive one scan (keyed so reuse is caught):
    user namespaces by inode + NS_GET_ID, interned offsets, and which NS_GET_IDs ever had
    members (so a pending namespace whose first member already left still reads as frozen)."""

    def __init__(self, proc: str) -> None:
        self.proc = proc
        self._users: dict[int, UserNamespace] = {}
        self._offsets: dict[tuple[int, int], Offsets] = {}  # interned: equal offsets share one
        self._had_members: set[int | None] = set()          # ns_ids
        self._chains: dict[int, tuple[int, ...]] = {}       # user ns inode → chain; one scan

    @property
    def has_users(self) -> bool:
        """Cached user namespaces exist, so owners' NS_GET_IDs are needed to validate them."""
        return bool(self._users)

    def begin(self) -> None:
        """Start a scan: chains are trusted within one scan only."""
        self._chains.clear()

    def end(self, namespaces: tuple[NamespaceInfo, ...]) -> None:
        """Forget what belonged to namespaces that are gone."""
        self._had_members &= {ns.ns_id for ns in namespaces}
        owners = {ino for ns in namespaces for ino in ns.owner}
        self._users = {ino: u for ino, u in self._users.items() if ino in owners}
        self._chains.clear()
        if len(self._offsets) > 4096:
            self._offsets.clear()

    def resolve(self, inode: int, acc: Pins, a: kernel.NsQuery, self_userns: int | None,
                 users: dict[int, UserNamespace]) -> NamespaceInfo:
        # Hot: runs once per namespace. Empty lists are the rule, hence the `if x else ()`.
        members = tuple(acc.members)  # Scanner sorted them eldest first
        active = bool(members)
        holding = bool(acc.holders or acc.thread_holders)
        partial: list[str] = []
        ns_id = a.ns_id
        fd: int | None = None
        try:
            if a.open_err and acc.mounts:  # only a bind mount pins it: open that path here
                fd = _open_checked([path for _, path in acc.mounts[:3]], inode)
                ns_id = None if fd is None else _ns_id(fd)
            opened = fd is not None or a.open_err == 0
            if not opened:
                partial.append(f"namespace file could not be opened ({_errname(a.open_err)}): "
                               "no id or owner")
            owner, note = self._owner(inode, acc, a, fd=fd, opened=opened, self_userns=self_userns)
            if note:
                partial.append(note)
            offsets, via, why = self._read_offsets(inode, acc, a, fd=fd, active=active,
                                                   holding=holding)
            if why:
                partial.append(why)
        finally:
            if fd is not None:
                os.close(fd)
        for ino in owner:
            if ino not in users:
                users[ino] = self._users.get(ino) or UserNamespace(ino, None, None, None)
        if ns_id is not None and active:
            self._had_members.add(ns_id)
        # Pending only while no member was ever seen: one that came and went froze the offsets
        # (kernel-timens.md finding 6), so the namespace is then held, not pending. A fresh scan
        # cannot see that history (the kernel shows none): frozen is then None, "cannot tell".
        seen = ns_id is not None and ns_id in self._had_members
        state: NsState = "active" if active else "pending" if holding and not seen else "held"
        frozen = True if active or state == "held" else None
        sources = []
        if members:
            sources.append("process")
        if acc.holders:
            sources.append("time_for_children")
        if acc.thread_holders:
            sources.append("thread")
        if acc.fds:
            sources.append("fd")
        if acc.mounts:
            sources.append("mount")
        return NamespaceInfo(
            inode, ns_id, state, frozen, offsets, via, owner, members,
            tuple(sorted(acc.holders)) if acc.holders else (),
            tuple(sorted(acc.thread_holders)) if acc.thread_holders else (),
            tuple(sorted(acc.fds)) if acc.fds else (),
            tuple(dict.fromkeys(shown for shown, _ in acc.mounts)) if acc.mounts else (),
            tuple(sources), tuple(partial))

    def _owner(self, inode: int, acc: Pins, a: kernel.NsQuery, *, fd: int | None, opened: bool,
               self_userns: int | None) -> tuple[tuple[int, ...], str | None]:
        if not opened:
            return (), None
        if fd is None and a.user_err:
            return (), f"owner hidden: NS_GET_USERNS {_errname(a.user_err)}"
        if fd is None:  # the common case: C already named the owner; the rest is cached
            chain = self._chains.get(a.user_inode)  # this scan: the owner cannot have changed
            if chain is not None:
                return chain, None
            known = self._users.get(a.user_inode)   # earlier scans: only if NS_GET_ID agrees
            if known is not None and known.ns_id is not None and known.ns_id == a.user_ns_id:
                chain = self._chains[a.user_inode] = (a.user_inode, *self._cached_chain(known))
                return chain, None
            fd = self._open(inode, acc)
            if fd is None:
                return (a.user_inode,), "owner chain unreadable: the namespace moved on"
            try:
                chain, note = self._owner_chain(fd, self_userns)
            finally:
                os.close(fd)
            if chain and not note:
                self._chains[chain[0]] = chain
            return chain, note
        return self._owner_chain(fd, self_userns)

    def _open(self, inode: int, acc: Pins) -> int | None:
        """An O_RDONLY nsfs fd on the namespace, checked by inode (the pid may have moved on)."""
        proc = self.proc
        paths = [f"{proc}/{p.pid}/ns/time" for p in acc.members[:3]]
        paths += [f"{proc}/{pid}/ns/time_for_children" for pid in acc.holders[:3]]
        paths += [f"{proc}/{pid}/task/{tid}/ns/time_for_children"
                  for pid, tid in acc.thread_holders[:3]]
        paths += [f"{proc}/{pid}/fd/{fd}" for pid, fd in acc.fds[:3]]
        paths += [path for _, path in acc.mounts[:3]]
        return _open_checked(paths, inode)

    def _owner_chain(self, fd: int, self_userns: int | None) -> tuple[tuple[int, ...], str | None]:
        """NS_GET_USERNS from the time namespace, then from each user namespace up to the root.

        On a user namespace NS_GET_USERNS yields its parent; it says EPERM at the initial one
        and above the caller's own user namespace (fs/nsfs.c ns_get_owner), which is where our
        view ends. EPERM anywhere else means the chain is cut, and the record says so.
        """
        try:
            ufd = kernel.ns_ioctl(fd, kernel.NS_GET_USERNS)
        except OSError as err:
            return (), f"owner hidden: NS_GET_USERNS {_errname(-(err.errno or 0))}"
        chain: list[int] = []
        note = None
        try:
            while True:
                ino = os.fstat(ufd).st_ino
                chain.append(ino)
                known = self._users.get(ino)
                ns_id = _ns_id(ufd)
                if known is not None and known.ns_id is not None and known.ns_id == ns_id:
                    chain.extend(self._cached_chain(known))
                    break
                try:
                    pfd = kernel.ns_ioctl(ufd, kernel.NS_GET_USERNS)
                except OSError:
                    self._users[ino] = UserNamespace(ino, None, _owner_uid(ufd), ns_id)
                    if ino not in (self_userns, INIT_USER_INODE):
                        note = f"owner chain hidden above user namespace {ino}"
                    break
                parent = os.fstat(pfd).st_ino
                self._users[ino] = UserNamespace(ino, parent, _owner_uid(ufd), ns_id)
                os.close(ufd)
                ufd = pfd
        finally:
            os.close(ufd)
        return tuple(chain), note

    def _cached_chain(self, user: UserNamespace) -> list[int]:
        out: list[int] = []
        seen = {user.inode}
        while user.parent is not None and user.parent not in seen:
            out.append(user.parent)
            seen.add(user.parent)
            nxt = self._users.get(user.parent)
            if nxt is None:
                break
            user = nxt
        return out

    def _read_offsets(self, inode: int, acc: Pins, a: kernel.NsQuery, *, fd: int | None,
                      active: bool, holding: bool
                      ) -> tuple[Offsets | None, str | None, str | None]:
        """(offsets, how, why-not). Through a time_for_children link first (finding 7)."""
        if a.offsets_err == 0:
            pair = (a.monotonic_ns, a.boottime_ns)
            off = self._offsets.get(pair) or self._offsets.setdefault(pair, Offsets(*pair))
            tid = acc.thread_holders and any(t == a.offsets_reader for _, t in acc.thread_holders)
            return off, f"{'tid' if tid else 'pid'} {a.offsets_reader}", None
        if holding and not active:
            # Pending: entering would freeze offsets someone may still write. Never do that.
            return None, None, "offsets unreadable: its holders moved on mid-scan"
        own = fd is None
        if own:
            fd = self._open(inode, acc)
        if fd is None:
            return None, None, "offsets unreadable: no process or file to read them through"
        try:
            return Offsets.from_proc(kernel.timens_offsets_via_setns(fd)), "setns", None
        except (OSError, ValueError) as err:
            why = _errname(-(getattr(err, "errno", 0) or 0)) if isinstance(err, OSError) else err
            return None, None, (f"offsets unreadable: setns {why} (no process holds it as "
                                "time_for_children; entering needs CAP_SYS_ADMIN over its owner)")
        finally:
            if own:
                os.close(fd)


def query(inode: int, acc: Pins) -> tuple[int, list[tuple[int, int, int]], list[int]]:
    """Candidates to open and tasks to read offsets through, best first (C pass 2)."""
    cands = [(_MEMBER, p.pid, 0) for p in acc.members[:2]]
    cands += [(_HOLDER, pid, 0) for pid in acc.holders[:2]]
    cands += [(_THREAD, pid, tid) for pid, tid in acc.thread_holders[:1]]
    cands += [(_FD, pid, fd) for pid, fd in acc.fds[:1]]
    readers = [p.pid for p in acc.members if p.time_for_children == inode][:2]
    readers += acc.holders[:1]
    readers += [tid for _, tid in acc.thread_holders[:1]]
    return inode, cands, readers


def _open_checked(paths: list[str], inode: int) -> int | None:
    for path in paths:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            continue
        if os.fstat(fd).st_ino == inode:
            return fd
        os.close(fd)
    return None


def _errname(neg_errno: int) -> str:
    return errno.errorcode.get(-neg_errno, str(-neg_errno))


def _ns_id(fd: int) -> int | None:
    try:
        return kernel.ns_get_id(fd)
    except OSError:
        return None


def _owner_uid(ufd: int) -> int | None:
    try:
        return kernel.ns_owner_uid(ufd)
    except OSError:
        return None
