"""The kernel layer: the only module that touches the compiled ``lib``.

Hazardous materials, in argon2-cffi's sense: thin wrappers, no policy. Each C wrapper returns
``-errno`` on failure (errno read once, in C, right after the call); here that becomes an
``OSError`` of the right subclass. Meaning ("offsets frozen") is added by the domain layer,
which knows what was being attempted.
"""

from __future__ import annotations

import dataclasses
import errno
from collections.abc import Sequence
from typing import Any, Final, NamedTuple

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
    """setns(2). EUSERS for CLONE_NEWTIME from a multi-threaded caller (timens_install)."""
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


def set_child_subreaper(on: bool = True) -> None:
    _check(lib.tns_prctl(lib.PR_SET_CHILD_SUBREAPER, int(on)), "prctl(PR_SET_CHILD_SUBREAPER)")


def ns_ioctl(fd: int, request: int) -> int:
    """An argument-less nsfs ioctl (NS_GET_NSTYPE, NS_GET_USERNS, NS_GET_PARENT ...)."""
    return _check(lib.tns_ioctl_fd(fd, request), "ioctl")


def kcmp_vm(pid1: int, pid2: int) -> bool | None:
    """kcmp(2) with KCMP_VM: do the two processes share one address space? None where this
    build knows no syscall number for kcmp (ENOSYS)."""
    ret = lib.tns_kcmp(pid1, pid2, lib.KCMP_VM)
    if ret == -errno.ENOSYS:
        return None
    return _check(ret, f"kcmp({pid1}, {pid2})") == 0


def ns_get_id(fd: int) -> int | None:
    """NS_GET_ID (64-bit, never reused; Linux 6.18), or None where the kernel lacks it."""
    out = ffi.new("uint64_t *")
    ret = lib.tns_ns_get_id(fd, out)
    if ret < 0:
        if -ret in (errno.EINVAL, errno.ENOTTY):  # older kernel
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


class ProcScan(NamedTuple):
    """One process as discovery pass 1 read it; ``err``/``fd_err`` are -errno or 0."""

    pid: int
    err: int                     # -EACCES: hidden from us; -ENOENT/-ESRCH: gone
    time: int
    time_for_children: int
    mnt: int                     # 0 when not read
    ppid: int
    num_threads: int
    uid: int                     # owner of /proc/PID: the euid (root when non-dumpable)
    starttime: int
    fd_err: int
    n_fds: int                   # fds on time namespaces; only the first MAX_NS_FDS are in fds
    fds: tuple[tuple[int, int], ...]  # (fd, inode)
    comm: str


class NsQuery(NamedTuple):
    """One namespace as discovery pass 2 saw it."""

    open_err: int                # 0, or -errno (-ESTALE: every candidate had moved on)
    ns_id: int | None
    user_err: int
    user_inode: int
    user_ns_id: int | None
    offsets_err: int             # 0, or -errno (-ESTALE: every reader had moved on)
    offsets_reader: int
    monotonic_ns: int
    boottime_ns: int


#: How many time-namespace fds per process pass 1 reports (more: rescan that one in Python).
MAX_NS_FDS: Final[int] = lib.TNS_MAX_NS_FDS
_PF: Final[int] = lib.TNS_PROC_FIELDS
_QOUT: Final[int] = lib.TNS_NSQ_OUT_FIELDS


def scan_procs(procfd: int, pids: Sequence[int], *, fds: bool = True,
               mounts: bool = True) -> list[ProcScan]:
    """Discovery pass 1 in C (05-discovery.c): ns links, stat, owner uid, mnt ns, time-ns fds.

    Paths are relative to ``procfd``, an fd on the proc root. Results come back as one flat
    int64 array and one string of NUL-separated comms, unpacked here in bulk.
    """
    n = len(pids)
    out = ffi.new("int64_t[]", n * _PF or 1)
    comms = ffi.new("char[]", n * lib.TNS_COMM_LEN + 1)
    flags = (lib.TNS_SCAN_FDS if fds else 0) | (lib.TNS_SCAN_MNT if mounts else 0)
    lib.tns_scan_procs(procfd, ffi.new("int[]", list(pids)) if n else ffi.NULL, n, flags, out,
                       comms)
    values = ffi.unpack(out, n * _PF)
    names = ffi.buffer(comms)[:].decode("utf-8", "replace").split("\0")
    make = ProcScan._make
    rows: list[ProcScan] = []
    for i, pid in enumerate(pids):
        base = i * _PF
        n_fds = values[base + 9]
        pairs = () if not n_fds else tuple(
            (values[k], values[k + 1])
            for k in range(base + 10, base + 10 + 2 * min(n_fds, MAX_NS_FDS), 2))
        rows.append(make((pid, *values[base:base + 10], pairs, names[i])))
    return rows


