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
import errno
import os
import socket
import subprocess
import threading
import weakref
from collections.abc import Mapping, Sequence
from subprocess import DEVNULL, PIPE
from typing import IO, Any

from .. import kernel
from .._pyexec import python_argv
from ..errors import (
    ArgumentTypeError,
    HelperDiedError,
    LabClosedError,
    LabForkedError,
    ResourceLimitError,
    SpawnError,
    TimensError,
    from_wire,
)
from ..offsets import parse_duration
from . import _args, _wire
from ._args import StdioArg
from .child import Child
from .namespace import Duration, JoinedNamespace, TimeNamespace

__all__ = ["DEVNULL", "PIPE", "Child", "JoinedNamespace", "Lab", "TimeNamespace"]

_OUT_OF = (errno.EMFILE, errno.ENFILE, errno.EAGAIN, errno.ENOMEM)
#: Every open Lab of this process, so a forked child can let go of them (os.register_at_fork).
_LABS: weakref.WeakSet[Lab] = weakref.WeakSet()


class Lab:
    """Owns a helper process and everything it started. A context manager; close() is idempotent."""

    def __init__(self, *, rootless: bool | None = None) -> None:
        #: Default for namespace(): a user namespace unless we hold CAP_SYS_ADMIN (never ask for
        #: root where a user namespace will do; root in a default container lacks the cap).
        self.rootless = (not kernel.has_effective_cap(kernel.CAP_SYS_ADMIN)
                         if rootless is None else _args.flag(rootless, "rootless"))
        #: One request at a time on the socket, and close() waits for the one in flight
        #: (re-entrant: close() and the bookkeeping around a request nest inside it).
        self._lock = threading.RLock()
        #: The process that owns the helper: a child made by os.fork() must never talk to it.
        self._owner = os.getpid()
        #: The caller's environment as last sent to the helper (os.environ's bytes dict):
        #: children get the caller's environment at spawn time, sent only when it changed.
        self._env_sent: dict[bytes, bytes] | None = None
        self._namespaces: list[TimeNamespace] = []
        self._sock: socket.socket | None = None
        try:
            mine, theirs = _wire.socketpair()
        except OSError as err:
            raise _start_error(err) from err
        try:
            # Our own child: started with -P from this package's path (_pyexec), with the
            # caller's environment untouched; fds 0-2 open so received fds never land there.
            self._proc = subprocess.Popen(
                python_argv("timens_lab.engine._helper", str(theirs.fileno())),
                pass_fds=[theirs.fileno()], stdin=DEVNULL, stdout=DEVNULL,
                stderr=None if _is_open(2) else DEVNULL, close_fds=True)
        except OSError as err:
            mine.close()
            raise _start_error(err) from err
        finally:
            theirs.close()
        self._sock = mine
        self._finalizer = weakref.finalize(self, _shutdown, mine, self._proc, self._owner)
        _LABS.add(self)
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
        rootless = _args.optional_flag(rootless, "rootless")
        map_root = _args.flag(map_root, "map_root")
        if name is not None and not isinstance(name, str):
            raise ArgumentTypeError(f"name must be a str, not {type(name).__name__}")
        if parent is not None and (not isinstance(parent, TimeNamespace) or parent.lab is not self):
            raise ArgumentTypeError(f"parent must be a TimeNamespace of this Lab, not {parent!r:.80}",
                                    hint="nest with parent.namespace(...) on a namespace this Lab created")
        with self._lock:  # the request and the bookkeeping together: close() sees both or neither
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
        rootless = _args.optional_flag(rootless, "rootless")
        return self._spawn(None, argv, op="run", extra={
            "monotonic_ns": mono, "boottime_ns": boot, "map_root": _args.flag(map_root, "map_root"),
            "rootless": self.rootless if rootless is None else rootless}, **kw)

    def enter(self, target: int | str | os.PathLike[str]) -> JoinedNamespace:
        """An existing time namespace: a pid (its ``ns/time``) or a file such as a bind mount.

        Raises:
            ArgumentTypeError, InvalidArgumentError: not a pid (an int > 0; a bool is not) or a path.
            NoSuchNamespaceError, PrivilegeError: no such process or file, or not ours to enter.
        """
        spec = _args.target_spec(target)
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
        from ..clocks.sampler import Sampler

        return Sampler.for_host(self, **kw)

    def samplers(self, namespaces: Sequence[TimeNamespace], **kw: Any) -> Any:
        """A started SamplerSet (a Source): the host reference plus one sampler per namespace."""
        from ..clocks.sampler import SamplerSet

        return SamplerSet.start(self, namespaces, **kw)

    def record(self, path: str | os.PathLike[str], source: Any, **kw: Any) -> Any:
        """Record ``source`` (e.g. lab.samplers(...)) and this Lab's namespace tree to ``path``
        (recorder.record: a versioned .tnsrec file, renamed into place only when complete)."""
        from ..recording.tap import record

        return record(path, source, lab=self, **kw)

    def lineage(self) -> dict[int, int | None]:
        """Our spawn records: namespace inode → the inode it was created from (None: the host)."""
        return {ns.inode: ns.parent.inode if ns.parent else self.host_time_ns
                for ns in self._namespaces}

    def close(self) -> None:
        """Kill every process and namespace of this Lab and stop the helper.

        Safe from any thread: it waits for the request in flight, and later calls from other
        threads raise LabClosedError. In a child made by os.fork() it only lets go of the
        child's copy of the socket: the helper belongs to the parent, which keeps using it.
        """
        if os.getpid() != self._owner:
            self._let_go()
            return
        with self._lock:
            self._finalizer()
            self._sock = None
            for ns in self._namespaces:
                ns._update({"closed": True})

    def _let_go(self) -> None:
        """In a forked child: never run the parent's finalizer, close only our copy of the fd."""
        self._finalizer.detach()
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()

    def _forget(self, ns: TimeNamespace) -> None:
        """``ns`` was closed, and with it every namespace nested in it: mark them so and drop
        them, so a Lab that lives for hours keeps only what is open (a closed namespace's inode
        may also come back for a new one: lineage must not remember it)."""
        gone = {id(ns)}
        ns._update({"closed": True})
        with self._lock:
            for other in self._namespaces:  # creation order: parents before what is nested in them
                if other.parent is not None and id(other.parent) in gone:
                    other._update({"closed": True})
                    gone.add(id(other))
            self._namespaces = [n for n in self._namespaces if id(n) not in gone]

    @property
    def closed(self) -> bool:
        return self._sock is None or os.getpid() != self._owner

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

    def _call_fds(self, op: str, fds: Sequence[int] = (), *, caller_env: bool = False,
                  **args: Any) -> tuple[dict[str, Any], list[int]]:
        if os.getpid() != self._owner:  # before the lock: a fork may have copied it held
            raise LabForkedError(f"this Lab belongs to process {self._owner}, and this is "
                                 f"process {os.getpid()}, a child made by os.fork()")
        with self._lock:
            if self._sock is None:
                raise LabClosedError("this Lab is closed")
            env = _environ() if caller_env else None
            if env is not None and env == self._env_sent:
                env = None  # the helper has it already: no C array to rebuild, nothing to send
            if env is not None:
                env = dict(env)  # one C-level copy: another thread may be changing os.environ
                args["caller_env"] = [os.fsdecode(k + b"=" + v) for k, v in env.items()]
            try:
                _wire.send(self._sock, {"op": op, **args}, list(fds))
                reply, got = _wire.recv(self._sock)
                if env is not None:
                    # Kept by the helper if it served the request; after an error, send it
                    # again next time rather than guess how far the helper got.
                    self._env_sent = env if reply.get("ok") else None
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
        """Start argv. ``env=None`` gives the child the caller's environment as it is now
        (os.environ), exactly; a mapping gives it that instead."""
        args = _args.argv_list(argv)
        env_list = None if env is None else _args.env_list(env)
        cwd_text = None if cwd is None else _args.text(cwd, "cwd")
        new_pgrp = _args.flag(new_pgrp, "new_pgrp")
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
            reply, got = self._call_fds(
                op, send, caller_env=env is None, target=target, argv=args, env=env_list,
                stdio=slots, cwd=cwd_text, new_pgrp=new_pgrp, **(extra or {}))
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
        kernel.check_entry_arg(fn, arg)  # the helper checks again: this is the early, cheap one
        reply, got = self._call_fds("start_c", list(fds), target=target, fn=fn,
                                    arg=base64.b64encode(arg).decode(), keep=list(range(len(fds))))
        return Child(self, reply["pid"], got[0], [fn], namespace, reply.get("time_ns"))


