"""Lab: create, edit, enter and run things in time namespaces, safely from a Jupyter kernel.

>>> with Lab() as lab:                                          # doctest: +SKIP
...     ns = lab.namespace(monotonic="1h", boottime="2d")      # pending: offsets editable
...     ns.offsets = Offsets.of(monotonic="2h")                # still pending: takes effect
...     out, _ = ns.spawn(["cat", "/proc/uptime"], stdout=PIPE).communicate()  # now frozen
...     lab.enter(1234).spawn(["date"])                        # join pid 1234's time namespace

All namespace work happens in a single-threaded helper process (_helper.py) that the Lab owns;
every process it starts dies with the Lab (close(), garbage collection, interpreter exit, or
SIGKILL of the owner). Rootless (a user namespace) is the default for a non-root user.
"""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
import threading
import weakref
from collections.abc import Mapping, Sequence
from subprocess import DEVNULL, PIPE
from typing import IO, Any

from . import _wire, kernel
from .child import Child
from .errors import (
    HelperDiedError,
    LabClosedError,
    ResourceLimitError,
    SpawnError,
    TimensError,
    from_wire,
)
from .namespace import Duration, JoinedNamespace, TimeNamespace
from .offsets import parse_duration

__all__ = ["DEVNULL", "PIPE", "Child", "JoinedNamespace", "Lab", "TimeNamespace"]

StdioArg = None | int | IO[Any]


