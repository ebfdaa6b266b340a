"""The kernel layer: the only module that touches the compiled ``lib``.

Hazardous materials, in argon2-cffi's sense: thin wrappers, no policy. Each C wrapper returns
``-errno`` on failure (errno read once, in C, right after the call); here that becomes an
``OSError`` of the right subclass. Meaning ("offsets frozen") is added by the domain layer,
which knows what was being attempted.
"""

from __future__ import annotations

import functools
import os
from typing import Any, Final

from ._timens import ffi, lib
from .errors import os_error

CLONE_NEWTIME: Final[int] = lib.CLONE_NEWTIME
CLONE_NEWUSER: Final[int] = lib.CLONE_NEWUSER
NS_GET_USERNS: Final[int] = lib.NS_GET_USERNS
NS_GET_PARENT: Final[int] = lib.NS_GET_PARENT
NS_GET_NSTYPE: Final[int] = lib.NS_GET_NSTYPE
NS_GET_OWNER_UID: Final[int] = lib.NS_GET_OWNER_UID
NS_GET_ID: Final[int] = lib.NS_GET_ID
TIMER_ABSTIME: Final[int] = lib.TIMER_ABSTIME
TFD_TIMER_ABSTIME: Final[int] = lib.TFD_TIMER_ABSTIME
TFD_CLOEXEC: Final[int] = lib.TFD_CLOEXEC

#: Clock ids by the names the kernel and time_namespaces(7) use.
CLOCKS: Final[dict[str, int]] = {
    "realtime": lib.CLOCK_REALTIME,
    "monotonic": lib.CLOCK_MONOTONIC,
    "process_cputime": lib.CLOCK_PROCESS_CPUTIME_ID,
    "thread_cputime": lib.CLOCK_THREAD_CPUTIME_ID,
    "monotonic_raw": lib.CLOCK_MONOTONIC_RAW,
    "realtime_coarse": lib.CLOCK_REALTIME_COARSE,
    "monotonic_coarse": lib.CLOCK_MONOTONIC_COARSE,
    "boottime": lib.CLOCK_BOOTTIME,
    "realtime_alarm": lib.CLOCK_REALTIME_ALARM,
    "boottime_alarm": lib.CLOCK_BOOTTIME_ALARM,
    "tai": lib.CLOCK_TAI,
}


def _check(ret: int, what: str, filename: str | None = None) -> int:
    if ret < 0:
        raise os_error(-ret, what, filename)
    return ret


def unshare(flags: int) -> None:
    """unshare(2). CLONE_NEWTIME changes only time_for_children, never the caller's clock."""
    _check(lib.tns_unshare(flags), "unshare")


def setns(fd: int, nstype: int = 0) -> None:
    """setns(2). EUSERS for CLONE_NEWTIME from a multi-threaded caller (kernel-timens.md §2.4)."""
    _check(lib.tns_setns(fd, nstype), "setns")


def clock_gettime_ns(clock: int) -> int:
    out = ffi.new("int64_t *")
    _check(lib.tns_clock_gettime(clock, out), "clock_gettime")
    return int(out[0])


def clock_getres_ns(clock: int) -> int:
    out = ffi.new("int64_t *")
    _check(lib.tns_clock_getres(clock, out), "clock_getres")
    return int(out[0])


def clock_nanosleep(clock: int, ns: int, *, absolute: bool = False) -> int:
    """Sleep; returns the remaining ns (0 unless interrupted). Absolute targets are namespace time."""
    rem = ffi.new("int64_t *")
    ret = lib.tns_clock_nanosleep(clock, TIMER_ABSTIME if absolute else 0, ns, rem)
    if ret == -4:  # EINTR: report what was left, like the syscall
        return int(rem[0])
    _check(ret, "clock_nanosleep")
    return 0


def timerfd_create(clock: int, flags: int = 0) -> int:
    return _check(lib.tns_timerfd_create(clock, flags | TFD_CLOEXEC), "timerfd_create")


def timerfd_settime(fd: int, value_ns: int, interval_ns: int = 0, *,
                    absolute: bool = False) -> tuple[int, int]:
    old_v, old_i = ffi.new("int64_t *"), ffi.new("int64_t *")
    flags = TFD_TIMER_ABSTIME if absolute else 0
    _check(lib.tns_timerfd_settime(fd, flags, value_ns, interval_ns, old_v, old_i), "timerfd_settime")
    return int(old_v[0]), int(old_i[0])


