"""The tutorial's observations of this machine: commands run inside namespaces, /proc files, raw
writes to timens_offsets, syscalls and ioctls made from the notebook's own process.

Companion of _exp.py (the C experiments) and _obs.py (trees, workloads, live
views). Everything that looks at the machine is taped (_tape.py), so replay mode answers
from the notebook's recording.
"""

from __future__ import annotations

import dataclasses
import datetime
import errno
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from .. import kernel
from .._pyexec import python_argv
from ..engine.lab import PIPE
from ._exp import NSEC
from ._tape import result, taped

#: A C-locale, UTC environment for tools whose output we parse (uptime, ps, dmesg).
TOOL_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C", "TZ": "UTC"}


# --- commands ----------------------------------------------------------------------------------

@result
@dataclasses.dataclass(frozen=True)
class Command:
    """What a command printed, run inside a namespace or on the host."""

    where: str
    argv: list[str]
    returncode: int
    out: str
    err: str

    def _repr_html_(self) -> str:
        import html

        text = self.out if self.returncode == 0 else f"{self.out}{self.err}(exit {self.returncode})"
        return (f"<pre><b>{html.escape(self.where)}$ {html.escape(' '.join(self.argv))}</b>\n"
                f"{html.escape(text)}</pre>")

    def __repr__(self) -> str:
        return f"{self.where}$ {' '.join(self.argv)}\n{self.out}{self.err}"


def _where(target: Any) -> str:
    if type(target).__name__ == "Lab":
        return "host"
    return str(getattr(target, "label", f"time:[{target.inode}]"))


@taped
def command(target: Any, argv: Sequence[str], env: Mapping[str, str] | None = None,
            timeout: float = 20.0) -> Command:
    """Run ``argv`` inside ``target`` (a namespace, or the Lab for the host) and collect it."""
    child = target.spawn(list(argv), stdout=PIPE, stderr=PIPE,
                         env=dict(env) if env is not None else dict(TOOL_ENV))
    out, err = child.communicate(timeout=timeout)
    return Command(_where(target), list(argv), child.returncode if child.returncode is not None
                   else -1, (out or b"").decode(errors="replace"),
                   (err or b"").decode(errors="replace"))


# --- /proc views: checks 8, 9, 37 --------------------------------------------------------------

@result
@dataclasses.dataclass(frozen=True)
class ProcTimes:
    """/proc/uptime and /proc/stat btime read on the host, inside, and on the host again."""

    label: str
    boottime_ns: int
    monotonic_ns: int
    host: list[tuple[float, float, int]]     # (uptime, idle, btime), before and after
    inside: tuple[float, float, int]

    @property
    def uptime_shift(self) -> float:
        """Inside uptime − the host's, interpolated between the two host readings."""
        return self.inside[0] - (self.host[0][0] + self.host[1][0]) / 2

    @property
    def uptime_bracket(self) -> float:
        return (self.host[1][0] - self.host[0][0]) / 2 + 0.01  # /proc/uptime has 10 ms steps

    @property
    def btime_shift(self) -> int:
        return self.inside[2] - self.host[0][2]

    def _repr_html_(self) -> str:
        rows = [("/proc/uptime (s since boot)", self.host[0][0], self.inside[0]),
                ("/proc/uptime idle (CPU s)", self.host[0][1], self.inside[1]),
                ("/proc/stat btime (epoch s)", self.host[0][2], self.inside[2])]
        body = "".join(f"<tr><td>{a}</td><td>{b:,.2f}</td><td>{c:,.2f}</td><td>{c - b:+,.2f}</td>"
                       "</tr>" for a, b, c in rows)
        return (f"<p><b>{self.label}</b></p><table><tr><th></th><th>host</th><th>inside</th>"
                f"<th>inside − host</th></tr>{body}</table>")


_PROC_TIMES = ["sh", "-c", "cat /proc/uptime; grep '^btime ' /proc/stat"]


def _parse_proc_times(text: str) -> tuple[float, float, int]:
    lines = text.split("\n")
    up, idle = (float(x) for x in lines[0].split())
    return up, idle, int(lines[1].split()[1])


@taped
def proc_times(ns: Any) -> ProcTimes:
    host0 = command(ns.lab, _PROC_TIMES)
    inside = command(ns, _PROC_TIMES)
    host1 = command(ns.lab, _PROC_TIMES)
    off = ns.offsets
    return ProcTimes(ns.label, off.boottime_ns, off.monotonic_ns,
                     [_parse_proc_times(host0.out), _parse_proc_times(host1.out)],
                     _parse_proc_times(inside.out))