def _stdio(index: int, spec: StdioArg) -> tuple[int | None, IO[bytes] | None]:
    """(fd to hand the child or None to inherit ours, our end of a pipe or None)."""
    if spec is None:
        return (index if _is_open(index) else None), None
    if spec is PIPE or (type(spec) is int and spec == PIPE):
        r, w = os.pipe2(os.O_CLOEXEC)
        if index == 0:
            return r, open(w, "wb", buffering=0)
        return w, open(r, "rb", buffering=0)
    if spec is DEVNULL or (type(spec) is int and spec == DEVNULL):
        return os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC), None
    return _args.stdio_fd(index, spec), None


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def _environ() -> dict[bytes, bytes]:
    """The caller's environment now, as os.environ has it (the bytes dict behind it: comparing
    it costs well under a microsecond; dict(os.environb) ~ 10 us per spawn)."""
    data = getattr(os.environ, "_data", None)
    return data if isinstance(data, dict) else dict(os.environb)


def _start_error(err: OSError) -> TimensError:
    if err.errno in _OUT_OF:
        return ResourceLimitError(f"cannot start the timens-lab helper: {err.strerror} "
                                  f"({errno.errorcode.get(err.errno or 0, '?')})", errno=err.errno)
    return SpawnError(f"cannot start the timens-lab helper: {err}", errno=err.errno,
                      hint="check that this Python can run: python -P -c pass")


def _after_fork() -> None:
    """In a forked child every Lab belongs to the parent: let go of them at once, so the
    child's exit (or a Lab's garbage collection there) can never stop the parent's helper."""
    for lab in list(_LABS):
        lab._lock = threading.RLock()  # another thread may have held it at fork time
        lab._let_go()


os.register_at_fork(after_in_child=_after_fork)


def _shutdown(sock: socket.socket, proc: subprocess.Popen[bytes], owner: int) -> None:
    if os.getpid() != owner:  # a forked copy: the helper is the parent's, not ours to stop
        return
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