def timerfd_gettime(fd: int) -> tuple[int, int]:
    """Relative time left and interval, in ns (timerfd_gettime(2) is always relative)."""
    v, i = ffi.new("int64_t *"), ffi.new("int64_t *")
    _check(lib.tns_timerfd_gettime(fd, v, i), "timerfd_gettime")
    return int(v[0]), int(i[0])


def pidfd_open(pid: int) -> int:
    return _check(lib.tns_pidfd_open(pid, 0), "pidfd_open")


def pidfd_send_signal(pidfd: int, sig: int) -> None:
    _check(lib.tns_pidfd_send_signal(pidfd, sig), "pidfd_send_signal")


def set_pdeathsig(sig: int) -> None:
    _check(lib.tns_prctl(lib.PR_SET_PDEATHSIG, sig), "prctl(PR_SET_PDEATHSIG)")


def set_dumpable(on: bool) -> None:
    _check(lib.tns_prctl(lib.PR_SET_DUMPABLE, int(on)), "prctl(PR_SET_DUMPABLE)")


def get_dumpable() -> bool:
    out = ffi.new("int *")
    _check(lib.tns_prctl_get(lib.PR_GET_DUMPABLE, out), "prctl(PR_GET_DUMPABLE)")
    return bool(out[0])


def set_child_subreaper(on: bool = True) -> None:
    _check(lib.tns_prctl(lib.PR_SET_CHILD_SUBREAPER, int(on)), "prctl(PR_SET_CHILD_SUBREAPER)")


def ns_ioctl(fd: int, request: int) -> int:
    """An argument-less nsfs ioctl (NS_GET_NSTYPE, NS_GET_USERNS, NS_GET_PARENT ...)."""
    return _check(lib.tns_ioctl_fd(fd, request), "ioctl")


def ns_get_id(fd: int) -> int | None:
    """NS_GET_ID (64-bit, never reused; Linux 6.18), or None where the kernel lacks it."""
    out = ffi.new("uint64_t *")
    ret = lib.tns_ns_get_id(fd, out)
    if ret < 0:
        if -ret in (22, 25):  # EINVAL / ENOTTY: older kernel
            return None
        raise os_error(-ret, "ioctl(NS_GET_ID)")
    return int(out[0])


def ns_owner_uid(fd: int) -> int:
    """NS_GET_OWNER_UID on a user-namespace fd: the uid that created it (EINVAL for others)."""
    out = ffi.new("uint32_t *")
    _check(lib.tns_ns_owner_uid(fd, out), "ioctl(NS_GET_OWNER_UID)")
    return int(out[0])


def timens_offsets_via_setns(fd: int) -> str:
    """Text of timens_offsets for the time namespace behind ``fd``, read in a throwaway child.

    The child setns()es into the namespace, which freezes its offsets: call this only for a
    namespace that is already frozen or that no process holds as time_for_children (then no one
    can ever write them). EPERM without CAP_SYS_ADMIN over the namespace's owner.
    """
    buf = ffi.new("char[]", 256)
    n = _check(lib.tns_timens_offsets_via_setns(fd, buf, 256), "setns(CLONE_NEWTIME) probe")
    return bytes(ffi.buffer(buf, n)).decode()


def clone3_newtime_probe() -> int:
    """0 if clone3(CLONE_NEWTIME) works here, else the errno (forks a child that exits at once)."""
    return -lib.tns_clone3_newtime_probe()


def gettid() -> int:
    return int(lib.tns_gettid())


@functools.lru_cache(maxsize=1)
def has_time_namespaces() -> bool:
    """CONFIG_TIME_NS: the kernel shows a time namespace link for every process."""
    return os.path.exists("/proc/self/ns/time")

CAP_SYS_ADMIN = 21  # include/uapi/linux/capability.h


def has_effective_cap(cap: int, status_path: str = "/proc/self/status") -> bool:
    """Whether ``cap`` is in our effective set (CapEff in proc(5)); root in a default Docker
    container lacks CAP_SYS_ADMIN and must go rootless like any user."""
    try:
        with open(status_path) as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> cap & 1)
    except OSError:
        pass
    return False
