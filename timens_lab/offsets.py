"""Offsets: the two numbers a time namespace adds to MONOTONIC and BOOTTIME.

Parse durations as people write them (``3600``, ``-1.5h``, ``90ms``, ``2d3h``, ``1e-6s``),
format and parse the exact ``/proc/PID/timens_offsets`` grammar (time_namespaces(7)), write
both clocks in one ``write()`` and explain ERANGE before the kernel says it.
"""

from __future__ import annotations

import dataclasses
import errno
import math
import operator
import os
import re
from decimal import Decimal
from pathlib import Path

from .errors import (
    InvalidOffsetError,
    NoSuchNamespaceError,
    OffsetRangeError,
    OffsetsFrozenError,
    OffsetTypeError,
    PrivilegeError,
    TimensError,
)

NSEC = 1_000_000_000
#: KTIME_SEC_MAX (include/linux/ktime.h): |offset seconds| above this is ERANGE.
KTIME_SEC_MAX = 9_223_372_036
#: host clock + offset must stay within [0, KTIME_SEC_MAX / 2] (kernel/time/namespace.c).
RANGE_MAX_SEC = KTIME_SEC_MAX // 2
CLOCK_NAMES = ("monotonic", "boottime")
#: The numeric ids the kernel also accepts on write (CLOCK_MONOTONIC, CLOCK_BOOTTIME).
CLOCK_IDS = {"monotonic": 1, "boottime": 7}
_TOO_BIG = Decimal(KTIME_SEC_MAX + 1) * NSEC

_UNITS = {
    "ns": Decimal(1), "us": Decimal(1_000), "µs": Decimal(1_000), "ms": Decimal(1_000_000),
    "s": Decimal(NSEC), "sec": Decimal(NSEC), "m": Decimal(60 * NSEC), "min": Decimal(60 * NSEC),
    "h": Decimal(3600 * NSEC), "d": Decimal(86400 * NSEC), "w": Decimal(7 * 86400 * NSEC),
    "y": Decimal(365 * 86400 * NSEC),
}
_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_UNIT = r"(ns|us|µs|ms|sec|min|s|m|h|d|w|y)"
_PART = re.compile(rf"({_NUMBER})\s*{_UNIT}\s*", re.IGNORECASE)
_COMPOUND = re.compile(rf"(?:{_NUMBER}\s*{_UNIT}\s*)+", re.IGNORECASE)
_BARE = re.compile(_NUMBER)
_PROC_LINE = re.compile(r"^(monotonic|boottime)\s+(-?\d+)\s+(\d+)$")


def parse_duration(text: str | int | float) -> int:
    """Nanoseconds from ``3600``, ``-1.5h``, ``90ms``, ``2d3h``, ``+1e-6s`` (bare numbers are seconds).

    Raises:
        InvalidOffsetError: unparsable text or a value that is not a whole number of ns.
        OffsetRangeError: beyond what the kernel can represent (|seconds| > KTIME_SEC_MAX).
    """
    if type(text) is str:
        pass  # the common case first: every check below is for the others
    elif not isinstance(text, bool | str | int | float | Decimal) and hasattr(text, "__index__"):
        text = operator.index(text)  # numpy integers
    if isinstance(text, bool) or not isinstance(text, str | int | float | Decimal):
        raise OffsetTypeError(f"not a duration: {text!r:.80} ({type(text).__name__})",
                              hint="write seconds as a number (3600, -1.5) or a string with a "
                              "unit ('90m', '2d3h', '1.5s')")
    if isinstance(text, float) and not math.isfinite(text):
        raise InvalidOffsetError(f"not a duration: {text!r} (offsets are finite)")
    if isinstance(text, int):
        total = Decimal(text) * NSEC
    else:
        try:
            total = _parse_text(str(text))
        except ArithmeticError as err:  # decimal.Overflow for exponents such as 1e999999999
            raise OffsetRangeError(
                f"{text!r} is beyond the kernel's limit of ±{KTIME_SEC_MAX} s") from err
    if abs(total) > _TOO_BIG:  # before int(): "1e999999999s" must not build a huge integer
        raise OffsetRangeError(f"{text!r} is beyond the kernel's limit of ±{KTIME_SEC_MAX} s")
    if total != total.to_integral_value():
        raise InvalidOffsetError(
            f"{text!r} is not a whole number of nanoseconds (offsets have ns resolution)")
    ns = int(total)
    if abs(ns) // NSEC > KTIME_SEC_MAX:
        raise OffsetRangeError(
            f"{text!r} is {abs(ns) // NSEC} s, beyond the kernel's limit of ±{KTIME_SEC_MAX} s")
    return ns


def _parse_text(raw: str) -> Decimal:
    s = raw.strip().replace("_", "").replace("\u2212", "-")
    sign = Decimal(-1) if s.startswith("-") else Decimal(1)
    body = s[1:].lstrip() if s[:1] in "+-" else s
    if _BARE.fullmatch(body):
        return sign * Decimal(body) * NSEC
    if not _COMPOUND.fullmatch(body):
        raise InvalidOffsetError(
            f"not a duration: {raw!r} (use seconds with an optional unit: 3600, -1.5h, 90ms, 2d3h)")
    return sign * sum((Decimal(n) * _UNITS[u.lower()] for n, u in _PART.findall(body)), Decimal(0))