def read_proc_files(procfd: int, pids: Sequence[int], name: str,
                    per_file: int = 2048) -> list[bytes | None]:
    """``<pid>/<name>`` under ``procfd`` for every pid, in one C loop (05-discovery.c); None for
    a file that could not be read. At most ``per_file`` bytes each on average."""
    n = len(pids)
    if not n:
        return []
    size = n * per_file
    buf = ffi.new("char[]", size)
    lens = ffi.new("int32_t[]", n)
    used = lib.tns_read_proc_files(procfd, ffi.new("int[]", list(pids)), n, name.encode(), buf,
                                   size, lens)
    data = ffi.buffer(buf, max(used, 0))[:]
    out: list[bytes | None] = []
    at = 0
    for k in ffi.unpack(lens, n):
        if k < 0:
            out.append(None)
        else:
            out.append(data[at:at + k])
            at += k
    return out


def query_namespaces(procfd: int, queries: Sequence[tuple[int, Sequence[tuple[int, int, int]],
                                                         Sequence[int]]],
                     *, user_ids: bool = True) -> list[NsQuery]:
    """Discovery pass 2 in C, per ``(inode, [(kind, pid, arg), ...], [reader task, ...])``.

    Reads timens_offsets through the first reader whose time_for_children is still the
    namespace after the read, and uses that link's fd for the ioctls; with no such reader it
    opens the first candidate whose inode matches (kinds: 1 PID/ns/time,
    2 PID/ns/time_for_children, 3 PID/task/ARG/ns/time_for_children, 4 PID/fd/ARG).
    Then NS_GET_ID, and NS_GET_USERNS with that user namespace's inode (and its NS_GET_ID when
    ``user_ids``: needed only to validate user namespaces cached from an earlier scan).
    """
    flat: list[int] = []
    for inode, cands, readers in queries:
        flat.append(inode)
        flat.append(len(cands))
        for cand in cands:
            flat += cand
        flat.append(len(readers))
        flat += readers
    n = len(queries)
    out = ffi.new("int64_t[]", n * _QOUT or 1)
    lib.tns_query_namespaces(procfd, ffi.new("int64_t[]", flat) if n else ffi.NULL, n,
                             lib.TNS_QUERY_USER_ID if user_ids else 0, out)
    v = ffi.unpack(out, n * _QOUT)
    return [NsQuery(v[i], v[i + 2] if v[i + 1] else None, v[i + 3], v[i + 4],
                    v[i + 6] if v[i + 5] else None, v[i + 7], v[i + 8], v[i + 9], v[i + 10])
            for i in range(0, n * _QOUT, _QOUT)]


def clone3_newtime_probe() -> int:
    """0 if clone3(CLONE_NEWTIME) works here, else the errno (forks a child that exits at once)."""
    return -int(lib.tns_clone3_newtime_probe())


# --- process creation (csrc/01-spawn.h; used by engine/_spawner.py, in the helper only) -----

def _stage_texts(enum: str, text: Any) -> dict[int, str]:
    """``{code: what that step was doing}`` for a C stage enum, both read from the binding."""
    return {code: ffi.string(text(code)).decode() for code in ffi.typeof(enum).elements}


#: enum tns_spawn_stage: the step a spawned child failed at (0 is not one: fork() failed).
SPAWN_STAGES: Final[dict[int, str]] = _stage_texts("enum tns_spawn_stage", lib.tns_spawn_stage_text)
#: enum tns_sampler_stage: the step a sampler failed at (its ring's ``error_stage``).
SAMPLER_STAGES: Final[dict[int, str]] = _stage_texts("enum tns_sampler_stage",
                                                     lib.tns_sampler_stage_text)
NULL: Final[Any] = ffi.NULL


def c_chars(data: bytes) -> Any:
    """A NUL-terminated C copy of ``data`` (``char[]``); keep it referenced while C uses it."""
    return ffi.new("char[]", data)


def c_ints(values: Sequence[int]) -> Any:
    return ffi.new("int[]", list(values))


@dataclasses.dataclass(frozen=True)
class CStrings:
    """A NULL-terminated ``char *[]`` and the strings it points to (kept alive with it)."""

    array: Any
    items: list[Any]


def c_strings(items: Sequence[bytes]) -> CStrings:
    c_items = [ffi.new("char[]", item) for item in items]
    return CStrings(ffi.new("char *[]", [*c_items, ffi.NULL]), c_items)


def c_entry_point(name: str) -> Any | None:
    """C entry point ``tns_*_main`` as an ``int (*)(void *)`` for a spawn request's ``fn``;
    None when the extension has no such entry point."""
    if not (name.startswith("tns_") and name.endswith("_main") and hasattr(lib, name)):
        return None
    return ffi.cast("int (*)(void *)", ffi.addressof(lib, name))


def spawn_request() -> Any:
    """A zeroed ``struct tns_spawn`` (csrc/01-spawn.h) to fill in and pass to spawn()."""
    return ffi.new("struct tns_spawn *")


def spawn(req: Any) -> tuple[int, int]:
    """tns_spawn: ``(pid, 0)``, or ``(-errno, stage)`` with a SPAWN_STAGES code (0: fork)."""
    stage = ffi.new("int *")
    pid = int(lib.tns_spawn(req, stage))
    return pid, int(stage[0]) if pid < 0 else 0