@result
@dataclasses.dataclass(frozen=True)
class Tools:
    """uptime, ps and dmesg -T inside a namespace and on the host (check 37)."""

    label: str
    monotonic_ns: int
    boottime_ns: int
    uptime: tuple[Command, Command]          # host, inside
    ps: tuple[Command, Command]              # lstart of the same process, host and inside
    dmesg: tuple[Command, Command] | None    # None: the kernel log is not readable here
    clocks: Any                              # a ClockReading of the same namespace

    @staticmethod
    def dmesg_time(line: str) -> datetime.datetime:
        """The wall-clock stamp of a ``dmesg -T`` line, ``[Sat Nov 29 07:58:01 2025] ...``."""
        stamp = line[1:line.index("]")]
        return datetime.datetime.strptime(" ".join(stamp.split()), "%a %b %d %H:%M:%S %Y")

    def dmesg_shift_s(self) -> float | None:
        """Inside − host, in s, for the last line the host printed (found again inside)."""
        if self.dmesg is None:
            return None
        host_lines = [ln for ln in self.dmesg[0].out.splitlines() if ln.startswith("[")]
        inside = {ln[ln.index("]"):]: ln for ln in self.dmesg[1].out.splitlines()
                  if ln.startswith("[")}
        for line in reversed(host_lines):
            twin = inside.get(line[line.index("]"):])
            if twin is not None:
                return (self.dmesg_time(twin) - self.dmesg_time(line)).total_seconds()
        return None

    def dmesg_formula_shift_s(self) -> float:
        """What ``dmesg -T`` (util-linux >= 2.37) adds to a kernel-log stamp, inside − host.

        It prints boot_time + stamp + suspended, with boot_time = REALTIME − BOOTTIME and
        suspended = BOOTTIME − MONOTONIC (lib/monotonic.c, sys-utils/dmesg.c): REALTIME −
        MONOTONIC, so the BOOTTIME offset cancels and the MONOTONIC offset remains.
        """
        r = self.clocks
        return (r.offset_ns("realtime") - r.offset_ns("monotonic")) / NSEC


@taped
def tools(ns: Any) -> Tools:
    from ._exp import clocks

    lab = ns.lab
    pid = str(lab.helper_pid)
    ps = ["ps", "-o", "lstart=", "-p", pid]
    dm = ["dmesg", "-T"]
    host_dmesg = command(lab, dm)
    # The last lines are enough to match one message inside and out (and keep tapes small).
    dmesg = (_tail(host_dmesg), _tail(command(ns, dm))) if host_dmesg.returncode == 0 else None
    off = ns.offsets
    return Tools(ns.label, off.monotonic_ns, off.boottime_ns,
                 (command(lab, ["uptime"]), command(ns, ["uptime"])),
                 (command(lab, ps), command(ns, ps)), dmesg, clocks(ns))


def _tail(cmd: Command, lines: int = 20) -> Command:
    return dataclasses.replace(cmd, out="".join(cmd.out.splitlines(keepends=True)[-lines:]))


# --- raw writes to timens_offsets: checks 10-17 -------------------------------------------------

@result
@dataclasses.dataclass(frozen=True)
class RawWrite:
    """One os.write() of ``data`` to a timens_offsets file: the count returned, or the errno."""

    path: str
    data: str
    returned: int | None
    error: str | None            # "EACCES", ... (None: the write returned a count)
    at_open: bool = False        # the error came from open(), not write()

    def __repr__(self) -> str:
        what = f"returned {self.returned}" if self.error is None else (
            f"{'open' if self.at_open else 'write'} failed: {self.error}")
        return f"write({self.path!r}, {self.data!r}) {what}"

    def _repr_html_(self) -> str:
        import html

        return f"<code>{html.escape(repr(self))}</code>"


def _offsets_path(target: Any) -> str:
    if isinstance(target, str | int):
        return f"/proc/{target}/timens_offsets"
    return f"/proc/{target.holder_pid}/timens_offsets"


@taped
def write_offsets_raw(target: Any, data: str) -> RawWrite:
    """Write ``data`` to the offsets file of ``target`` (a pending namespace's holder, a pid or
    "self") with one os.write(), exactly as given: no parsing, no checks of our own."""
    path = _offsets_path(target)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    except OSError as err:
        return RawWrite(path, data, None, errno.errorcode.get(err.errno or 0, str(err)), True)
    try:
        return RawWrite(path, data, os.write(fd, data.encode()), None)
    except OSError as err:
        return RawWrite(path, data, None, errno.errorcode.get(err.errno or 0, str(err)))
    finally:
        os.close(fd)


