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
from typing import Any

from . import kernel
from ._helper_support import (
    children_of,
    close_quiet,
    host_clocks,
    inode,
    resolve,
    returncode,
)
from ._spawner import Spawner
from ._timens import ffi, lib
from .errors import NoSuchNamespaceError, PrivilegeError, SpawnError, TimensError
from .offsets import Offsets, read_offsets, write_offsets

#: Spawn stages that fail before the child is in the target namespace (csrc/01-spawn.c order).
BEFORE_ENTRY = frozenset({"fork", "prctl(PR_SET_PDEATHSIG)", "setpgid", "setns(CLONE_NEWUSER)",
                          "setns(CLONE_NEWTIME)"})


@dataclasses.dataclass
class Namespace:
    id: int
    holder: int
    hold_w: int                 # closing it makes the holder exit (it blocks reading the pipe)
    time_fd: int                # /proc/<holder>/ns/time_for_children: the namespace itself
    user_fd: int                # the user namespace that owns it (rootless), else -1
    inode: int
    ns_id: int | None
    rootless: bool
    map_uid: int                # our uid as seen inside its user namespace (for nesting)
    map_gid: int
    parent: int | None
    frozen: bool = False
    closed: bool = False


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
        self.next_id = 1
        self.stopping = False
        self.root = kernel.has_effective_cap(kernel.CAP_SYS_ADMIN)
        self.spawner = Spawner()

    # --- requests

    def op_hello(self, rq: dict[str, Any], fds: list[int]) -> tuple[dict[str, Any], list[int]]:
        return {"pid": os.getpid(), "uid": os.geteuid(), "time_ns": inode("/proc/self/ns/time")}, []

    def op_create(self, rq: dict[str, Any], fds: list[int]) -> tuple[dict[str, Any], list[int]]:
        parent = self._ns(rq["parent"]) if rq.get("parent") is not None else None
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
            self._kill_pid(pid)
            os.close(hold_w)
            raise
        try:
            self._write(ns, rq.get("monotonic_ns"), rq.get("boottime_ns"))
        except BaseException:
            self._release(ns)
            del self.namespaces[ns.id]
            raise
        return self._describe(ns), []

    def op_set_offsets(self, rq: dict[str, Any], fds: list[int]) -> tuple[dict[str, Any], list[int]]:
        ns = self._ns(rq["ns"])
        self._write(ns, rq.get("monotonic_ns"), rq.get("boottime_ns"))
        return self._describe(ns), []

    def op_describe(self, rq: dict[str, Any], fds: list[int]) -> tuple[dict[str, Any], list[int]]:
        return self._describe(self._ns(rq["ns"])), []

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
            for inner in [n for n in self.namespaces.values() if n.parent == ns.id]:
                self.op_close_ns({"ns": inner.id}, [])
            for child in self.children.values():
                if child.ns == ns.id and child.status is None:
                    self._signal(child, signal.SIGKILL)
            self._release(ns)
            del self.namespaces[ns.id]  # nothing asks about a closed one (_ns refuses it)
        return {}, []

    def op_list(self, rq: dict[str, Any], fds: list[int]) -> tuple[dict[str, Any], list[int]]:
        self.reap()
        return {"namespaces": [self._describe(n) for n in self.namespaces.values()],
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
            self.spawner.reaped(pid)
            child = self.children.get(pid)
            if child is not None:
                child.status = status
                close_quiet(child.pidfd)
                child.pidfd = -1

    def shutdown(self) -> None:
        """Kill everything we started, then orphans reparented to us; reap them all."""
        for child in self.children.values():
            if child.status is None:
                self._signal(child, signal.SIGKILL)
        for ns in self.namespaces.values():
            if not ns.closed:
                self._release(ns)
        me = str(os.getpid())
        for pid in children_of(me):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        while True:
            try:
                pid, _ = os.waitpid(-1, 0)
            except ChildProcessError:
                break
            self.spawner.reaped(pid)
        for child in self.children.values():
            close_quiet(child.pidfd)
            child.pidfd = -1

    # --- internals

    def _ns(self, ident: Any) -> Namespace:
        ns = self.namespaces.get(int(ident))
        if ns is None or ns.closed:
            raise NoSuchNamespaceError(f"namespace {ident} is closed or unknown")
        return ns

    def _spawn_in(self, target: dict[str, Any] | None, stdio: list[int], keep: list[int],
                  **kw: Any) -> tuple[dict[str, Any], list[int]]:
        ns_ident: int | None = None
        user_fd = time_fd = -1
        opened: list[int] = []
        try:
            if target and "ns" in target:
                ns = self._ns(target["ns"])
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
                    self.namespaces[ns_ident].frozen = True
                    exc.context["frozen"] = True
                    exc.message += " (the child had entered the namespace: its offsets are now frozen)"
                raise
        finally:
            for fd in opened:
                close_quiet(fd)
        if ns_ident is not None:
            self.namespaces[ns_ident].frozen = True  # first entry freezes the offsets (§0.6)
        return self._track(pid, ns_ident)

    def _track(self, pid: int, ns_ident: int | None) -> tuple[dict[str, Any], list[int]]:
        pidfd = kernel.pidfd_open(pid)
        self.children[pid] = ChildRec(pid, pidfd, ns_ident)
        client_fd = os.dup(pidfd)
        return {"pid": pid, "time_ns": inode(f"/proc/{pid}/ns/time")}, [client_fd]

    def _open_target(self, target: dict[str, Any]) -> tuple[int, int]:
        """An fd of the time namespace to join, and of the user namespace to join first (or -1)."""
        path = f"/proc/{int(target['pid'])}/ns/time" if "pid" in target else str(target["path"])
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError as err:
            raise NoSuchNamespaceError(f"{path} does not exist (no such process?)") from err
        except PermissionError as err:
            raise PrivilegeError(f"cannot open {path}: permission denied (the ptrace access "
                                 "check of proc(5): another user's process, or a protected one)",
                                 errno=err.errno) from err
        try:
            nstype = kernel.ns_ioctl(fd, kernel.NS_GET_NSTYPE)
        except OSError as err:
            os.close(fd)
            raise NoSuchNamespaceError(f"{path} is not a namespace file") from err
        if nstype != kernel.CLONE_NEWTIME:
            os.close(fd)
            raise NoSuchNamespaceError(f"{path} is a namespace, but not a time namespace")
        user_fd = -1
        if not self.root:
            # setns(2) needs CAP_SYS_ADMIN over the owner: join the owning user namespace first
            # when it is not ours (as nsenter -U does).
            owner = kernel.ns_ioctl(fd, kernel.NS_GET_USERNS)
            if os.fstat(owner).st_ino != inode("/proc/self/ns/user"):
                user_fd = owner
            else:
                os.close(owner)
        return fd, user_fd

    def _adopt(self, pid: int, hold_w: int, rootless: bool, parent: Namespace | None,
               map_uid: int, map_gid: int) -> Namespace:
        time_fd = os.open(f"/proc/{pid}/ns/time_for_children", os.O_RDONLY | os.O_CLOEXEC)
        user_fd = os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC) if rootless else (
            os.dup(parent.user_fd) if parent and parent.user_fd >= 0 else -1)
        ns = Namespace(self.next_id, pid, hold_w, time_fd, user_fd, os.fstat(time_fd).st_ino,
                       kernel.ns_get_id(time_fd), rootless or bool(parent and parent.rootless),
                       map_uid, map_gid, parent.id if parent else None)
        self.namespaces[ns.id] = ns
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
        write_offsets(ns.holder, offsets, clocks)

    def _describe(self, ns: Namespace) -> dict[str, Any]:
        off = read_offsets(ns.holder) if not ns.closed else Offsets()
        return {"id": ns.id, "holder": ns.holder, "inode": ns.inode, "ns_id": ns.ns_id,
                "rootless": ns.rootless, "parent": ns.parent, "frozen": ns.frozen,
                "closed": ns.closed, "monotonic_ns": off.monotonic_ns,
                "boottime_ns": off.boottime_ns,
                "userns": os.fstat(ns.user_fd).st_ino if ns.user_fd >= 0 else None}

    def _release(self, ns: Namespace) -> None:
        ns.closed = True
        for fd in (ns.hold_w, ns.time_fd, ns.user_fd):
            close_quiet(fd)
        self._kill_pid(ns.holder)

    def _signal(self, child: ChildRec, sig: int) -> None:
        with contextlib.suppress(OSError):
            kernel.pidfd_send_signal(child.pidfd, sig)

    def _kill_pid(self, pid: int) -> None:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        self.spawner.reaped(pid)
