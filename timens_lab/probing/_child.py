"""The probe's throwaway child: create time namespaces for real, print JSON, leave nothing behind.

Started (see _pyexec) by :func:`timens_lab.probe`; never imported by a
long-lived process. It is a fresh, single-threaded interpreter on purpose: unshare(CLONE_NEWUSER)
is EINVAL in a multi-threaded process (CLONE_NEWUSER implies CLONE_THREAD, kernel-timens.md §2.1)
and every Jupyter kernel has threads, and os.fork() is only safe without threads.

Each attempt runs in its own fork, so the namespaces it creates die with it: a time namespace
lives only while a process (or an fd, or a bind mount) holds it, and the forks hold nothing when
they exit. Every fork sets PR_SET_PDEATHSIG, so a probe killed on timeout leaves no orphan.

Output (stdout): ``{"root": ATTEMPT, "rootless": ATTEMPT, "ns_get_id": {...}}`` where ATTEMPT is
``{"ok": true, "ns": "time:[N]", "monotonic_ns": M, "boottime_ns": B, "clone3_errno": E}`` (the
offsets the grandchild was seen to have, and 0 or the errno of clone3(CLONE_NEWTIME)) or
``{"ok": false, "stage": "unshare"|"write"|"fork"|"verify"|"internal", "errno": E, "detail": S}``.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

from .. import kernel
from ..errors import TimensError
from ..offsets import NSEC, Offsets, write_offsets

#: The two ways in: root (CAP_SYS_ADMIN in our user namespace) and rootless (a fresh user
#: namespace in the same call gives us every capability there; time_namespaces(7)).
ATTEMPTS: dict[str, int] = {
    "root": kernel.CLONE_NEWTIME,
    "rootless": kernel.CLONE_NEWUSER | kernel.CLONE_NEWTIME,
}
#: Distinct, non-round offsets: a swapped clock or a lost nanosecond field shows in the check.
PROBE_OFFSETS = Offsets(monotonic_ns=86_400 * NSEC + 123_456_789,
                        boottime_ns=2 * 86_400 * NSEC + 987_654_321)
_MONO = kernel.CLOCKS["monotonic"]
_BOOT = kernel.CLOCKS["boottime"]

Result = dict[str, Any]


def in_fork(fn: Callable[[], Result]) -> Result:
    """Run ``fn`` in a forked child and return its JSON-able result (the child exits at once)."""
    r, w = os.pipe()
    try:
        pid = os.fork()
    except OSError as err:
        os.close(r)
        os.close(w)
        return _fail("fork", err.errno, f"fork: {err.strerror}")
    if pid == 0:  # pragma: no cover - runs in the fork; its result is what the tests check
        code = 0
        try:
            os.close(r)
            kernel.set_pdeathsig(signal.SIGKILL)
            result = fn()
        except BaseException as exc:  # anything: reported as a result, never a traceback
            result, code = _fail("internal", None, f"{type(exc).__name__}: {exc}"), 1
        try:
            os.write(w, json.dumps(result).encode())
        finally:
            os._exit(code)
    os.close(w)
    with os.fdopen(r, "rb") as reader:
        data = reader.read()
    _, status = os.waitpid(pid, 0)
    if not data:
        return _fail("internal", None, f"probe fork died ({_describe(status)})")
    return json.loads(data)  # type: ignore[no-any-return]


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit status {os.waitstatus_to_exitcode(status)}"


def _fail(stage: str, err: int | None, detail: str) -> Result:
    return {"ok": False, "stage": stage, "errno": err, "detail": detail}


def _read_clocks() -> Result:
    """In the grandchild: the clocks as this namespace shows them."""
    return {"monotonic": kernel.clock_gettime_ns(_MONO), "boottime": kernel.clock_gettime_ns(_BOOT),
            "ns": os.readlink("/proc/self/ns/time")}


def attempt(flags: int) -> Result:
    """unshare(flags), write offsets, fork a grandchild and check that it sees them (in a fork)."""
    if os.getppid() == 1:  # pragma: no cover - our parent died before PDEATHSIG was armed
        return _fail("internal", None, "probe parent exited")
    try:
        kernel.unshare(flags)
    except OSError as err:
        return _fail("unshare", err.errno, str(err.strerror))
    try:
        write_offsets("self", PROBE_OFFSETS)
    except TimensError as err:
        return _fail("write", err.errno, str(err))
    before = kernel.clock_gettime_ns(_MONO), kernel.clock_gettime_ns(_BOOT)
    seen = in_fork(_read_clocks)
    after = kernel.clock_gettime_ns(_MONO), kernel.clock_gettime_ns(_BOOT)
    if "ns" not in seen:
        return seen
    own = os.readlink("/proc/self/ns/time")
    # Exact bracket, no tolerance: the grandchild read host + offset at some instant between
    # our two readings (the clocks are global; the namespace only adds its offset).
    for i, clock in enumerate(("monotonic", "boottime")):
        shift = PROBE_OFFSETS.get(clock)
        if not before[i] + shift <= seen[clock] <= after[i] + shift:
            return _fail("verify", None,
                         f"grandchild {clock} {seen[clock]} ns is not host + {shift} ns "
                         f"(host read {before[i]} … {after[i]} ns)")
    if seen["ns"] == own:
        return _fail("verify", None, f"grandchild stayed in our namespace {own}")
    # clone3(CLONE_NEWTIME) needs CAP_SYS_ADMIN in our user namespace, which we have here.
    return {"ok": True, "ns": seen["ns"], "monotonic_ns": PROBE_OFFSETS.monotonic_ns,
            "boottime_ns": PROBE_OFFSETS.boottime_ns, "clone3_errno": kernel.clone3_newtime_probe()}


def ns_get_id() -> Result:
    """NS_GET_ID on our own time namespace (harmless: it only reads)."""
    fd = os.open("/proc/self/ns/time", os.O_RDONLY | os.O_CLOEXEC)
    try:
        return {"id": kernel.ns_get_id(fd), "errno": None}
    except OSError as err:
        return {"id": None, "errno": err.errno}
    finally:
        os.close(fd)


def main() -> int:
    report: Result = {name: in_fork(lambda flags=flags: attempt(flags))
                      for name, flags in ATTEMPTS.items()}
    try:
        report["ns_get_id"] = ns_get_id()
    except FileNotFoundError:  # no CONFIG_TIME_NS
        report["ns_get_id"] = {"id": None, "errno": errno.ENOENT}
    json.dump(report, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
