"""A namespace's holder, known by handle (a pidfd), never by its number alone.

A holder is the process whose time_for_children *is* a pending namespace (csrc/01-spawn.c): its
``/proc/PID/timens_offsets`` is where offsets are written. If something outside kills it, the
helper reaps it and its pid may be handed to any new process — as root, anyone's. So every
holder is tracked by a pidfd opened right after the spawn, while it is our unreaped child (its
pid cannot be reused before we reap it, and only we reap it); signals go through
pidfd_send_signal(2); reaping goes through waitid(P_PIDFD); and a file under /proc/PID is opened
by path and then *re-checked*: if the pidfd says the holder is still running after the open, it
was running at the open, so the path named the holder and not a recycled pid.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import os
import select
import signal

from .. import kernel
from ..errors import NamespaceGoneError
from ..offsets import Offsets, _write_error


@dataclasses.dataclass
class Namespace:
    id: int
    holder: int
    holder_fd: int              # pidfd of the holder: how we signal, reap and re-check it
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
    gone: int | None = None     # the holder died before close(): its returncode (-N: signal N)


def has_exited(pidfd: int) -> bool:
    """A pidfd polls readable once its process has exited (pidfd_open(2))."""
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    return bool(poller.poll(0))


def reap(ns: Namespace) -> int | None:
    """Reap the holder by handle if it has exited (waitid(P_PIDFD), Linux >= 5.4); its
    returncode, or None while it runs or once someone (our waitpid(-1) loop) reaped it."""
    try:
        info = os.waitid(os.P_PIDFD, ns.holder_fd, os.WEXITED | os.WNOHANG)
    except ChildProcessError:
        return None
    if info is None:
        return None
    return info.si_status if info.si_code == os.CLD_EXITED else -info.si_status


def gone_error(ns: Namespace) -> NamespaceGoneError:
    rc = ns.gone if ns.gone is not None else -signal.SIGKILL  # exited, reaped elsewhere
    how = f"killed by signal {-rc}" if rc < 0 else f"exited with status {rc}"
    return NamespaceGoneError(f"namespace gone: its holder died ({how})", ns=ns.id,
                              holder=ns.holder, returncode=rc)


def open_file(ns: Namespace, name: str, flags: int) -> int:
    """Open /proc/<holder>/<name>, guaranteed to be the holder's (see the module docstring)."""
    fd = os.open(f"/proc/{ns.holder}/{name}", flags | os.O_CLOEXEC)
    if has_exited(ns.holder_fd):
        os.close(fd)
        raise GoneNow
    return fd


class GoneNow(Exception):
    """The holder exited under our feet: the caller reaps it and raises gone_error."""


def read_offsets(ns: Namespace) -> Offsets:
    fd = open_file(ns, "timens_offsets", os.O_RDONLY)
    try:
        return Offsets.from_proc(os.read(fd, 4096).decode())
    finally:
        os.close(fd)


def write_offsets(ns: Namespace, offsets: Offsets, clocks: tuple[str, ...]) -> None:
    """One write() of ≤ 2 lines, all-or-nothing in the kernel (kernel-timens.md §3.2)."""
    data = offsets.to_proc(clocks).encode()
    fd = open_file(ns, "timens_offsets", os.O_WRONLY)
    try:
        os.write(fd, data)
    except OSError as err:
        if err.errno == errno.ESRCH:  # died after the open: the kernel checks the task (§3.3)
            raise GoneNow from err
        raise _write_error(err, ns.holder, offsets) from err
    finally:
        os.close(fd)


def kill(ns: Namespace) -> None:
    with contextlib.suppress(OSError):
        kernel.pidfd_send_signal(ns.holder_fd, signal.SIGKILL)


def wait_exit(ns: Namespace, timeout: float) -> None:
    """Wait up to ``timeout`` s for the (SIGKILLed) holder to exit, without reaping it."""
    wait_fd(ns.holder_fd, timeout)


def wait_fd(pidfd: int, timeout: float) -> None:
    """Wait up to ``timeout`` s for a pidfd's process to exit (-1: return at once)."""
    if pidfd >= 0:
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        poller.poll(int(timeout * 1000))
