"""The helper's one way to start a process: a Python request turned into ``tns_spawn`` (C).

Runs only in the single-threaded helper (_helper_ops.py). Everything between fork and exec is
C (csrc/01-spawn.c); this module builds the request, keeps its memory alive across the call,
and gives a failure its meaning (spawn_error). It also owns what the C side hands back: the
stacks of holders that share our memory, freed once they are reaped.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from .._timens import ffi, lib
from ._helper_support import STAGES, spawn_error


@dataclasses.dataclass(frozen=True)
class CStrings:
    """A NULL-terminated ``char *[]`` and the strings it points to (kept alive with it)."""
    array: Any
    items: list[Any]


def c_strings(items: list[bytes]) -> CStrings:
    c_items = [ffi.new("char[]", item) for item in items]
    return CStrings(ffi.new("char *[]", [*c_items, ffi.NULL]), c_items)


class Spawner:
    def __init__(self) -> None:
        self._own_env: CStrings | None = None
        self._caller_env: list[str] | None = None
        self._caller_c: CStrings | None = None
        self._last_env: list[str] | None = None
        self._last_c: CStrings | None = None
        #: holders that share our memory run on stacks the C side mapped: pid → stack
        self._stacks: dict[int, Any] = {}

    def spawn(self, *, user_fd: int = -1, time_fd: int = -1, unshare: int = 0,
              map_uid: int = -1, map_gid: int = -1, map_root: bool = False, hold_fd: int = -1,
              stdio: tuple[int, int, int] | list[int] = (-1, -1, -1), keep: list[int] | None = None,
              path: str | None = None, argv: list[str] | None = None, envp: CStrings | None = None,
              cwd: str | None = None, new_pgrp: bool = False, fn: Any = None, arg: Any = None,
              offsets: bytes = b"", what: str = "start a process") -> int:
        """Start a child as the request says (see struct tns_spawn); its pid, or a typed error
        whose ``context["stage"]`` names the step that failed."""
        keep = keep or []
        req = ffi.new("struct tns_spawn *")
        c_offsets = ffi.new("char[]", offsets)
        req.offsets, req.offsets_len = c_offsets, len(offsets)
        req.userns_fd, req.timens_fd, req.unshare_flags = user_fd, time_fd, unshare
        req.map_uid, req.map_gid, req.map_inner_root = map_uid, map_gid, int(map_root)
        req.stdio = list(stdio)
        keep_c = ffi.new("int[]", keep or [0])
        req.keep_fds, req.n_keep_fds = keep_c, len(keep)
        req.hold_fd, req.new_pgrp = hold_fd, int(new_pgrp)
        alive: list[Any] = [keep_c, c_offsets]  # cdata must outlive the fork
        if fn is not None:
            req.fn, req.arg = fn, arg
        else:
            c_path = ffi.new("char[]", os.fsencode(path) if path else b"")
            argv_c = c_strings([os.fsencode(a) for a in argv or []])
            envp_c = envp if envp is not None else c_strings([])
            alive += [c_path, argv_c, envp_c]
            req.path, req.argv, req.envp = c_path, argv_c.array, envp_c.array
        if cwd:
            c_cwd = ffi.new("char[]", os.fsencode(cwd))
            alive.append(c_cwd)
            req.cwd = c_cwd
        stage = ffi.new("int *")
        pid = lib.tns_spawn(req, stage)
        if req.holder_stack != ffi.NULL:
            self._stacks[pid] = req.holder_stack
        if pid < 0:
            exc = spawn_error(-pid, STAGES.get(stage[0], "fork"), what, argv)
            exc.context["stage"] = STAGES.get(stage[0], "fork")
            raise exc
        return int(pid)

    def child_env(self, rq: dict[str, Any]) -> list[str] | None:
        """The environment a spawn request's child gets: its own ``env``, else the caller's.

        The Lab sends the caller's environment (``caller_env``) only when it changed since the
        last request that carried it; we keep it, and its C array, until the next one. None
        (a client that never sent one) means the helper's own environment.
        """
        sent = rq.get("caller_env")
        if sent is not None:
            self._caller_env = [str(e) for e in sent]
            self._caller_c = None
        env = rq.get("env")
        return [str(e) for e in env] if env is not None else self._caller_env

    def envp(self, env: list[str] | None) -> CStrings:
        """The child's environment as a C array. The caller's is built once per change and
        an explicit one is reused while it repeats: rebuilding it per request cost ~40 % of a
        run request. Entries are encoded as os.environb's (surrogateescape round trip)."""
        if env is None:
            if self._own_env is None:
                self._own_env = c_strings([k + b"=" + v for k, v in os.environb.items()])
            return self._own_env
        if env is self._caller_env:
            if self._caller_c is None:
                self._caller_c = c_strings([os.fsencode(e) for e in env])
            return self._caller_c
        if env != self._last_env:
            self._last_env, self._last_c = env, c_strings([os.fsencode(e) for e in env])
        assert self._last_c is not None
        return self._last_c

    def reaped(self, pid: int) -> None:
        """``pid`` is gone: free the stack it ran on, if it shared our memory."""
        stack = self._stacks.pop(pid, None)
        if stack is not None:
            lib.tns_free_stack(stack)