def format_duration(ns: int) -> str:
    """Short signed label such as ``+1h``, ``−5s``, ``+2d3h``, ``+1.5ms`` (for trees and legends)."""
    if ns == 0:
        return "0"
    sign = "+" if ns > 0 else "\u2212"
    rest = abs(ns)
    if rest % NSEC == 0:
        secs = rest // NSEC
        out = ""
        for unit, size in (("y", 365 * 86400), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
            if secs >= size:
                out += f"{secs // size}{unit}"
                secs %= size
        return sign + out
    for unit, size in (("s", NSEC), ("ms", 1_000_000), ("us", 1_000), ("ns", 1)):
        if rest >= size:
            value = f"{Decimal(rest) / size:f}"
            if "." in value:
                value = value.rstrip("0").rstrip(".")
            return f"{sign}{value}{unit}"
    return sign  # pragma: no cover - rest > 0 always matches "ns"


@dataclasses.dataclass(frozen=True, slots=True)
class Offsets:
    """The monotonic and boottime offsets of a time namespace, in nanoseconds.

    >>> Offsets(monotonic_ns=-9_500_000_000).to_proc()
    'monotonic -10 500000000\\nboottime 0 0\\n'
    """

    monotonic_ns: int = 0
    boottime_ns: int = 0

    def __post_init__(self) -> None:
        # Checked here, at construction: a float would be truncated (1.9 -> 1 ns), a bool is
        # not a number of ns, nan/inf or 10**30 would only fail in the helper, far from here.
        for field in ("monotonic_ns", "boottime_ns"):
            object.__setattr__(self, field, _ns_value(getattr(self, field), field))

    @classmethod
    def of(cls, monotonic: str | int | float | None = None,
           boottime: str | int | float | None = None) -> Offsets:
        return cls(parse_duration(monotonic) if monotonic is not None else 0,
                   parse_duration(boottime) if boottime is not None else 0)

    @classmethod
    def parse_spec(cls, spec: str) -> tuple[int | None, int | None]:
        """``monotonic=1h,boottime=2d`` (CLI ``--ns``) → (monotonic_ns, boottime_ns), None = unset."""
        values: dict[str, int] = {}
        for item in filter(None, (p.strip() for p in spec.split(","))):
            name, sep, value = item.partition("=")
            name = name.strip().lower()
            if not sep:
                raise InvalidOffsetError(
                    f"{item!r}: expected CLOCK=DURATION, e.g. monotonic=1h,boottime=2d")
            if name not in CLOCK_NAMES:
                raise InvalidOffsetError(
                    f"{name!r} has no offset: only monotonic and boottime do "
                    "(REALTIME is not virtualized by time namespaces)")
            values[name] = parse_duration(value)
        return values.get("monotonic"), values.get("boottime")

    def get(self, clock: str) -> int:
        return self.monotonic_ns if clock == "monotonic" else self.boottime_ns

    def to_proc(self, clocks: tuple[str, ...] = CLOCK_NAMES) -> str:
        """The write grammar: ``<name> <signed secs> <unsigned nsecs>`` per line, ≤ 2 lines."""
        lines = []
        for clock in clocks:
            secs, nsec = divmod(self.get(clock), NSEC)  # floor: nsec is always 0..999999999
            lines.append(f"{clock} {secs} {nsec}\n")
        return "".join(lines)

    @classmethod
    def from_proc(cls, text: str) -> Offsets:
        """Parse what the kernel shows (``%-10s %10lld %9ld``, proc_timens_show_offsets)."""
        found: dict[str, int] = {}
        for line in text.splitlines():
            m = _PROC_LINE.match(line.strip())
            if not m:
                raise InvalidOffsetError(f"unexpected timens_offsets line: {line!r}")
            found[m.group(1)] = int(m.group(2)) * NSEC + int(m.group(3))
        try:
            return cls(found.get("monotonic", 0), found.get("boottime", 0))
        except OffsetRangeError as err:  # the kernel never shows one: not its text
            raise InvalidOffsetError(f"unexpected timens_offsets value: {err}") from None

    def check_range(self, host_monotonic_ns: int, host_boottime_ns: int,
                    clocks: tuple[str, ...] = CLOCK_NAMES) -> None:
        """Raise OffsetRangeError where the kernel would say ERANGE (proc_timens_set_offset)."""
        for clock in clocks:
            off = self.get(clock)
            host = host_monotonic_ns if clock == "monotonic" else host_boottime_ns
            total = host + off
            if total < 0:
                raise OffsetRangeError(
                    f"{clock} offset {format_duration(off)} would put the clock before zero: the "
                    f"host's {clock} clock is only {host / NSEC:.3f} s; the most negative "
                    f"allowed now is {format_duration(-(host // NSEC) * NSEC)}", clock=clock)
            if total // NSEC > RANGE_MAX_SEC:
                raise OffsetRangeError(
                    f"{clock} offset {format_duration(off)} would put the clock beyond "
                    f"KTIME_SEC_MAX/2 ({RANGE_MAX_SEC} s, ~146 years)", clock=clock)

    def labels(self) -> str:
        return f"monotonic {format_duration(self.monotonic_ns)}, boottime {format_duration(self.boottime_ns)}"


def _ns_value(value: object, field: str) -> int:
    """An Offsets field: integer nanoseconds (int, numpy integer) or a string with a unit."""
    if isinstance(value, str):
        body = value.strip().lstrip("+-\u2212").strip()
        if _BARE.fullmatch(body.replace("_", "")):
            raise InvalidOffsetError(
                f"Offsets({field}={value!r}): a bare number in a string is ambiguous here",
                hint=f"write the unit ('{body}s' or '{body}ns'), or pass integer nanoseconds")
        return parse_duration(value)
    if isinstance(value, bool | float | Decimal):
        why = "a bool is not a duration" if isinstance(value, bool) else "it would be rounded"
        raise OffsetTypeError(f"Offsets({field}={value!r}): {field} is integer nanoseconds, "
                              f"not {type(value).__name__} ({why})")
    try:
        ns = operator.index(value)  # type: ignore[arg-type]  # TypeError below
    except TypeError:
        raise OffsetTypeError(f"Offsets({field}={value!r:.80}): not integer nanoseconds "
                              f"({type(value).__name__})") from None
    if abs(ns) // NSEC > KTIME_SEC_MAX:
        raise OffsetRangeError(f"Offsets({field}={ns}): beyond the kernel's limit of "
                               f"±{KTIME_SEC_MAX} s")
    return int(ns)


# --- reading and writing /proc/PID/timens_offsets

def read_offsets(pid: int | str = "self", proc: Path = Path("/proc")) -> Offsets:
    """Offsets of PID's **time_for_children** namespace (time_namespaces(7))."""
    try:
        return Offsets.from_proc((proc / str(pid) / "timens_offsets").read_text())
    except FileNotFoundError as err:
        raise NoSuchNamespaceError(f"no process {pid} (or no CONFIG_TIME_NS)", pid=pid) from err


def write_offsets(pid: int | str, offsets: Offsets, clocks: tuple[str, ...] = CLOCK_NAMES,
                  proc: Path = Path("/proc")) -> None:
    """Write ``clocks`` of ``offsets`` into PID's time_for_children namespace in one write().

    One write() of at most two lines is all-or-nothing in the kernel; a buffered writer would
    split or resend it (the kernel takes at most two records per write()), so this uses os.write on a raw fd.
    """
    path = proc / str(pid) / "timens_offsets"
    data = offsets.to_proc(clocks).encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    except FileNotFoundError as err:
        raise NoSuchNamespaceError(f"no process {pid}", pid=pid) from err
    except PermissionError as err:  # EACCES at open(): not ours, or non-dumpable after setuid
        raise PrivilegeError(
            f"cannot open {path} for writing: the process belongs to another user or is "
            "non-dumpable (prctl PR_SET_DUMPABLE)", errno=err.errno, pid=pid) from err
    try:
        n = os.write(fd, data)
    except OSError as err:
        raise write_error(err.errno or errno.EIO, pid, offsets) from err
    finally:
        os.close(fd)
    if n != len(data):  # pragma: no cover - ≤ 2 lines are always taken whole
        raise InvalidOffsetError(f"short write to {path}: {n} of {len(data)} bytes")


def write_error(err: int, pid: int | str | None = None,
                offsets: Offsets | None = None) -> TimensError:
    """What an errno from write(2) on timens_offsets means (proc_timens_set_offset,
    kernel/time/namespace.c): the one table, for our writes (write_offsets, the helper's
    holders) and a spawned child's own (csrc/01-spawn.c). ``pid`` and ``offsets`` add context
    when known."""
    what = offsets.labels() if offsets is not None else "the offsets"
    if err == errno.EACCES:
        return OffsetsFrozenError(
            "offsets frozen: a process already entered this namespace", errno=err, pid=pid)
    if err == errno.ERANGE:
        return OffsetRangeError(
            f"the kernel refused {what} (ERANGE): host clock + offset must stay within "
            f"0 … {RANGE_MAX_SEC} s", errno=err, pid=pid)
    if err == errno.EPERM:
        return PrivilegeError(
            "no CAP_SYS_TIME in the user namespace that owns this time namespace (EPERM)",
            errno=err, pid=pid)
    if err == errno.ESRCH:
        who = f"process {pid}" if pid is not None else "the process"
        return NoSuchNamespaceError(f"{who} exited", errno=err, pid=pid)
    return InvalidOffsetError(f"the kernel refused {what}: {os.strerror(err)}", errno=err, pid=pid)