def free_stack(stack: Any) -> None:
    """Unmap a holder's stack (a spawn request's ``holder_stack``) once the holder is reaped."""
    lib.tns_free_stack(stack)


# --- the sampler ring (csrc/02-sampler.c; used by ring.py, sampler.py and bench/) -----------

RING_MAGIC: Final[int] = lib.TNS_RING_MAGIC
RING_VERSION: Final[int] = lib.TNS_RING_VERSION
RING_HEADER_SIZE: Final[int] = lib.TNS_RING_HEADER_SIZE
RING_RECORD_SIZE: Final[int] = lib.TNS_RING_RECORD_SIZE
RING_READ_UNSAFE: Final[int] = lib.TNS_READ_UNSAFE  # tests only: proves the torn-read checks bite
#: The control word (written by the owner) and the status word (written by the sampler).
RING_CONTROL: Final[dict[str, int]] = {
    "run": lib.TNS_CTL_RUN, "pause": lib.TNS_CTL_PAUSE, "stop": lib.TNS_CTL_STOP}
RING_STATUS: Final[dict[str, int]] = {
    "new": lib.TNS_ST_NEW, "running": lib.TNS_ST_RUNNING, "paused": lib.TNS_ST_PAUSED,
    "stopped": lib.TNS_ST_STOPPED, "failed": lib.TNS_ST_FAILED}


def sampler_args(ring_fd: int, clock_mask: int, period_ns: int, max_records: int = 0) -> bytes:
    """``struct tns_sampler_args`` as bytes, for tns_sampler_main and the pattern writer."""
    a = ffi.new("struct tns_sampler_args *")
    a.ring_fd, a.clock_mask = ring_fd, clock_mask
    a.period_ns, a.max_records = period_ns, max_records
    return bytes(ffi.buffer(a))


def ring_pointer(buf: Any) -> Any:
    """A C pointer into a mapped ring (a writable buffer); give it back with ring_release()."""
    return ffi.from_buffer(buf, require_writable=True)


def ring_release(ptr: Any) -> None:
    ffi.release(ptr)


def ring_reader_state() -> Any:
    """The reader's ``{tail, drops, torn}`` counters, kept in C memory between reads."""
    return ffi.new("uint64_t[3]")


def ring_read(ptr: Any, capacity: int, state: Any, out: Any, max_out: int, flags: int = 0) -> int:
    """Copy new records into ``out`` (a writable buffer of max_out records); returns how many.
    ``capacity`` is the ring's as created (the shared header is not trusted for addresses)."""
    dst = ffi.from_buffer(out, require_writable=True)
    return _check(int(lib.tns_ring_read(ptr, capacity, state, dst, max_out, flags)), "ring read")


def ring_control(ptr: Any, value: int) -> None:
    lib.tns_ring_control(ptr, value)


class RingStatus(NamedTuple):
    """The ring's status line, read with acquire semantics (tns_ring_status in 02-sampler.c)."""

    status: int
    error: int
    error_stage: int
    pid: int
    clocks: int
    late: int
    period_ns: int
    res_ns: tuple[int, ...]
    head: int


def ring_status(ptr: Any) -> RingStatus:
    """The status word, then what the sampler published with it: never RUNNING with the
    clocks of before, nor FAILED with error 0, on any CPU (a numpy read is a plain load)."""
    out = ffi.new("struct tns_ring_status *")
    lib.tns_ring_status(ptr, out)
    return RingStatus(out.status, out.error, out.error_stage, out.pid, out.clocks, out.late,
                      out.period_ns, tuple(out.res_ns), out.head)


def entry_arg_size(fn: str) -> int:
    """Bytes C entry point ``fn`` reads from its argument (tns_entry_arg_size); 0: any."""
    return int(lib.tns_entry_arg_size(fn.encode()))


def run_c_inline(fn: str, arg: bytes) -> int:
    """Call a ``tns_*_main`` entry point in this process (benchmarks; blocks until it returns)."""
    buf = ffi.new("char[]", arg)
    return int(getattr(lib, fn)(buf))


def clock_ref_loop(n: int, clock_mask: int) -> int:
    """Elapsed MONOTONIC ns of n plain-C reads of the sampler's clocks (the benchmark anchor)."""
    sink = ffi.new("int64_t *")
    return int(lib.tns_clock_ref_loop(n, clock_mask, sink))


def ring_header_offsets() -> dict[str, int]:
    """Byte offsets of the C ring header fields, to check ring.HEADER_DTYPE against."""
    names = ("magic", "version", "header_size", "record_size", "capacity", "head", "control",
             "status", "error", "error_stage", "pid", "clocks", "late", "period_ns", "res_ns",
             "reader_tail", "reader_drops", "reader_torn")
    return {n: int(ffi.offsetof("struct tns_ring_header", n)) for n in names}
