"""The helper's wire format: one JSON object per SOCK_SEQPACKET message, fds as SCM_RIGHTS.

SEQPACKET keeps message boundaries, so there is no framing to get wrong, and a peer that dies
shows up as a zero-length read (EOF) on the other end.
"""

from __future__ import annotations

import contextlib
import json
import socket
from typing import Any

MAX_MESSAGE = 1 << 20
MAX_FDS = 16


def socketpair() -> tuple[socket.socket, socket.socket]:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    return a, b


def send(sock: socket.socket, obj: dict[str, Any], fds: list[int] | tuple[int, ...] = ()) -> None:
    data = json.dumps(obj, separators=(",", ":")).encode()
    if len(data) > MAX_MESSAGE:
        raise ValueError(f"message of {len(data)} bytes is over {MAX_MESSAGE}")
    if fds:
        socket.send_fds(sock, [data], list(fds))
    else:
        sock.sendall(data)


class FdsLost(Exception):
    """The message arrived but its fds did not: the receiver is out of fds (EMFILE) and the
    kernel dropped them (MSG_CTRUNC, unix(7)). ``message`` is the decoded message."""

    def __init__(self, message: dict[str, Any]) -> None:
        super().__init__("file descriptors lost in transit (out of fds?)")
        self.message = message


def recv(sock: socket.socket) -> tuple[dict[str, Any], list[int]]:
    """Next message and the fds that came with it (the caller owns and must close them)."""
    data, fds, flags, _ = socket.recv_fds(sock, MAX_MESSAGE, MAX_FDS)
    if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
        for fd in fds:
            _close(fd)
        if flags & socket.MSG_TRUNC or not data:
            raise ValueError("truncated message on the helper socket")
        raise FdsLost(json.loads(data))
    if not data:
        for fd in fds:
            _close(fd)
        raise EOFError("peer closed the helper socket")
    return json.loads(data), list(fds)


def _close(fd: int) -> None:
    import os

    with contextlib.suppress(OSError):
        os.close(fd)
