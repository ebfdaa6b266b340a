"""The helper: a single-threaded process that owns every namespace and child of one Lab.

Why a separate process (kernel-timens.md §15, STYLE.md §4): a Jupyter kernel is multi-threaded,
so it may not setns() into a time namespace (EUSERS) nor unshare a user namespace (EINVAL), and
unshare(CLONE_NEWTIME) there would silently move every later subprocess. The Lab starts this
module with ``python -m timens_lab.engine._helper FD`` (fork+exec: no Python runs in a forked copy of
the kernel) and talks to it over a SOCK_SEQPACKET socketpair (_wire.py).

Lifetime: the helper exits, killing every process it started, when the Lab's socket closes or
the owning process dies (a pidfd of the owner, robust to SIGKILL and to the socket being
inherited elsewhere). It is a child subreaper, so orphans of commands (grandchildren, daemons
that double-forked) come back to it, and at shutdown it kills and reaps until it has no child
left (_reaper.py). The process the Lab starts is a guard that forks the helper and outlives it:
if the helper is SIGKILLed, its children (PR_SET_PDEATHSIG=SIGKILL) and its orphans pass to the
guard, which kills and reaps them.
"""

from __future__ import annotations

import contextlib
import errno
import os
import selectors
import signal
import socket
import sys
from typing import Any

from .. import kernel
from ..errors import ResourceLimitError, SpawnError, TimensError
from . import _reaper, _wire
from ._helper_ops import Ops


def serve(sock: socket.socket, owner_fd: int) -> int:
    ops = Ops()
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ, "sock")
    if owner_fd >= 0:  # else no pidfds (Linux < 5.3): socket EOF has to do
        sel.register(owner_fd, selectors.EVENT_READ, "owner")
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # wake select(); reaping happens below
    sel.register(wake_r, selectors.EVENT_READ, "wake")
    try:
        while not ops.stopping:
            for key, _ in sel.select():
                if key.data == "owner":
                    return 0
                if key.data == "wake":
                    _drain(wake_r)
                    ops.reap()
                    continue
                try:
                    request, fds = _wire.recv(sock)
                except (EOFError, ConnectionError):
                    return 0
                except _wire.FdsLost:  # we are out of fds: the request cannot be served
                    err = ResourceLimitError("the helper is out of file descriptors (EMFILE)",
                                             errno=errno.EMFILE)
                    _wire.send(sock, {"ok": False, "error": err.to_wire()})
                    continue
                _answer(sock, ops, request, fds)
        return 0
    finally:
        ops.shutdown()


def _answer(sock: socket.socket, ops: Ops, request: dict[str, Any], fds: list[int]) -> None:
    out_fds: list[int] = []
    try:
        handler = getattr(ops, "op_" + str(request.get("op")), None)
        if handler is None:
            raise ValueError(f"unknown op {request.get('op')!r}")
        result, out_fds = handler(request, fds)
        reply: dict[str, Any] = {"ok": True, **result}
    except TimensError as err:
        reply = {"ok": False, "error": err.to_wire()}
    except Exception as err:
        reply = {"ok": False, "error": _untyped(err).to_wire()}
    finally:
        for fd in fds:  # received fds were duplicated into children or are no longer needed
            _close(fd)
    try:
        _wire.send(sock, reply, out_fds)
    except OSError as err:
        if err.errno not in (errno.EPIPE, errno.ECONNRESET):
            raise
    finally:
        for fd in out_fds:
            _close(fd)


def _untyped(err: Exception) -> TimensError:
    """Out of fds or processes gets its own error; anything else untyped is a bug or an
    environment surprise: keep its text, never crash the helper."""
    code = err.errno if isinstance(err, OSError) else None
    if code in (errno.EMFILE, errno.ENFILE, errno.EAGAIN):
        return ResourceLimitError(f"the helper ran out of resources: {err}", errno=code)
    return SpawnError(f"{type(err).__name__}: {err}", errno=code)


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 512):
            pass
    except BlockingIOError:
        pass


def _close(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not argv[0].isdigit():
        sys.stderr.write("timens_lab.engine._helper is started by timens_lab.Lab, not by hand\n")
        return 2
    sock = socket.socket(fileno=int(argv[0]))
    os.set_inheritable(sock.fileno(), False)
    owner_fd = _reaper.owner_pidfd()
    if owner_fd is None:  # the owner died before we started: nothing to serve
        return 0
    # SIGINT from a terminal goes to the whole foreground group; the owner decides, not us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    kernel.set_child_subreaper(True)  # not inherited across fork (prctl(2)): set in both
    helper = os.fork()  # the process is single-threaded here: a plain fork is safe
    if helper:
        # The guard: no socket (the Lab must see EOF when the helper dies), its own process
        # group (a killpg of the owner's group must not take guard and helper down together).
        sock.close()
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        with contextlib.suppress(OSError):
            os.setpgid(0, 0)
        return _reaper.exec_guard(helper, owner_fd)
    kernel.set_child_subreaper(True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        return serve(sock, owner_fd)
    finally:
        sock.close()


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
