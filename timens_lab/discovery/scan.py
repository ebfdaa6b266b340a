"""Find every time namespace we can see, with identity, owner chain, offsets, state and members.

>>> from timens_lab.discovery.scan import discover
>>> d = discover()                                        # doctest: +SKIP
>>> [(ns.inode, ns.state, ns.offsets, len(ns.members)) for ns in d.namespaces]   # doctest: +SKIP

How (kernel-timens.md §1, §9):

* Pass 1, every process: ``ns/time`` and ``ns/time_for_children`` links, ``stat`` (comm, ppid,
  starttime, thread count), the owner of ``/proc/PID`` (uid, as lsns shows it), the mount
  namespace and the fd table (``time:[N]`` links). Namespaces are deduplicated by inode.
* Pass 2, every *namespace*, once: its offsets, **one** nsfs fd for NS_GET_ID and
  NS_GET_USERNS; the rest of each owner chain comes from a cache of user namespaces.
* Both passes run in C (``kernel.scan_procs``/``kernel.query_namespaces``, 05-discovery.c):
  done in Python with ``os.readlink``/``os.open``, the per-process interpreter overhead was as
  large as the syscalls themselves and discovery took ~2x as long as ``lsns -t time -J``. Now
  1,000 namespaces take ~40 ms on the test machine, below lsns (bench/bench_discovery.py).
* Pending namespaces (created, nobody inside yet) have no member; they are found through the
  ``time_for_children`` link of their creator, which lsns ignores.
* Threads: a thread's ``time`` always equals its leader's (setns(CLONE_NEWTIME) needs a
  single-threaded caller, exec kills the other threads), but a thread that calls
  unshare(CLONE_NEWTIME) gets its own ``time_for_children`` (kernel-timens.md finding 12). So
  ``/proc/PID/task/*/ns`` is read only for processes whose stat says they have more than one
  thread, and only its ``time_for_children`` link. Measured: ~3-4 µs per extra thread, under
  0.5 ms per scan in the bench, where listing ``task/`` of every process would add ~2.5 µs per
  process to find nothing. ``/proc/TID`` then reads a thread's own timens_offsets.
* Offsets come from ``/proc/P/timens_offsets``, which shows P's **time_for_children**
  namespace (finding 7), so they are read only through a process or thread whose
  ``time_for_children`` *is* the namespace, and that link is checked again after the read. A
  namespace held only by an fd or a bind mount (or whose members all unshared again) is read by a
  throwaway child that setns()es into it (``kernel.timens_offsets_via_setns``). Entering freezes
  offsets, so this is done only when nothing could ever write them any more: the namespace has
  members (already frozen) or no process holds it as ``time_for_children`` (the only write
  path, ``/proc/P/timens_offsets``, acts on time_for_children). Limit: a process hidden from us
  could hold it so. For nobody that is moot (setns is refused: EPERM); for root only a more
  privileged process is hidden (on the test machine, pid 1).
* Identity: inodes are reused as soon as a namespace dies (finding 9), so each record carries
  NS_GET_ID where the kernel has it; :mod:`timens_lab.discovery.watch` keys on it.
* Unprivileged, other users' ``ns`` links, fd tables and mounts are hidden (ptrace access
  check). Those gaps are counted and labelled (``Discovery.partial``, ``notes``, per-namespace
  ``partial`` reasons), never filled in by guessing.
"""

from __future__ import annotations

import contextlib
import errno
import os

from .. import kernel
from ..errors import TimensError
from . import procfs
from ._resolve import Pins, Resolver, query
from .containers import RUN, ContainerIndex
from .nsinfo import (
    INIT_TIME_INODE,
    INIT_USER_INODE,
    SOURCES,
    Discovery,
    NamespaceInfo,
    NsState,
    Process,
    UserNamespace,
)

__all__ = ["INIT_TIME_INODE", "INIT_USER_INODE", "SOURCES", "Discovery", "NamespaceInfo",
           "NsState", "Process", "Scanner", "UserNamespace", "discover"]


def discover(proc: str | os.PathLike[str] = procfs.PROC, *, threads: bool = True,
             fds: bool = True, mounts: bool = True, containers: bool = True,
             run: str = RUN) -> Discovery:
    """Every time namespace visible from here (see the module docstring for how).

    Args:
        proc: the proc root (tests pass a fake tree).
        threads: also read ``task/*/ns`` of multi-threaded processes.
        fds: also find namespaces held by open fds (``/proc/*/fd``).
        mounts: also find nsfs bind mounts (one ``mountinfo`` per mount namespace).
        containers: name the container of each process and namespace (containers.py).
        run: the runtime state root containers.py reads (tests pass a fake one).

    Never raises for processes that vanish or hide mid-scan; those are skipped or counted.
    """
    return Scanner(proc, threads=threads, fds=fds, mounts=mounts, containers=containers,
                   run=run).scan()


