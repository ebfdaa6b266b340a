"""What the helper does for each request: create, edit, enter, spawn, signal, reap, close.

Runs only inside the single-threaded helper process (_helper.py). Every child starts through
_spawner.Spawner, i.e. the C primitive ``tns_spawn`` (csrc/01-spawn.c), so no Python code ever
runs in a forked child.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import errno
import os
import signal
import time
from typing import Any

from .. import kernel
from .._timens import ffi, lib
from ..errors import NoSuchNamespaceError, SpawnError, TimensError
from ..offsets import Offsets
from . import _holder, _reaper
from ._helper_support import close_quiet, host_clocks, inode, open_target, resolve, returncode
from ._holder import Namespace
from ._spawner import Spawner

#: Spawn stages that fail before the child is in the target namespace (csrc/01-spawn.c order).
BEFORE_ENTRY = frozenset({"fork", "prctl(PR_SET_PDEATHSIG)", "setpgid", "setns(CLONE_NEWUSER)",
                          "setns(CLONE_NEWTIME)"})


@dataclasses.dataclass
class ChildRec:
    pid: int
    pidfd: int
    ns: int | None
    status: int | None = None   # os.waitpid status once reaped


class Ops:
    def __init__(self) -> None:
        self.namespaces: dict[int, Namespace] = {}
        self.children: dict[int, ChildRec] = {}
        #: holders not reaped yet, by pid (a closed namespace's holder stays until reaped)
        self.holders: dict[int, Namespace] = {}
        self.next_id = 1
        self.stopping = False
        self.root = kernel.has_effective_cap(kernel.CAP_SYS_ADMIN)
        self.spawner = Spawner()

    # --- requests

    def op_hello(self, rq: dict[str, Any], fds: list[int]) -> tuple[dict[str, Any], list[int]]:
        return {"pid": os.getpid(), "uid": os.geteuid(), "time_ns": inode("/proc/self/ns/time")}, []

    def op_create(self, rq: dict[str, Any], fds: list[int]) -> tuple[dict[str, Any], list[int]]:
        parent = self._live_ns(rq["parent"]) if rq.get("parent") is not None else None
        rootless = bool(rq.get("rootless"))
        map_root = bool(rq.get("map_root"))
        outer_uid = parent.map_uid if parent else os.geteuid()
        outer_gid = parent.map_gid if parent else os.getegid()
        flags = kernel.CLONE_NEWTIME | (kernel.CLONE_NEWUSER if rootless else 0)
        hold_r, hold_w = os.pipe2(os.O_CLOEXEC)
        try:
            pid = self.spawner.spawn(
                user_fd=parent.user_fd if parent else -1,
                time_fd=parent.time_fd if parent else -1,
                unshare=flags, map_uid=outer_uid if rootless else -1, map_gid=outer_gid,
                map_root=map_root, hold_fd=hold_r, what="create a time namespace")
        except TimensError as exc:
            os.close(hold_w)
            if parent and exc.context.get("stage") not in BEFORE_ENTRY:
                # The holder had joined the parent before it failed: setns froze the parent's
                # offsets all the same (timens_install → timens_commit, kernel-timens.md §2.4).
                self._froze(parent, exc)
            raise
        except BaseException:
            os.close(hold_w)
            raise
        finally:
            os.close(hold_r)
        if parent:
            parent.frozen = True  # the holder entered it on its way in (setns freezes, §2.4)
        try:
            ns = self._adopt(pid, hold_w, rootless, parent,
                             0 if map_root else outer_uid, 0 if map_root else outer_gid)
        except BaseException:
            os.close(hold_w)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)  # our unreaped child: the pid is still its own
            raise
        try:
            self._write(ns, rq.get("monotonic_ns"), rq.get("boottime_ns"))
        except BaseException:
            self._release(ns)
            del self.namespaces[ns.id]
            raise
        return self._describe(ns), []

    def op_set_offsets(self, rq: dict[str, Any], fds: list[int]) -> tuple[dict[str, Any], list[int]]:
        ns = self._live_ns(rq["ns"])
        self._write(ns, rq.get("monotonic_ns"), rq.get("boottime_ns"))
        return self._describe(ns), []

    def op_describe(self, rq: dict[str, Any], fds: list[int]) -> tuple[dict[str, Any], list[int]]:
        return self._describe(self._live_ns(rq["ns"])), []

    def op_inspect(self, rq: dict[str, Any], fds: list[int]) -> tuple[dict[str, Any], list[int]]:
        """Open a foreign time namespace (by pid or nsfs path) and say what it is."""
        fd, user_fd = self._open_target(rq["target"])
        try:
            st = os.fstat(fd)
            return {"inode": st.st_ino, "ns_id": kernel.ns_get_id(fd),
                    "join_userns": user_fd >= 0}, []
        finally:
            os.close(fd)
            if user_fd >= 0:
                os.close(user_fd)

    def op_spawn(self, rq: dict[str, Any], fds: list[int]) -> tuple[dict[str, Any], list[int]]:
        stdio = [fds[i] if i is not None else -1 for i in rq.get("stdio", [None, None, None])]
        keep = [fds[i] for i in rq.get("keep", [])]
        env = self.spawner.child_env(rq)  # its own env, else the caller's as last sent
        argv = [str(a) for a in rq["argv"]]
        path = resolve(argv[0], env, rq.get("cwd"))
        return self._spawn_in(rq.get("target"), stdio, keep, path=path, argv=argv,
                              envp=self.spawner.envp(env), cwd=rq.get("cwd"),
                              new_pgrp=bool(rq.get("new_pgrp")))

    def op_run(self, rq: dict[str, Any], fds: list[int]) -> tuple[dict[str, Any], list[int]]:
        """Fast path: one fork that unshares, writes its own offsets and execs into the new
        namespace (exec switches to time_for_children on Linux >= 6.2). No pending state."""
        stdio = [fds[i] if i is not None else -1 for i in rq.get("stdio", [None, None, None])]
        env = self.spawner.child_env(rq)
        argv = [str(a) for a in rq["argv"]]
        path = resolve(argv[0], env, rq.get("cwd"))
        mono, boot = rq.get("monotonic_ns"), rq.get("boottime_ns")
        clocks = tuple(c for c, v in (("monotonic", mono), ("boottime", boot)) if v is not None)
        offsets = Offsets(int(mono or 0), int(boot or 0))
        host = host_clocks()
        if clocks and host is not None:
            offsets.check_range(*host, clocks=clocks)
        rootless = bool(rq.get("rootless"))
        pid = self.spawner.spawn(unshare=kernel.CLONE_NEWTIME | (kernel.CLONE_NEWUSER if rootless else 0),
                         map_uid=os.geteuid() if rootless else -1, map_gid=os.getegid(),
                         map_root=bool(rq.get("map_root")), stdio=stdio, path=path, argv=argv,
                         envp=self.spawner.envp(env), cwd=rq.get("cwd"), new_pgrp=bool(rq.get("new_pgrp")),
                         offsets=offsets.to_proc(clocks).encode() if clocks else b"",
                         what="run a command in a new time namespace")
        return self._track(pid, None)

    def op_start_c(self, rq: dict[str, Any], fds: list[int]) -> tuple[dict[str, Any], list[int]]:
        name = str(rq["fn"])
        if not (name.startswith("tns_") and name.endswith("_main") and hasattr(lib, name)):
            raise SpawnError(f"no C entry point {name!r} in the extension")
        fn = ffi.cast("int (*)(void *)", ffi.addressof(lib, name))
        raw = base64.b64decode(rq.get("arg", ""))
        kernel.check_entry_arg(name, raw)  # fn reads a fixed struct from arg: never past its end
        arg = ffi.new("char[]", raw or b"\0")
        keep = [fds[i] for i in rq.get("keep", [])]
        return self._spawn_in(rq.get("target"), [-1, -1, -1], keep, fn=fn, arg=arg)

    def op_signal(self, rq: dict[str, Any], fds: list[int]) -> tuple[dict[str, Any], list[int]]:
        child = self.children.get(int(rq["pid"]))
        if child is None or child.status is not None:
            return {"sent": False}, []
        try:
            kernel.pidfd_send_signal(child.pidfd, int(rq.get("sig", signal.SIGKILL)))
        except ProcessLookupError:
            return {"sent": False}, []
        return {"sent": True}, []

    def op_status(self, rq: dict[str, Any], fds: list[int]) -> tuple[dict[str, Any], list[int]]:
        self.reap()
        child = self.children.get(int(rq["pid"]))
        if child is None:
            raise NoSuchNamespaceError(f"process {rq['pid']} was not started by this Lab "
                                       "(or its exit status was already collected)")
        if child.status is not None:
            # Delivered: the Lab's Child keeps it from here. Forgetting it keeps a demo that
            # starts samplers for hours from growing a record per child.
            del self.children[child.pid]
        return {"returncode": returncode(child.status)}, []

    def op_close_ns(self, rq: dict[str, Any], fds: list[int]) -> tuple[dict[str, Any], list[int]]:
        ns = self.namespaces.get(int(rq["ns"]))
        if ns is not None and not ns.closed:
            inodes: set[int] = set()
            killed: list[int] = []
            self._close_tree(ns, inodes, killed)
            self._kill_orphans_in(inodes, killed)
        return {}, []

    def _close_tree(self, ns: Namespace, inodes: set[int], killed: list[int]) -> None:
        """Close ``ns`` and what is nested in it: SIGKILL their children, release holders."""
        for inner in [n for n in self.namespaces.values() if n.parent == ns.id]:
            self._close_tree(inner, inodes, killed)
        inodes.add(ns.inode)
        for child in self.children.values():
            if child.ns == ns.id and child.status is None:
                self._signal(child, signal.SIGKILL)
                killed.append(child.pidfd)
        self._release(ns)
        del self.namespaces[ns.id]  # nothing asks about a closed one (_ns refuses it)

    def _kill_orphans_in(self, inodes: set[int], killed: list[int]) -> None:
        """Kill what the closed namespaces' commands left behind (_reaper.kill_in_namespaces);
        a descendant that moved to a time namespace of its own is left for Lab.close(),
        which kills every descendant whatever its namespace."""
        deadline = time.monotonic() + _reaper.HELPER_DEADLINE
        for pidfd in killed:  # their orphans are reparented to us only once they have exited
            _holder.wait_fd(pidfd, max(0.0, deadline - time.monotonic()))
        _reaper.kill_in_namespaces(inodes, lambda pid: pid in self.children or pid in self.holders,
                                   self.reap, deadline)

    def op_list(self, rq: dict[str, Any], fds: list[int]) -> tuple[dict[str, Any], list[int]]:
        self.reap()
        return {"namespaces": [self._describe(n, strict=False) for n in self.namespaces.values()],
                "children": [{"pid": c.pid, "ns": c.ns, "returncode": returncode(c.status)}
                             for c in self.children.values()]}, []

    def op_shutdown(self, rq: dict[str, Any], fds: list[int]) -> tuple[dict[str, Any], list[int]]:
        self.stopping = True
        self.shutdown()
        return {}, []

    # --- lifecycle

    def reap(self) -> None:
        """Collect every exited child (ours, and orphans handed to us as subreaper)."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self._reaped(pid, status)

    def shutdown(self) -> None:
        """Kill everything we started and every orphan reparented to us, and reap them all: the
        loop runs until we have no child left (or HELPER_DEADLINE; the guard then goes on)."""
        for child in self.children.values():
            if child.status is None:
                self._signal(child, signal.SIGKILL)
        for ns in self.namespaces.values():
            if not ns.closed:
                self._release(ns, wait=False)  # the loop below reaps them all at once
        _reaper.kill_and_reap(time.monotonic() + _reaper.HELPER_DEADLINE, self._reaped)
        for child in self.children.values():
            close_quiet(child.pidfd)
            child.pidfd = -1
        for ns in self.holders.values():  # not reaped before the deadline
            close_quiet(ns.holder_fd)
            ns.holder_fd = -1
        self.holders.clear()

    def _reaped(self, pid: int, status: int) -> None:
        """``pid`` was reaped by waitpid(-1): update whichever record it was, by pid — safe
        here, since until this moment the pid was our unreaped child and could not be reused."""
        self.spawner.reaped(pid)
        child = self.children.get(pid)
        if child is not None and child.status is None:
            child.status = status
            close_quiet(child.pidfd)
            child.pidfd = -1
        ns = self.holders.pop(pid, None)
        if ns is not None:
            self._holder_gone(ns, os.waitstatus_to_exitcode(status))

    def _holder_gone(self, ns: Namespace, rc: int) -> None:
        """The holder is reaped: a namespace still open learns it died (later calls raise
        NamespaceGoneError); its pidfd stays open until close() so signals go nowhere."""
        self.holders.pop(ns.holder, None)
        self.spawner.reaped(ns.holder)
        if not ns.closed:
            ns.gone = rc
        else:
            close_quiet(ns.holder_fd)
            ns.holder_fd = -1

    # --- internals

    def _ns(self, ident: Any) -> Namespace:
        ns = self.namespaces.get(int(ident))
        if ns is None or ns.closed:
            raise NoSuchNamespaceError(f"namespace {ident} is closed or unknown")
        return ns

    def _live_ns(self, ident: Any) -> Namespace:
        """An open namespace whose holder is alive; NamespaceGoneError if it died (reaped
        here by handle if the SIGCHLD wake-up has not done it yet)."""
        ns = self._ns(ident)
        if ns.gone is None and _holder.has_exited(ns.holder_fd):
            self._reap_holder(ns)
        if ns.gone is not None:
            raise _holder.gone_error(ns)
        return ns

    def _reap_holder(self, ns: Namespace) -> None:
        rc = _holder.reap(ns)
        if rc is not None:
            self._holder_gone(ns, rc)

    def _holder_call(self, ns: Namespace, fn: Any, *args: Any) -> Any:
        """fn(ns, *args) on the holder's /proc files; gone error if it died under our feet."""
        try:
            return fn(ns, *args)
        except TimensError:
            raise
        except (_holder.GoneNow, OSError):
            if not _holder.has_exited(ns.holder_fd):
                raise
            self._reap_holder(ns)
            raise _holder.gone_error(ns) from None

    def _froze(self, ns: Namespace, exc: TimensError) -> None:
        ns.frozen = True
        exc.context["frozen"] = True
        exc.message += " (the child had entered the namespace: its offsets are now frozen)"

    def _spawn_in(self, target: dict[str, Any] | None, stdio: list[int], keep: list[int],
                  **kw: Any) -> tuple[dict[str, Any], list[int]]:
        ns_ident: int | None = None
        user_fd = time_fd = -1
        opened: list[int] = []
        try:
            if target and "ns" in target:
                ns = self._live_ns(target["ns"])
                ns_ident, time_fd, user_fd = ns.id, ns.time_fd, ns.user_fd
            elif target:
                time_fd, user_fd = self._open_target(target)
                opened = [time_fd, user_fd]
            if kw.get("cwd") and not os.path.isdir(kw["cwd"]):  # before anything enters
                raise SpawnError(f"no such directory: {kw['cwd']}", errno=errno.ENOENT)
            try:
                pid = self.spawner.spawn(user_fd=user_fd, time_fd=time_fd, stdio=stdio, keep=keep, **kw)
            except TimensError as exc:
                if ns_ident is not None and exc.context.get("stage") not in BEFORE_ENTRY:
                    # The child had joined the namespace before it failed: the kernel froze
                    # the offsets all the same (timens_install → timens_commit).
                    self._froze(self.namespaces[ns_ident], exc)
                raise
        finally:
            for fd in opened:
                close_quiet(fd)
        if ns_ident is not None:
            self.namespaces[ns_ident].frozen = True  # first entry freezes the offsets (§0.6)
        return self._track(pid, ns_ident)

    def _track(self, pid: int, ns_ident: int | None) -> tuple[dict[str, Any], list[int]]:
        # Race-free: pid is our child and we have not reaped it (only this single-threaded
        # process reaps, in reap()/shutdown()), so even if it already exited its number is
        # still its own. From here on we know it by this handle.
        pidfd = kernel.pidfd_open(pid)
        self.children[pid] = ChildRec(pid, pidfd, ns_ident)
        client_fd = os.dup(pidfd)
        return {"pid": pid, "time_ns": inode(f"/proc/{pid}/ns/time")}, [client_fd]

    def _open_target(self, target: dict[str, Any]) -> tuple[int, int]:
        return open_target(target, self.root)

    def _adopt(self, pid: int, hold_w: int, rootless: bool, parent: Namespace | None,
               map_uid: int, map_gid: int) -> Namespace:
        # Opened by pid while the holder is our unreaped child: its number is still its own
        # (see _track). The pidfd is how we know it from here on (_holder.py).
        holder_fd = kernel.pidfd_open(pid)
        fds = [holder_fd]
        try:
            fds.append(os.open(f"/proc/{pid}/ns/time_for_children", os.O_RDONLY | os.O_CLOEXEC))
            time_fd = fds[-1]
            user_fd = -1
            if rootless:
                fds.append(os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC))
                user_fd = fds[-1]
            elif parent and parent.user_fd >= 0:
                fds.append(os.dup(parent.user_fd))
                user_fd = fds[-1]
            ns = Namespace(self.next_id, pid, holder_fd, hold_w, time_fd, user_fd,
                           os.fstat(time_fd).st_ino, kernel.ns_get_id(time_fd),
                           rootless or bool(parent and parent.rootless), map_uid, map_gid,
                           parent.id if parent else None)
        except BaseException:
            for fd in fds:
                close_quiet(fd)
            raise
        self.namespaces[ns.id] = ns
        self.holders[pid] = ns
        self.next_id += 1
        return ns

    def _write(self, ns: Namespace, mono: int | None, boot: int | None) -> None:
        clocks = tuple(c for c, v in (("monotonic", mono), ("boottime", boot)) if v is not None)
        if not clocks:
            return
        offsets = Offsets(int(mono or 0), int(boot or 0))
        host = host_clocks()
        if host is not None:  # explain ERANGE before the kernel says it
            offsets.check_range(*host, clocks=clocks)
        self._holder_call(ns, _holder.write_offsets, offsets, clocks)

    def _describe(self, ns: Namespace, strict: bool = True) -> dict[str, Any]:
        """What the Lab shows of ``ns``; offsets read from its holder (``strict``: a gone
        holder raises; else it is described with zero offsets and ``gone`` set)."""
        off = Offsets()
        if not ns.closed and ns.gone is None:
            try:
                off = self._holder_call(ns, _holder.read_offsets)
            except TimensError:
                if strict:
                    raise
        return {"id": ns.id, "holder": ns.holder, "inode": ns.inode, "ns_id": ns.ns_id,
                "rootless": ns.rootless, "parent": ns.parent, "frozen": ns.frozen,
                "closed": ns.closed, "gone": ns.gone, "monotonic_ns": off.monotonic_ns,
                "boottime_ns": off.boottime_ns,
                "userns": os.fstat(ns.user_fd).st_ino if ns.user_fd >= 0 else None}

    def _release(self, ns: Namespace, wait: bool = True) -> None:
        """Let the namespace go: SIGKILL the holder by handle (closing hold_w alone would do,
        but a holder stopped by SIGSTOP would not notice). ``wait``: reap it now, so a
        shared-memory holder's stack is freed before we answer."""
        ns.closed = True
        for fd in (ns.hold_w, ns.time_fd, ns.user_fd):
            close_quiet(fd)
        if ns.gone is not None or ns.holder not in self.holders:
            close_quiet(ns.holder_fd)  # already reaped: nothing to signal
            ns.holder_fd = -1
            return
        _holder.kill(ns)
        if wait:
            _holder.wait_exit(ns, 0.5)
            self.reap()

    def _signal(self, child: ChildRec, sig: int) -> None:
        with contextlib.suppress(OSError):
            kernel.pidfd_send_signal(child.pidfd, sig)
