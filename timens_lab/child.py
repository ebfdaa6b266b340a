"""Child: a process a Lab started inside a time namespace (subprocess.Popen's shape).

The helper is the real parent (only it can reap); the Lab holds a pidfd of its own, so waiting
and signalling need no round trip and can never hit a recycled pid (pidfd_open(2)).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import time
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
        if self.returncode is None and self.pidfd >= 0:
            ready, _, _ = select.select([self.pidfd], [], [], 0)
            if ready:
                self._collect()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """Wait for exit; raises TimeoutError after ``timeout`` seconds."""
        if self.returncode is not None:
            return self.returncode
        ready, _, _ = select.select([self.pidfd], [], [], timeout)
        if not ready:
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
        while streams:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select(list(streams), [], [], left)
            if not ready:
                raise TimeoutError(f"pid {self.pid} still writing after {timeout} s")
            for fd in ready:
                stream, buf = streams[fd]
                chunk = os.read(fd, 65536)
                if chunk:
                    buf += chunk
                else:
                    stream.close()
                    del streams[fd]
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        self.wait(left)
        return (bytes(out) if out is not None else None, bytes(err) if err is not None else None)

    def _collect(self) -> None:
        # The pidfd is readable once the process exited; the helper reaps on SIGCHLD, and the
        # status request reaps too, so one round trip suffices.
        for _ in range(200):
            rc = self._lab._status(self.pid)
            if rc is not None:
                self.returncode = rc
                self._close()
                return
            time.sleep(0.001)
        raise RuntimeError(f"pid {self.pid} exited but the helper has no status for it")

    def _close(self) -> None:
        if self.pidfd >= 0:
            os.close(self.pidfd)
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