# --- the scanner

_PROC_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


class Scanner:
    """Repeatable discovery; :func:`discover` is one ``Scanner().scan()``.

    Between scans it keeps what cannot change for a given NS_GET_ID (see ``_resolve.Resolver``):
    user namespaces on owner chains, and whether a namespace ever had members, so a pending
    namespace whose first member already left still reads as frozen. :mod:`timens_lab.discovery.watch`
    uses one Scanner for all its rescans.
    """

    def __init__(self, proc: str | os.PathLike[str] = procfs.PROC, *, threads: bool = True,
                 fds: bool = True, mounts: bool = True, containers: bool = True,
                 run: str = RUN) -> None:
        self.proc = os.fspath(proc)
        self.threads, self.fds, self.mounts = threads, fds, mounts
        self.containers, self.run = containers, run
        self._mnts: dict[int, int] = {}
        self._resolver = Resolver(self.proc)

    def scan(self) -> Discovery:
        """Take one snapshot."""
        try:
            procfd = os.open(self.proc, _PROC_FLAGS)
        except OSError as err:
            raise TimensError(f"cannot open {self.proc}: {err.strerror}", errno=err.errno,
                              hint="is /proc mounted?") from err
        try:
            return self._scan(procfd)
        finally:
            os.close(procfd)

    def _scan(self, procfd: int) -> Discovery:
        accs: dict[int, Pins] = {}
        procs, hidden, fd_hidden, mnt_reps = self._scan_pids(procfd, accs)
        notes = []
        if hidden:
            notes.append(f"{_n(hidden, 'process', 'processes')} hidden (ptrace access denied: "
                         "another user's, or more privileged): member counts are lower bounds")
        if fd_hidden:
            notes.append(f"fd tables of {_n(fd_hidden, 'process', 'processes')} unreadable: "
                         "namespaces held only by their fds are missing")
        if self.mounts:
            notes.extend(self._scan_mounts(accs, mnt_reps))
        self_userns = self._self_userns()
        if self_userns is not None and self_userns != INIT_USER_INODE:
            notes.append(f"running inside user namespace {self_userns}: owners above it "
                         "are invisible")
        self._resolver.begin()
        for acc in accs.values():
            if len(acc.members) > 1:
                acc.members.sort(key=_age)  # eldest first: records and readers are deterministic
        inodes = sorted(accs)
        answers = kernel.query_namespaces(procfd, [query(i, accs[i]) for i in inodes],
                                          user_ids=self._resolver.has_users)
        users: dict[int, UserNamespace] = {}
        resolve = self._resolver.resolve
        namespaces = tuple(resolve(i, accs[i], a, self_userns, users)
                           for i, a in zip(inodes, answers, strict=True))
        self._resolver.end(namespaces)
        if self.containers:
            namespaces = self._label(namespaces, procs)
        return Discovery(namespaces, users, procs, hidden, self_userns, tuple(notes))

    # --- containers (containers.py): after pass 2, so it costs nothing when switched off

    def _label(self, namespaces: tuple[NamespaceInfo, ...], procs: dict[int, Process]
               ) -> tuple[NamespaceInfo, ...]:
        """Give each process its container, and each namespace the container of its eldest
        member (else of a holder). The initial namespace belongs to the host, never a container:
        its members are everyone, and Docker or Podman containers share it unless they unshare
        time themselves."""
        # Only a process in a mount namespace other than ours can be in a container: every
        # runtime gives its containers their own (a rootfs needs one), and `exec` into one
        # joins it. That skips the cgroup file of every host process (the kernel formats each
        # hierarchy's path per read, ~5-8 µs: as much as the rest of a scan) and the labelling.
        try:
            own_mnt = procfs.read_ns("self", "mnt", self.proc)
        except (OSError, ValueError):
            own_mnt = None
        users = [pid for pid, p in procs.items() if p.ppid != 2 and pid != 2  # not kthreads
                 and (not self._mnts.get(pid) or self._mnts[pid] != own_mnt)]
        if not users:
            return namespaces
        index = ContainerIndex(self.proc, self.run)
        ppids = {pid: p.ppid for pid, p in procs.items()}
        comms = {pid: p.comm for pid, p in procs.items()}
        index.prefetch(users)
        for pid in users:
            p = procs[pid]
            c = index.of(pid, ppids, comms)
            if c is not None:
                procs[pid] = p._replace(container=c)
        out = []
        for ns in namespaces:
            members = tuple(procs.get(p.pid, p) for p in ns.members)
            owner = None
            if not ns.is_initial:
                for pid in [p.pid for p in members[:1]] + list(ns.holders[:1]) + [
                        pid for pid, _ in ns.threads[:1]]:
                    owner = procs[pid].container if pid in procs else None
                    if owner is not None:
                        break
            out.append(ns._replace(members=members, container=owner))
        return tuple(out)

    # --- pass 1: every process, in C (kernel.scan_procs)

    def _scan_pids(self, procfd: int, accs: dict[int, Pins]
                   ) -> tuple[dict[int, Process], int, int, dict[int, int]]:
        procs: dict[int, Process] = {}
        hidden = fd_hidden = 0
        mnt_reps: dict[int, int] = {}              # mount ns inode → one pid living in it
        mnts = self._mnts = {}                     # pid → mount ns inode (0: not read)
        pids = procfs.list_pids(self.proc)
        rows = kernel.scan_procs(procfd, pids, fds=self.fds, mounts=self.mounts)
        denied = (-errno.EACCES, -errno.EPERM)
        threads = self.threads
        # Positional unpacking (ProcScan field order): this loop runs once per process.
        for pid, err, t, c, mnt, ppid, nthreads, uid, start, fd_err, n_fds, kept, comm in rows:
            if err:
                if err in denied:
                    hidden += 1
                continue  # exited mid-scan (ENOENT/ESRCH), or a zombie without nsproxy
            p = Process(pid, ppid, comm, uid, start, t, c)
            procs[pid] = p
            acc = accs.get(t)
            if acc is None:
                acc = accs[t] = Pins()
            acc.members.append(p)
            if c != t:
                (accs.get(c) or accs.setdefault(c, Pins())).holders.append(pid)
            if threads and nthreads > 1:
                self._scan_threads(pid, t, c, accs)
            if fd_err in denied:
                fd_hidden += 1
            if n_fds:
                found = kept
                if n_fds > kernel.MAX_NS_FDS:  # more than C keeps: read that table here
                    with contextlib.suppress(OSError):
                        found = tuple(procfs.fd_namespaces(pid, "time", self.proc))
                for fd, inode in found:
                    accs.setdefault(inode, Pins()).fds.append((pid, fd))
            if mnt and mnt not in mnt_reps:
                mnt_reps[mnt] = pid
            mnts[pid] = mnt
        return procs, hidden, fd_hidden, mnt_reps

    def _scan_threads(self, pid: int, t: int, c: int, accs: dict[int, Pins]) -> None:
        try:
            tids = procfs.list_tids(pid, self.proc)
        except OSError:
            return
        for tid in tids:
            if tid == pid:
                continue
            try:  # only time_for_children: a thread's time is its leader's (module docstring)
                tc = procfs.read_task_ns(pid, tid, "time_for_children", self.proc)
            except (OSError, ValueError):
                continue
            if tc not in (c, t):
                accs.setdefault(tc, Pins()).thread_holders.append((pid, tid))

    def _scan_mounts(self, accs: dict[int, Pins], mnt_reps: dict[int, int]) -> list[str]:
        proc = self.proc
        try:
            own = procfs.read_ns("self", "mnt", proc)
        except (OSError, ValueError):
            own = None
        hidden = 0
        # Our own mount namespace first: a bind mount is named by the path we can use (the
        # host's, when we run on the host) before any other mount namespace's copy of it.
        for mnt, pid in sorted(mnt_reps.items(), key=lambda item: (item[0] != own, item[0])):
            mine = mnt == own
            try:
                found = procfs.nsfs_mounts("self" if mine else pid, "time", proc)
            except PermissionError:
                hidden += 1
                continue
            except OSError:
                continue
            for m in found:
                shown = m.mountpoint if mine else f"/proc/{pid}/root{m.mountpoint}"
                path = m.mountpoint if mine else f"{proc}/{pid}/root{m.mountpoint}"
                accs.setdefault(m.inode, Pins()).mounts.append((shown, path))
        if hidden:
            return [f"mount tables of {_n(hidden, 'mount namespace', 'mount namespaces')} "
                    "unreadable: bind mounts there are missing"]
        return []

    def _self_userns(self) -> int | None:
        try:
            return procfs.read_ns("self", "user", self.proc)
        except (OSError, ValueError):
            return None

    # --- pass 2: one fd per namespace, in C (kernel.query_namespaces); rare cases here


def _age(p: Process) -> tuple[int, int]:
    return p.starttime, p.pid


def _n(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"
