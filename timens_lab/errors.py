"""Typed errors: what went wrong, in the kernel's terms and in the user's, plus how to fix it.

Every error carries a one-line ``hint``. The CLI prints ``error: <message>`` and ``hint: <hint>``
(cli.py is the one error boundary); the notebook panel shows the same two lines. Errors cross the
helper's socket as ``to_wire()`` dicts and are rebuilt with ``from_wire()``.
"""

from __future__ import annotations

import errno as _errno
import os
from typing import Any, ClassVar


class TimensError(Exception):
    """Base class. Never raised directly."""

    hint: ClassVar[str] = ""

    def __init__(self, message: str, *, hint: str | None = None, errno: int | None = None,
                 **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.errno = errno
        self.context = context
        if hint is not None:
            self.hint = hint  # type: ignore[misc]

    def __str__(self) -> str:
        return self.message

    @property
    def errno_name(self) -> str | None:
        return _errno.errorcode.get(self.errno) if self.errno else None

    def to_wire(self) -> dict[str, Any]:
        return {"type": type(self).__name__, "message": self.message, "hint": self.hint,
                "errno": self.errno, "context": self.context}

    def __reduce__(self) -> tuple[Any, ...]:
        return (from_wire, (self.to_wire(),))


class InvalidOffsetError(TimensError, ValueError):
    """An offset or duration that cannot be parsed, or a clock the kernel does not offset."""

    hint = ("write a number of seconds with an optional unit and sign, e.g. 3600, -1.5h, 90ms, "
            "2d3h; only the monotonic and boottime clocks have offsets")


class OffsetRangeError(TimensError, ValueError):
    """ERANGE: host clock + offset would leave [0, KTIME_SEC_MAX/2] (kernel/time/namespace.c)."""

    hint = ("the kernel checks host_clock + offset against 0 and ~146 years (KTIME_SEC_MAX/2); "
            "a negative offset may be at most the host's current uptime")


class OffsetsFrozenError(TimensError):
    """EACCES on write(timens_offsets): a process already entered the namespace."""

    hint = ("offsets can only be set before the first process enters the namespace (fork, setns, "
            "exec or clone3 freeze them); create a new namespace with the offsets you want")


class NamespaceLimitError(TimensError):
    """ENOSPC from unshare: user.max_time_namespaces or user.max_user_namespaces reached."""

    hint = ("raise the limit: sysctl -w user.max_time_namespaces=N (or user.max_user_namespaces "
            "for rootless), or close namespaces you no longer need")


class MultiThreadedError(TimensError):
    """EUSERS from setns(CLONE_NEWTIME) or EINVAL from unshare(CLONE_NEWUSER) with threads."""

    hint = ("a multi-threaded process (every Jupyter kernel) cannot join a time namespace or "
            "create a user namespace; use timens_lab.Lab, which does this in a helper process")


class PrivilegeError(TimensError, PermissionError):
    """EPERM: no CAP_SYS_ADMIN / CAP_SYS_TIME where the kernel needs it."""

    hint = ("run as a normal user with rootless mode (a user namespace), or as root; if rootless "
            "fails too, run `timens-lab probe` to see which policy blocks user namespaces")


class TimeNamespaceUnavailable(TimensError):
    """The kernel or the environment cannot create time namespaces at all."""

    hint = "run `timens-lab probe` for the reason and the fix; the notebooks fall back to replay"


class SpawnError(TimensError):
    """A child could not be started (exec failed, bad argv, bad cwd...)."""

    hint = "check the command name and that it exists in PATH"


class NoSuchNamespaceError(TimensError, LookupError):
    """A pid or namespace file that does not exist or is not a time namespace."""

    hint = "pass a live pid (see `timens-lab tree`) or a path such as /proc/PID/ns/time"


class NamespaceGoneError(NoSuchNamespaceError):
    """The holder of a namespace this Lab created died (killed from outside the Lab): the
    namespace can no longer be edited or entered through it, and its pid may belong to a
    stranger now, so timens-lab refuses rather than act on that number."""

    hint = ("something outside timens-lab killed the namespace's holder process; close this "
            "namespace (ns.close() is safe) and create a new one")


class PendingNamespaceError(TimensError, ValueError):
    """Entering would freeze a pending namespace (no member yet) that someone may still write."""

    hint = ("pass --freeze (Python: freeze=True) to enter it anyway, which fixes its offsets for "
            "good; or wait until its creator starts a process in it")


class HelperDiedError(TimensError):
    """The helper process that owns the namespaces is gone."""

    hint = ("its namespaces and processes were killed with it; create a new Lab() "
            "(lab.close() first if you still hold the old one)")


class ResourceLimitError(TimensError):
    """EMFILE/ENFILE/EAGAIN: out of file descriptors or processes (RLIMIT_NOFILE, RLIMIT_NPROC)."""

    hint = ("each namespace holds 2–3 fds in the helper and each child one pidfd here: raise the "
            "limit (ulimit -n 4096), or close namespaces and children you no longer need")


class LabClosedError(TimensError):
    """An operation on a Lab (or something it owns) after close()."""

    hint = "create a new Lab()"


class LabForkedError(LabClosedError):
    """A Lab used in a child made by os.fork(): its helper belongs to the parent process."""

    hint = ("a Lab's helper serves only the process that created it; create a new Lab() in "
            "the forked child (the parent's Lab keeps working in the parent)")


class OffsetTypeError(InvalidOffsetError, TypeError):
    """An offset of a type that is not a duration (a bool, a list, None where ns are needed...)."""

    hint = ("Offsets(monotonic_ns, boottime_ns) takes integer nanoseconds or a string with a unit "
            "('90m', '1.5s'); Offsets.of(monotonic=1.5) and lab.namespace() take seconds")


class InvalidArgumentError(TimensError, ValueError):
    """A bad value passed to the Python API (a pid, an fd, an environment entry...)."""

    hint = "see the docstring of the call for the accepted values"


class ArgumentTypeError(InvalidArgumentError, TypeError):
    """An argument of the wrong type passed to the Python API."""

    hint = "see the docstring of the call for the accepted types"


class MessageTooLargeError(TimensError, ValueError):
    """A request to the helper larger than its socket can carry (argv and env travel in it)."""

    hint = ("pass large data through a file or stdin=PIPE instead of argv or the environment; "
            "one request to the helper carries at most the socket's send buffer (SO_SNDBUF)")


class RecordingError(TimensError, ValueError):
    """A file that is not a usable timens-lab recording (base of the recording errors)."""

    hint = ("check the path; `timens-lab replay FILE` reads files written by `timens-lab "
            "record` (format: timens_lab/recording/format.py)")


class NotARecordingError(RecordingError):
    """The file does not start with the recording magic: another kind of file, or empty."""

    hint = ("this is not a timens-lab recording; make one with `timens-lab record --out "
            "FILE.tnsrec`, or replay a shipped one with `timens-lab replay --list`")


class RecordingVersionError(RecordingError):
    """A recording in a major format version this timens-lab cannot read."""

    hint = ("replay it with the timens-lab version that wrote it (see the error for which), or "
            "record it again with this one")


class RecordingTruncatedError(RecordingError):
    """The file ends early: the recorder was killed, or the copy is incomplete."""

    hint = ("a killed recorder leaves FILE.*.partial; `timens-lab replay --partial FILE` (or "
            "Replay(path, partial=True)) replays the complete part")


class RecordingCorruptError(RecordingError):
    """A checksum or a field that does not add up: the file was damaged after it was written."""

    hint = ("the file was changed or damaged after it was written; copy it again, or record a "
            "new one with `timens-lab record`")


_TYPES: dict[str, type[TimensError]] = {
    cls.__name__: cls for cls in (
        InvalidOffsetError, OffsetRangeError, OffsetsFrozenError, NamespaceLimitError,
        MultiThreadedError, PrivilegeError, TimeNamespaceUnavailable, SpawnError,
        NoSuchNamespaceError, NamespaceGoneError, PendingNamespaceError, HelperDiedError,
        LabClosedError, ResourceLimitError, LabForkedError, OffsetTypeError, InvalidArgumentError,
        ArgumentTypeError, MessageTooLargeError,
        RecordingError, NotARecordingError, RecordingVersionError, RecordingTruncatedError,
        RecordingCorruptError,
    )
}


def from_wire(data: dict[str, Any]) -> TimensError:
    """Rebuild an error sent by ``to_wire()`` (unknown types become a plain SpawnError)."""
    cls = _TYPES.get(data.get("type", ""), SpawnError)
    return cls(data.get("message", "unknown error"), hint=data.get("hint"),
               errno=data.get("errno"), **data.get("context", {}))


def os_error(err: int, what: str, filename: str | None = None) -> OSError:
    """An OSError (the right subclass, e.g. PermissionError) for a -errno result."""
    return OSError(err, f"{what}: {os.strerror(err)}", filename)