class Lab:
    """Owns a helper process and everything it started. A context manager; close() is idempotent."""

    def __init__(self, *, rootless: bool | None = None) -> None:
        #: Default for namespace(): a user namespace unless we hold CAP_SYS_ADMIN (never ask for
        #: root where a user namespace will do; root in a default container lacks the cap).
        self.rootless = (not kernel.has_effective_cap(kernel.CAP_SYS_ADMIN)
                         if rootless is None else rootless)
        self._lock = threading.Lock()
        self._namespaces: list[TimeNamespace] = []
        mine, theirs = _wire.socketpair()
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "timens_lab._helper", str(theirs.fileno())],
                pass_fds=[theirs.fileno()], stdin=DEVNULL, stdout=DEVNULL, close_fds=True,
                env={**os.environ, "PYTHONSAFEPATH": "1"})
        finally:
            theirs.close()
        self._sock: socket.socket | None = mine
        self._finalizer = weakref.finalize(self, _shutdown, mine, self._proc)
        hello = self._call("hello")
        self.helper_pid: int = hello["pid"]
        #: inode of the time namespace the helper (and so "the host" for this Lab) is in
        self.host_time_ns: int | None = hello["time_ns"]

    # --- public API

    def namespace(self, monotonic: Duration = None, boottime: Duration = None, *,
                  rootless: bool | None = None, map_root: bool = False, name: str | None = None,
                  parent: TimeNamespace | None = None) -> TimeNamespace:
        """A new, *pending* time namespace; unspecified clocks inherit the creator's offsets.

        Offsets are absolute to the host, not relative to a parent (kernel-timens.md §5).
        Creating a namespace inside ``parent`` enters the parent, which freezes it.

        Raises:
            InvalidOffsetError, OffsetRangeError: bad offsets (checked before the kernel is asked).
            PrivilegeError, NamespaceLimitError: the kernel refused; the hint says what to do.
        """
        mono = parse_duration(monotonic) if monotonic is not None else None
        boot = parse_duration(boottime) if boottime is not None else None
        try:
            info = self._call("create", monotonic_ns=mono, boottime_ns=boot,
                              rootless=self.rootless if rootless is None else rootless,
                              map_root=map_root, parent=parent.id if parent else None)
        except TimensError as err:
            if parent is not None and err.context.get("frozen"):
                parent._update({"frozen": True})  # its failed holder had entered it
            raise
        ns = TimeNamespace(self, info, name=name, parent=parent)
        if parent is not None:
            parent._update({"frozen": True})
        self._namespaces.append(ns)
        return ns

    def run(self, argv: Sequence[str | os.PathLike[str]], monotonic: Duration = None,
            boottime: Duration = None, *, rootless: bool | None = None, map_root: bool = False,
            **kw: Any) -> Child:
        """Start argv in a fresh namespace with these offsets, in one step (no pending phase).

        The fastest path (one fork; exec moves the child in, Linux >= 6.2), as
        ``unshare --time --monotonic N CMD``. Use namespace() to edit offsets before entry.
        """
        mono = parse_duration(monotonic) if monotonic is not None else None
        boot = parse_duration(boottime) if boottime is not None else None
        return self._spawn(None, argv, op="run", extra={
            "monotonic_ns": mono, "boottime_ns": boot, "map_root": map_root,
            "rootless": self.rootless if rootless is None else rootless}, **kw)

    def enter(self, target: int | str | os.PathLike[str]) -> JoinedNamespace:
        """An existing time namespace: a pid (its ``ns/time``) or a file such as a bind mount."""
        spec = {"pid": int(target)} if isinstance(target, int) else {"path": os.fspath(target)}
        info = self._call("inspect", target=spec)
        return JoinedNamespace(self, spec, info)

    @property
    def namespaces(self) -> list[TimeNamespace]:
        """Namespaces this Lab created and has not closed."""
        return [ns for ns in self._namespaces if ns.state != "closed"]

    def start_c_host(self, fn: str, arg: bytes, fds: Sequence[int] = ()) -> Child:
        """Run the C entry point ``fn(arg)`` in a child left in the helper's own namespace."""
        return self._start_c(None, fn, arg, fds)

    def spawn(self, argv: Sequence[str | os.PathLike[str]], **kw: Any) -> Child:
        """Run argv in the helper's own namespace (the reference 'host' for this Lab)."""
        return self._spawn(None, argv, **kw)

    def sampler(self, **kw: Any) -> Any:
        """A host reference sampler (see sampler.Sampler.for_host); ``with lab.sampler() as s:``."""
        from .sampler import Sampler

        return Sampler.for_host(self, **kw)

    def samplers(self, namespaces: Sequence[TimeNamespace], **kw: Any) -> Any:
        """A started SamplerSet (a Source): the host reference plus one sampler per namespace."""
        from .sampler import SamplerSet

        return SamplerSet.start(self, namespaces, **kw)

    def record(self, path: str | os.PathLike[str], source: Any, **kw: Any) -> Any:
        """Record ``source`` (e.g. lab.samplers(...)) and this Lab's namespace tree to ``path``
        (recorder.record: a versioned .tnsrec file, renamed into place only when complete)."""
        from .recorder import record

        return record(path, source, lab=self, **kw)

    def lineage(self) -> dict[int, int | None]:
        """Our spawn records: namespace inode → the inode it was created from (None: the host)."""
        return {ns.inode: ns.parent.inode if ns.parent else self.host_time_ns
                for ns in self._namespaces}

    def close(self) -> None:
        """Kill every process and namespace of this Lab and stop the helper."""
        self._finalizer()
        self._sock = None
        for ns in self._namespaces:
            ns._update({"closed": True})

    def _forget(self, ns: TimeNamespace) -> None:
        """``ns`` was closed, and with it every namespace nested in it: mark them so and drop
        them, so a Lab that lives for hours keeps only what is open (a closed namespace's inode
        may also come back for a new one: lineage must not remember it)."""
        gone = {id(ns)}
        ns._update({"closed": True})
        for other in self._namespaces:  # creation order: parents before what is nested in them
            if other.parent is not None and id(other.parent) in gone:
                other._update({"closed": True})
                gone.add(id(other))
        self._namespaces = [n for n in self._namespaces if id(n) not in gone]

    @property
    def closed(self) -> bool:
        return self._sock is None

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"helper pid {self.helper_pid}"
        return f"<Lab {state}, {len(self.namespaces)} namespaces, rootless={self.rootless}>"

    # --- plumbing shared with TimeNamespace / Child

    def _call(self, op: str, fds: Sequence[int] = (), **args: Any) -> dict[str, Any]:
        reply, got = self._call_fds(op, fds, **args)
        for fd in got:
            os.close(fd)
        return reply

    def _call_fds(self, op: str, fds: Sequence[int] = (), **args: Any) -> tuple[dict[str, Any], list[int]]:
        with self._lock:
            if self._sock is None:
                raise LabClosedError("this Lab is closed")
            try:
                _wire.send(self._sock, {"op": op, **args}, list(fds))
                reply, got = _wire.recv(self._sock)
            except _wire.FdsLost as lost:
                lost_pid = lost.message.get("pid")
                if lost.message.get("ok") and lost_pid:  # we cannot hold it: do not leave it
                    _wire.send(self._sock, {"op": "signal", "pid": lost_pid, "sig": 9})
                    _wire.recv(self._sock)
                raise ResourceLimitError(
                    f"out of file descriptors while receiving the reply to {op!r} (EMFILE); "
                    "nothing it started was left running", errno=24) from lost
            except (EOFError, ConnectionError, BrokenPipeError) as err:
                self._sock = None
                self._finalizer()
                raise HelperDiedError(
                    f"the timens-lab helper (pid {self._proc.pid}) died; every namespace and "
                    "process of this Lab was killed with it") from err
        if not reply.pop("ok"):
            for fd in got:
                os.close(fd)
            raise from_wire(reply["error"])
        return reply, got

    def _status(self, pid: int) -> int | None:
        return self._call("status", pid=pid)["returncode"]

    def _spawn(self, target: dict[str, Any] | None, argv: Sequence[str | os.PathLike[str]], *,
               stdin: StdioArg = None, stdout: StdioArg = None, stderr: StdioArg = None,
               env: Mapping[str, str] | None = None, cwd: str | os.PathLike[str] | None = None,
               new_pgrp: bool = False, namespace: Any = None, op: str = "spawn",
               extra: Mapping[str, Any] | None = None) -> Child:
        if isinstance(argv, str | bytes) or not argv:
            raise SpawnError(f"argv must be a non-empty list of strings, not {argv!r}: timens-lab "
                             "never runs a shell (use ['sh', '-c', ...] if you mean one)")
        args = [os.fspath(a) for a in argv]
        send: list[int] = []
        ours: list[IO[bytes] | None] = []
        to_close: list[int] = []
        slots: list[int | None] = []
        try:
            for i, spec in enumerate((stdin, stdout, stderr)):
                try:
                    fd, parent_end = _stdio(i, spec)
                except OSError as err:
                    if err.errno in (24, 23):  # EMFILE, ENFILE
                        raise ResourceLimitError(f"cannot create a pipe for the child: {err}",
                                                 errno=err.errno) from err
                    raise
                ours.append(parent_end)
                if fd is None:
                    slots.append(None)
                    continue
                if spec in (PIPE, DEVNULL):
                    to_close.append(fd)
                slots.append(len(send))
                send.append(fd)
            env_list = None if env is None else [f"{k}={v}" for k, v in env.items()]
            reply, got = self._call_fds(
                op, send, target=target, argv=args, env=env_list, stdio=slots,
                cwd=os.fspath(cwd) if cwd is not None else None, new_pgrp=new_pgrp,
                **(extra or {}))
        except BaseException:
            for stream in ours:
                if stream is not None:
                    stream.close()
            raise
        finally:
            for fd in to_close:
                os.close(fd)
        return Child(self, reply["pid"], got[0], args, namespace, reply.get("time_ns"), *ours)

    def _start_c(self, target: dict[str, Any] | None, fn: str, arg: bytes, fds: Sequence[int],
                 namespace: Any = None) -> Child:
        reply, got = self._call_fds("start_c", list(fds), target=target, fn=fn,
                                    arg=base64.b64encode(arg).decode(), keep=list(range(len(fds))))
        return Child(self, reply["pid"], got[0], [fn], namespace, reply.get("time_ns"))


def _stdio(index: int, spec: StdioArg) -> tuple[int | None, IO[bytes] | None]:
    """(fd to hand the child or None to inherit ours, our end of a pipe or None)."""
    if spec is None:
        try:
            os.fstat(index)
        except OSError:
            return None, None
        return index, None
    if spec == PIPE:
        r, w = os.pipe2(os.O_CLOEXEC)
        if index == 0:
            return r, open(w, "wb", buffering=0)
        return w, open(r, "rb", buffering=0)
    if spec == DEVNULL:
        return os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC), None
    if isinstance(spec, int):
        return spec, None
    return spec.fileno(), None


def _shutdown(sock: socket.socket, proc: subprocess.Popen[bytes]) -> None:
    try:
        _wire.send(sock, {"op": "shutdown"})
        sock.settimeout(5)
        _wire.recv(sock)
    except (OSError, EOFError, ValueError):
        pass
    sock.close()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
