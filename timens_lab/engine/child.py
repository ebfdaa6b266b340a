"""Child: a process a Lab started inside a time namespace (subprocess.Popen's shape).

The helper is the real parent (only it can reap); the Lab holds a pidfd of its own, so waiting
and signalling need no round trip and can never hit a recycled pid (pidfd_open(2)). Waiting uses
poll(2), not select(2): select cannot watch an fd above FD_SETSIZE (1024). A Child nobody waits
for closes its pidfd when it is garbage-collected (weakref.finalize), so fire-and-forget spawns
do not run out of fds.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import threading
import time
import weakref
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .lab import Lab


class Child:
    """A running (or finished) process. ``returncode`` is negative for a signal, as in subprocess."""

    def __init__(self, lab: Lab, pid: int, pidfd: int, argv: list[str], namespace: Any,
                 time_ns: int | None, stdin: IO[bytes] | None = None,
                 stdout: IO[bytes] | None = None, stderr: IO[bytes] | None = None) -> None:
        self._lab = lab
        self.pid = pid
        self.pidfd = pidfd
        #: closes the pidfd once, by close() or when this object is collected (never twice: a
        #: second close could hit an fd number reused by something else)
        self._pidfd_closer = weakref.finalize(self, _close_fd, pidfd)
        self._collect_lock = threading.Lock()
        self.argv = argv
        self.namespace = namespace
        #: inode of the time namespace the child actually runs in (read from /proc at spawn)
        self.time_ns = time_ns
        self.stdin, self.stdout, self.stderr = stdin, stdout, stderr
        self.returncode: int | None = None

    def __repr__(self) -> str:
        state = "running" if self.returncode is None else f"returncode={self.returncode}"
        return f"<Child pid={self.pid} {self.argv[:3]!r} {state}>"

    def poll(self) -> int | None:
        if self.returncode is None and self.pidfd >= 0 and _readable(self.pidfd, 0):
            self._collect()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """Wait for exit; raises TimeoutError after ``timeout`` seconds."""
        if self.returncode is not None:
            return self.returncode
        if self.pidfd < 0:  # poll(2) ignores a negative fd: this would never return
            from ..errors import LabClosedError
            raise LabClosedError(f"no handle on pid {self.pid} anymore: its Lab closed it")
        if not _readable(self.pidfd, timeout):
            raise TimeoutError(f"pid {self.pid} still running after {timeout} s")
        self._collect()
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.returncode is None and self.pidfd >= 0:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self.pidfd, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def communicate(self, input: bytes | None = None,
                    timeout: float | None = None) -> tuple[bytes | None, bytes | None]:
        """Send ``input``, read stdout/stderr to EOF, wait. Like Popen.communicate."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if self.stdin is not None:
            if input:
                self.stdin.write(input)
            self.stdin.close()
        out = bytearray() if self.stdout is not None else None
        err = bytearray() if self.stderr is not None else None
        streams = {s.fileno(): (s, buf) for s, buf in ((self.stdout, out), (self.stderr, err))
                   if s is not None and buf is not None}
        poller = select.poll()
        for fd in streams:
            poller.register(fd, select.POLLIN)
        while streams:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready = [fd for fd, _ in _poll(poller, left)]
            if not ready:
                raise TimeoutError(f"pid {self.pid} still writing after {timeout} s")
            for fd in ready:
                stream, buf = streams[fd]
                chunk = os.read(fd, 65536)
                if chunk:
                    buf += chunk
                else:
                    poller.unregister(fd)
                    stream.close()
                    del streams[fd]
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        self.wait(left)
        return (bytes(out) if out is not None else None, bytes(err) if err is not None else None)

    def _collect(self) -> None:
        # The pidfd is readable once the process exited; the helper reaps on SIGCHLD, and the
        # status request reaps too, so one round trip suffices. The helper hands a status out
        # once: two threads waiting for the same Child must not both ask for it.
        with self._collect_lock:
            if self.returncode is not None:
                return
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                rc = self._lab._status(self.pid)
                if rc is not None:
                    self.returncode = rc
                    self._close()
                    return
                time.sleep(0.001)
        raise RuntimeError(f"pid {self.pid} exited but the helper has no status for it")

    def _close(self) -> None:
        self._pidfd_closer()
        self.pidfd = -1

    def __enter__(self) -> Child:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.returncode is None:
            self.kill()
            try:
                self.wait(5)
            except Exception:
                self._close()
        for stream in (self.stdin, self.stdout, self.stderr):
            if stream is not None and not stream.closed:
                stream.close()


def _close_fd(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)


def _poll(poller: select.poll, timeout: float | None) -> list[tuple[int, int]]:
    """poller.poll with a timeout in seconds (None: forever), any fd number (unlike select)."""
    if timeout is None:
        return poller.poll()
    return poller.poll(max(0, int(timeout * 1000 + 0.999)))  # ms, rounded up: never early


def _readable(fd: int, timeout: float | None) -> bool:
    """A pidfd polls readable once its process exited (pidfd_open(2))."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(_poll(poller, timeout))
