"""Checks of the Python API's arguments, before anything reaches the helper.

Everything a Lab sends travels as JSON and ends up in C strings (csrc/01-spawn.c), so a value
that cannot (a NUL byte, a bool taken for an fd, an object with no fileno) is refused here with
a typed error (errors.ArgumentTypeError / InvalidArgumentError, both TimensError) instead of a
raw TypeError from json, EBADF from sendmsg or a silently truncated string in the child.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import IO, Any

from ..errors import ArgumentTypeError, InvalidArgumentError, SpawnError

StdioArg = None | int | IO[Any]
_STDIO_NAMES = ("stdin", "stdout", "stderr")
_STDIO_HINT = ("stdin/stdout/stderr take None (inherit), PIPE, DEVNULL, an open fd (int) or an "
               "object with fileno(), as subprocess.Popen")


def text(value: Any, what: str) -> str:
    """A str for JSON: str, bytes (os.fsdecode) or os.PathLike; no NUL (C strings end there)."""
    try:
        out = os.fsdecode(os.fspath(value))
    except TypeError:
        raise ArgumentTypeError(f"{what} must be a str, bytes or path, not "
                                f"{type(value).__name__}: {value!r:.80}") from None
    if "\0" in out:
        raise InvalidArgumentError(f"{what} contains a NUL byte: {out!r:.80}",
                                   hint="C strings (argv, environment, paths) end at NUL; remove it")
    return out


def argv_list(argv: Any) -> list[str]:
    """argv as a non-empty list of str (never a shell string)."""
    if isinstance(argv, str | bytes | os.PathLike):
        raise SpawnError(
            f"argv must be a non-empty list of strings, not {argv!r:.80}: timens-lab never runs a "
            "shell (use ['sh', '-c', ...] if you mean one)",
            hint="pass a list such as ['cat', '/proc/uptime']")
    try:
        items = list(argv)
    except TypeError:
        raise ArgumentTypeError(f"argv must be a list of strings, not {type(argv).__name__}",
                                hint="pass a list such as ['cat', '/proc/uptime']") from None
    if not items:
        raise SpawnError("argv is empty: name a command to run",
                         hint="pass a list such as ['cat', '/proc/uptime']")
    return [text(a, f"argv[{i}]") for i, a in enumerate(items)]


def env_list(env: Any) -> list[str]:
    """An env mapping as ``KEY=VALUE`` strings (names non-empty, without '=' or NUL)."""
    if not isinstance(env, Mapping):
        raise ArgumentTypeError(f"env must be a mapping of names to values, not "
                                f"{type(env).__name__}", hint="pass a dict, e.g. {**os.environ, 'TZ': 'UTC'}")
    out = []
    for key, value in env.items():
        name = text(key, "an environment variable name")
        if not name or "=" in name:
            raise InvalidArgumentError(f"illegal environment variable name {name!r:.80}",
                                       hint="a name is non-empty and has no '='")
        out.append(f"{name}={text(value, f'the value of {name}')}")
    return out


def flag(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise ArgumentTypeError(f"{what} must be True or False, not {value!r:.80}")
    return value


def optional_flag(value: Any, what: str) -> bool | None:
    return None if value is None else flag(value, what)


def stdio_fd(index: int, spec: Any) -> int:
    """The fd behind an explicit stdio spec (an int or an object with fileno()), checked open."""
    name = _STDIO_NAMES[index]
    if isinstance(spec, bool) or not (isinstance(spec, int) or hasattr(spec, "fileno")):
        raise ArgumentTypeError(f"{name}={spec!r:.80} is not a file descriptor", hint=_STDIO_HINT)
    try:
        fd = spec if isinstance(spec, int) else spec.fileno()
        if not isinstance(fd, int) or isinstance(fd, bool) or fd < 0:
            raise ValueError(fd)
        os.fstat(fd)
    except (OSError, ValueError, OverflowError) as err:  # closed file, EBADF, fd > INT_MAX
        raise InvalidArgumentError(f"{name}={spec!r:.80} is not an open file descriptor "
                                   f"({type(err).__name__}: {err})", hint=_STDIO_HINT) from None
    return fd


def target_spec(target: Any) -> dict[str, Any]:
    """Lab.enter's target as the helper's {"pid": N} or {"path": P}."""
    hint = "pass a pid (an int > 0, e.g. child.pid) or a path such as /proc/PID/ns/time"
    if isinstance(target, bool):
        raise ArgumentTypeError(f"enter({target!r}): a bool is not a pid", hint=hint)
    if isinstance(target, int):
        if target <= 0 or target > 2**31 - 1:
            raise InvalidArgumentError(f"enter({target}): not a valid pid", hint=hint)
        return {"pid": target}
    if isinstance(target, str | bytes | os.PathLike):
        path = text(target, "the namespace path")
        if not path:
            raise InvalidArgumentError("enter(''): the path is empty", hint=hint)
        return {"path": path}
    raise ArgumentTypeError(f"enter() takes a pid or a path, not {type(target).__name__}",
                            hint=hint)
