"""The helper's wire format: one JSON object per SOCK_SEQPACKET message, fds as SCM_RIGHTS.

SEQPACKET keeps message boundaries, so there is no framing to get wrong, and a peer that dies
shows up as a zero-length read (EOF) on the other end.
"""

from __future__ import annotations

import array
import contextlib
import json
import socket
from typing import Any

from ..errors import MessageTooLargeError

MAX_MESSAGE = 1 << 20
MAX_FDS = 16
#: A SOCK_SEQPACKET message must fit the sender's buffer: unix_dgram_sendmsg() refuses
#: len > sk_sndbuf - 32 with EMSGSIZE (net/unix/af_unix.c), whatever MAX_MESSAGE says.
SNDBUF_OVERHEAD = 32
#: SO_SNDBUF never goes below SOCK_MIN_SNDBUF (include/net/sock.h: twice 2048 bytes plus an
#: sk_buff, over 4 KiB), so messages up to this size always fit and skip the getsockopt.
_ALWAYS_FITS = 4096
# Plain ints: socket's flags are IntFlag members, and enum arithmetic costs microseconds per
# request on Python 3.11.
_MSG_TRUNC = int(socket.MSG_TRUNC)
_TRUNCATED = int(socket.MSG_TRUNC) | int(socket.MSG_CTRUNC)
_MSG_CMSG_CLOEXEC = int(socket.MSG_CMSG_CLOEXEC)
_CMSG_SPACE = socket.CMSG_SPACE(MAX_FDS * array.array("i").itemsize)


def socketpair() -> tuple[socket.socket, socket.socket]:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    return a, b


def max_message(sock: socket.socket) -> int:
    """The largest message ``sock`` can send in one piece (bytes)."""
    sndbuf = sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
    return min(MAX_MESSAGE, sndbuf - SNDBUF_OVERHEAD)


def encode(obj: dict[str, Any], sock: socket.socket | None = None) -> bytes:
    """``obj`` as one message, checked against what ``sock`` can carry before anything is sent.

    Raises:
        MessageTooLargeError: the request is larger than one message can be.
    """
    data = json.dumps(obj, separators=(",", ":")).encode()
    if len(data) > _ALWAYS_FITS:
        limit = max_message(sock) if sock is not None else MAX_MESSAGE
        if len(data) > limit:
            raise MessageTooLargeError(
                f"this request to the helper is {len(data)} bytes, over the {limit} bytes one "
                "message can carry (argv, env and cwd travel in it)", size=len(data), limit=limit)
    return data


def send(sock: socket.socket, obj: dict[str, Any], fds: list[int] | tuple[int, ...] = ()) -> None:
    data = encode(obj, sock)
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
    """Next message and the fds that came with it (the caller owns and must close them).

    Received fds are close-on-exec (MSG_CMSG_CLOEXEC, unix(7)): a pidfd or pipe end must not
    leak into whatever this process starts next (os.system, subprocess without close_fds).
    """
    data, fds, flags = _recv_fds(sock)
    if flags & _TRUNCATED:
        for fd in fds:
            _close(fd)
        if flags & _MSG_TRUNC or not data:
            raise ValueError("truncated message on the helper socket")
        raise FdsLost(json.loads(data))
    if not data:
        for fd in fds:
            _close(fd)
        raise EOFError("peer closed the helper socket")
    return json.loads(data), list(fds)


def _recv_fds(sock: socket.socket) -> tuple[bytes, list[int], int]:
    # Not socket.recv_fds: the one in Python 3.11 accepts a flags argument but never passes
    # it to recvmsg, so MSG_CMSG_CLOEXEC would silently be lost.
    fds = array.array("i")
    data, ancdata, flags, _ = sock.recvmsg(MAX_MESSAGE, _CMSG_SPACE, _MSG_CMSG_CLOEXEC)
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[:len(payload) - len(payload) % fds.itemsize])
    return data, list(fds), flags


def _close(fd: int) -> None:
    import os

    with contextlib.suppress(OSError):
        os.close(fd)