@taped
def read_offsets_raw(target: Any) -> str:
    """The exact text of an offsets file (PID's time_for_children, kernel-timens.md §3.1)."""
    with open(_offsets_path(target)) as f:
        return f.read()


# --- threads, subprocess, ioctls: checks 19, 20, 23-25 ------------------------------------------

@taped
def setns_here() -> dict[str, Any]:
    """Check 25: setns(CLONE_NEWTIME) from this (multi-threaded) process, into its own namespace.

    Joining the namespace we are already in changes nothing even if the kernel allowed it; it
    does not: the single-threaded check comes first (timens_install, kernel/time/namespace.c).
    """
    threads = len(os.listdir("/proc/self/task"))
    fd = os.open("/proc/self/ns/time", os.O_RDONLY | os.O_CLOEXEC)
    try:
        kernel.setns(fd, kernel.CLONE_NEWTIME)
        code = 0
    except OSError as err:
        code = err.errno or 0
    finally:
        os.close(fd)
    return {"threads": threads, "errno": errno.errorcode.get(code, "ok")}


@taped
def subprocess_after_unshare(lab: Any, offset: int = 500) -> dict[str, int]:
    """Check 19: a Python process unshares, then subprocess.run()s (vfork/posix_spawn path)."""
    child = lab.spawn(python_argv("timens_lab._tutorial_child", str(offset),
                                  "1" if lab.rootless else "0"), stdout=PIPE, stderr=PIPE)
    out, err = child.communicate(timeout=60)
    if child.returncode != 0:
        raise RuntimeError(f"the unsharing child failed: {(err or b'').decode()[-500:]}")
    return json.loads(out or b"{}")


@taped
def ns_ioctls(ns: Any) -> dict[str, Any]:
    """Checks 23-24: the nsfs ioctls on a time namespace's fd (ioctl_ns(2))."""
    fd = os.open(ns.path, os.O_RDONLY | os.O_CLOEXEC)
    out: dict[str, Any] = {"path": ns.path}
    try:
        out["NS_GET_NSTYPE"] = kernel.ns_ioctl(fd, kernel.NS_GET_NSTYPE)
        for name, request in (("NS_GET_PARENT", kernel.NS_GET_PARENT),
                              ("NS_GET_OWNER_UID", kernel.NS_GET_OWNER_UID)):
            try:
                os.close(kernel.ns_ioctl(fd, request))
                out[name] = "an fd"
            except OSError as err:
                out[name] = errno.errorcode.get(err.errno or 0, "?")
        user = kernel.ns_ioctl(fd, kernel.NS_GET_USERNS)
        out["NS_GET_USERNS"] = os.fstat(user).st_ino
        os.close(user)
        out["NS_GET_ID"] = kernel.ns_get_id(fd)
    finally:
        os.close(fd)
    out["initial_userns"] = os.stat("/proc/1/ns/user").st_ino if os.access(
        "/proc/1/ns/user", os.R_OK) else 0xEFFFFFFD
    return out


@taped
def util_linux_verdict() -> dict[str, bool]:
    """A second opinion on the probe: can util-linux unshare(1) make a time namespace here?"""
    def works(*argv: str) -> bool:
        done = subprocess.run(["unshare", *argv, "--fork", "true"], capture_output=True,
                              timeout=20, check=False, env=TOOL_ENV)
        return done.returncode == 0

    return {"root": works("--time"), "rootless": works("--user", "--time")}


def have_strace() -> bool:
    return shutil.which("strace") is not None


@taped
def clock_syscalls(target: Any, reads: int = 10_000, control: int = 7) -> dict[str, int]:
    """strace -c: how many clock_gettime *syscalls* ``reads`` calls of time.monotonic() make in
    ``target`` (0: every read stayed in the vDSO, in user space). ``control`` getppid() calls
    must show up as exactly that many syscalls, or strace did not count what we think."""
    code = (f"import os, time\nfor _ in range({reads}): time.monotonic()\n"
            f"for _ in range({control}): os.getppid()")
    done = command(target, ["strace", "-f", "-c", "-e", "trace=clock_gettime,getppid",
                            sys.executable, "-c", code])
    counts = {"clock_gettime": 0, "getppid": 0}
    for line in done.err.splitlines():
        parts = line.split()
        if len(parts) >= 5 and parts[-1] in counts:
            counts[parts[-1]] = int(parts[3])
    return {"reads": reads, "syscalls": counts["clock_gettime"], "control": control,
            "control_seen": counts["getppid"], "returncode": done.returncode}
