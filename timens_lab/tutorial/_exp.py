"""The tutorial's C experiments (csrc/06-tutorial.c), run through the engine, as plain results.

Each function starts one entry point in a fresh fork of the Lab's helper — on the host
(``lab.start_c_host``) or inside a namespace (``ns.start_c``) — collects its ``key value`` lines
from a pipe and returns a small frozen dataclass, so a notebook shows a table and checks claims
on plain numbers. Every function is taped (_tape.py): replay mode answers from the
recording instead of the kernel.
"""

from __future__ import annotations

import dataclasses
import os
import select
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from .. import kernel
from ..errors import SpawnError
from ..offsets import NSEC
from ._tape import result, taped

#: Clock ids of clock_gettime(2) by name; 10 is unused by the kernel.
CLOCK_IDS = {"realtime": 0, "monotonic": 1, "process_cputime": 2, "thread_cputime": 3,
             "monotonic_raw": 4, "realtime_coarse": 5, "monotonic_coarse": 6, "boottime": 7,
             "realtime_alarm": 8, "boottime_alarm": 9, "tai": 11}
#: Which offset time_namespaces(7) applies to each clock (the rest are not virtualized).
OFFSET_OF = {"monotonic": "monotonic", "monotonic_raw": "monotonic",
             "monotonic_coarse": "monotonic", "boottime": "boottime",
             "boottime_alarm": "boottime"}
#: CPU-time clocks count this process's CPU use: not a time of day, not comparable.
PER_PROCESS = frozenset({"process_cputime", "thread_cputime"})
COARSE = frozenset({"monotonic_coarse", "realtime_coarse"})


def run_c(start: Callable[..., Any], fn: str, args: dict[str, Any] | None = None,
          timeout: float = 15.0) -> dict[str, str]:
    """Run C entry point ``fn`` through ``start`` (start_c_host / ns.start_c); its output lines.

    Raises:
        SpawnError: the experiment exited non-zero or did not finish in time.
    """
    text = " ".join(f"{k}={int(v)}" for k, v in (args or {}).items())
    r, w = os.pipe2(os.O_CLOEXEC)
    try:
        child = start(fn, text.encode(), [w])
    except BaseException:
        os.close(r)
        raise
    finally:
        os.close(w)
    out = bytearray()
    deadline = time.monotonic() + timeout
    poller = select.poll()  # not select(2): a kernel with many fds may hand out r > 1024
    poller.register(r, select.POLLIN)
    try:
        while True:
            ready = poller.poll(max(0, int((deadline - time.monotonic()) * 1000 + 0.999)))
            if not ready:
                child.kill()
                raise SpawnError(f"{fn} did not finish within {timeout:g} s")
            chunk = os.read(r, 65536)
            if not chunk:
                break
            out += chunk
    finally:
        os.close(r)
    rc = child.wait(timeout)
    lines = {key: value for key, _, value in
             (line.partition(" ") for line in out.decode().splitlines())}
    if rc != 0:
        raise SpawnError(f"{fn} failed (exit status {rc}): {lines}")
    return lines


def errno_name(code: int | str) -> str:
    """``13`` → ``"EACCES"``; 0 → ``"ok"``; a negative count from write() → its errno name."""
    import errno as _errno

    code = int(code)
    if code == 0:
        return "ok"
    return _errno.errorcode.get(abs(code), f"errno {abs(code)}")


# --- clocks: behaviours 1-6, 36 --------------------------------------------------------------

@result
@dataclasses.dataclass(frozen=True)
class ClockReading:
    """Every clock read once inside a namespace, bracketed by two host readings.

    Values are ns per clock name (None: the clock is not available here, e.g. the ALARM clocks
    without an RTC). Offsets are measured against REALTIME, which no namespace shifts, so two
    readings taken a millisecond apart still compare to within a microsecond.
    """

    label: str
    configured: dict[str, int]           # {"monotonic": ns, "boottime": ns}
    before: dict[str, int | None]        # host reading (with "rt0"/"rt1" REALTIME brackets)
    inside: dict[str, int | None]
    after: dict[str, int | None]
    inode: int
    host_inode: int

    def offset_ns(self, clock: str) -> int | None:
        """Namespace − host for ``clock``, in ns (None for unavailable or per-process clocks)."""
        if clock in PER_PROCESS or self.inside.get(clock) is None:
            return None
        if clock == "realtime":  # the reference itself: against the host bracket
            mid = (self.inside["rt0"] + self.inside["rt1"]) // 2  # type: ignore[operator]
            host = (self.before["rt1"] + self.after["rt0"]) // 2  # type: ignore[operator]
            return mid - host
        if self.before.get(clock) is None:
            return None
        return _vs_rt(self.inside, clock) - _vs_rt(self.before, clock)

    def offset_s(self, clock: str) -> float:
        value = self.offset_ns(clock)
        return float("nan") if value is None else value / NSEC

    def uncertainty_ns(self, clock: str) -> int:
        """How far offset_ns() can be off: a REALTIME bracket, plus a tick for COARSE clocks."""
        if clock == "realtime":
            return (self.after["rt0"] - self.before["rt1"]) // 2  # type: ignore[operator]
        half = sum((r["rt1"] - r["rt0"]) // 2 for r in (self.inside, self.before))  # type: ignore[operator,misc]
        return half + (10_000_000 if clock in COARSE else 0)

    def rows(self) -> list[tuple[str, str, str, str, str]]:
        out = []
        for clock in CLOCK_IDS:
            inside = self.inside.get(clock)
            if clock in PER_PROCESS:
                out.append((clock.upper(), _fmt_s(inside), "—", "per process", "not a clock of time"))
                continue
            if inside is None:
                out.append((clock.upper(), "EINVAL", "—", "—", "not available here (no RTC)"))
                continue
            off = self.offset_ns(clock)
            shifted = clock in OFFSET_OF
            out.append((clock.upper(), _fmt_s(inside), _fmt_s(self.before.get(clock)),
                        _fmt_offset(off), ("+ " + OFFSET_OF[clock] + " offset") if shifted
                        else "not virtualized"))
        return out

    def _repr_html_(self) -> str:
        head = ("<tr><th>clock</th><th>inside (s)</th><th>host (s)</th>"
                "<th>inside − host</th><th>why</th></tr>")
        body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>"
                       for row in self.rows())
        return (f"<p><b>{self.label}</b> — time:[{self.inode}] vs host time:[{self.host_inode}]"
                f"</p><table>{head}{body}</table>")

    def __repr__(self) -> str:
        lines = [f"{self.label}: time:[{self.inode}] vs host time:[{self.host_inode}]"]
        lines += ["  ".join(f"{c:<18}" for c in row) for row in self.rows()]
        return "\n".join(lines)


def _vs_rt(reading: dict[str, int | None], clock: str) -> int:
    mid = (reading["rt0"] + reading["rt1"]) // 2  # type: ignore[operator]
    return reading[clock] - mid  # type: ignore[operator]


def _fmt_s(ns: int | None) -> str:
    return "—" if ns is None else f"{ns / NSEC:,.6f}"


def _fmt_offset(ns: int | None) -> str:
    if ns is None:
        return "—"
    s = ns / NSEC
    return f"{s:+,.6f} s" if abs(s) >= 1 else f"{ns / 1000:+,.1f} µs"


def _parse_clocks(lines: dict[str, str]) -> dict[str, int | None]:
    out: dict[str, int | None] = {"rt0": int(lines["rt0"]), "rt1": int(lines["rt1"])}
    for name, cid in CLOCK_IDS.items():
        raw = lines.get(f"clock{cid}", "E22")
        out[name] = None if raw.startswith("E") else int(raw)
    return out


@taped
def clocks(ns: Any) -> ClockReading:
    """Read every clock inside ``ns`` and on the host just before and just after."""
    lab = ns.lab
    before = run_c(lab.start_c_host, "tns_tut_clocks_main")
    inside = run_c(ns.start_c, "tns_tut_clocks_main")
    after = run_c(lab.start_c_host, "tns_tut_clocks_main")
    off = ns.offsets
    return ClockReading(label=getattr(ns, "label", f"time:[{ns.inode}]"),
                        configured={"monotonic": off.monotonic_ns, "boottime": off.boottime_ns},
                        before=_parse_clocks(before), inside=_parse_clocks(inside),
                        after=_parse_clocks(after), inode=int(inside["time_ino"]),
                        host_inode=int(before["time_ino"]))


# --- who lands where after unshare: behaviours 18, 28-31 --------------------------------------

@result
@dataclasses.dataclass(frozen=True)
class Unsharer:
    """What an unsharer and the tasks it makes saw (C, csrc/06-tutorial.c)."""

    lines: dict[str, str]
    offset_s: int

    def ino(self, key: str) -> int:
        return int(self.lines[key])

    def seen_s(self, key: str) -> float:
        """Clock offset seen by a task, in s, against the unsharer before it unshared."""
        return (int(self.lines[key]) - int(self.lines["before_d_mono"])) / NSEC

    def after_exec(self, key: str) -> tuple[int, float]:
        """(namespace inode, /proc/uptime) printed by a program exec'd in that task."""
        link, uptime = self.lines[key].split()
        return int(link.split("[")[1].rstrip("]")), float(uptime)

    def rows(self) -> list[tuple[str, str, str]]:
        old, new = self.ino("self_ino"), self.ino("self_tfc_ino")

        def where(ino: int) -> str:
            return {old: "old (the unsharer's own)", new: "new (time_for_children)"}.get(
                ino, f"a third one, time:[{ino}]")

        return [
            ("the unsharer itself", where(self.ino("self_ino")), f"{self.seen_s('self_d_mono'):+.6f} s"),
            ("pthread_create", where(self.ino("thread_ino")), f"{self.seen_s('thread_d_mono'):+.6f} s"),
            ("vfork, before exec", where(self.ino("vfork_before_exec_ino")),
             f"{self.seen_s('vfork_before_exec_d_mono'):+.6f} s"),
            ("vfork, after exec", where(self.after_exec("vfork_after_exec")[0]), "(uptime below)"),
            ("posix_spawn", where(self.after_exec("posix_spawn_after_exec")[0]), "(uptime below)"),
            ("clone(CLONE_NEWTIME|SIGCHLD)", where(self.ino("legacy_clone_ino")),
             f"{self.seen_s('legacy_clone_d_mono'):+.6f} s"),
            ("clone3(CLONE_NEWTIME)", where(self.ino("clone3_ino")),
             f"{self.seen_s('clone3_d_mono'):+.6f} s"),
            ("fork", where(self.ino("fork_ino")), f"{self.seen_s('fork_d_mono'):+.6f} s"),
        ]

    def __repr__(self) -> str:
        return "\n".join(f"{a:<30} {b:<28} {c}" for a, b, c in
                         [("task", "time namespace", "MONOTONIC − host"), *self.rows()])

    def _repr_html_(self) -> str:
        body = "".join(f"<tr><td>{a}</td><td>{b}</td><td>{c}</td></tr>" for a, b, c in self.rows())
        return ("<table><tr><th>task</th><th>time namespace</th><th>MONOTONIC − host</th></tr>"
                f"{body}</table>")


@taped
def unsharer(lab: Any, offset: int = 3600) -> Unsharer:
    """unshare(CLONE_NEWTIME) with ``offset`` s on both clocks, then make tasks every way."""
    lines = run_c(lab.start_c_host, "tns_tut_unsharer_main",
                  {"rootless": lab.rootless, "mono": offset, "boot": offset})
    return Unsharer(lines, offset)


# --- nesting: behaviours 21, 22, 32, 33 --------------------------------------------------------

@result
@dataclasses.dataclass(frozen=True)
class Nested:
    """A (+a) made by an unsharer; P in A unshares B and writes +b; we setns(pidfd(P))."""

    lines: dict[str, str]
    a_s: int
    b_s: int
    boot_s: int

    def file(self, key: str) -> dict[str, int]:
        """A timens_offsets text (lines joined with '|') as {clock: seconds}."""
        out = {}
        for part in filter(None, self.lines[key].split("|")):
            name, secs, _ = part.split()
            out[name] = int(secs)
        return out

    def seen_s(self, key: str) -> float:
        """MONOTONIC offset a task saw, in s: its clock − REALTIME against the host's."""
        return (int(self.lines[key]) - int(self.lines["host_d_mono"])) / NSEC


@taped
def nested(lab: Any, a: int = 1000, b: int = 5, boot: int = 2000) -> Nested:
    lines = run_c(lab.start_c_host, "tns_tut_nested_main",
                  {"rootless": lab.rootless, "a": a, "b": b, "boot": boot})
    return Nested(lines, a, b, boot)


# --- privileges and limits: behaviours 26, 35 --------------------------------------------------

@taped
def dumpable(lab: Any) -> dict[str, str]:
    """Behaviour 26: as uid 65534, which unshare works, and when timens_offsets opens for writing."""
    return run_c(lab.start_c_host, "tns_tut_dumpable_main", {"uid": 65534})


@taped
def enospc(lab: Any) -> dict[str, str]:
    """Behaviour 35: user.max_time_namespaces inside a fresh user namespace (0, then 1)."""
    return run_c(lab.start_c_host, "tns_tut_enospc_main")


# --- timers: behaviour 27, and deadlines across namespaces ------------------------------------

@result
@dataclasses.dataclass(frozen=True)
class Timers:
    """Sleeps and timers inside a namespace; every duration in ns, measured inside."""

    label: str
    monotonic_ns: int
    wait_ns: int
    lines: dict[str, str]

    def ns(self, key: str) -> int:
        return int(self.lines[key])

    def s(self, key: str) -> float:
        return int(self.lines[key]) / NSEC

    def rows(self) -> list[tuple[str, str]]:
        names = {
            "sleep_ns_abs": "clock_nanosleep(ABSTIME, now + wait) — namespace time",
            "sleep_host_abs": "clock_nanosleep(ABSTIME, host now + wait) — wrong namespace",
            "sleep_boot_abs": "clock_nanosleep(BOOTTIME, ABSTIME, now + wait)",
            "sleep_foreign": "clock_nanosleep(ABSTIME, a deadline the host computed)",
            "sleep_relative": "clock_nanosleep(relative, wait / 2)",
            "timerfd_left": "timerfd armed at now + wait: timerfd_gettime says left",
            "timerfd_fired_after": "… and it fired after",
            "timerfd_host_fired_after": "timerfd armed at host now + wait: fired after",
            "posix_timer_left": "timer_settime(ABSTIME, now + 1 h): timer_gettime says left",
            "posix_timer_host_left": "timer_settime(ABSTIME, host now + 1 h): left",
        }
        return [(text, f"{self.s(key):.6f} s") for key, text in names.items() if key in self.lines]

    def __repr__(self) -> str:
        return "\n".join([f"{self.label} (wait = {self.wait_ns / NSEC:g} s)",
                          *(f"  {a:<66} {b}" for a, b in self.rows())])

    def _repr_html_(self) -> str:
        body = "".join(f"<tr><td>{a}</td><td>{b}</td></tr>" for a, b in self.rows())
        return (f"<p><b>{self.label}</b> (wait = {self.wait_ns / NSEC:g} s)</p>"
                f"<table><tr><th>inside the namespace</th><th>measured</th></tr>{body}</table>")


@taped
def timers(ns: Any, wait: float = 0.2, host_deadline_ns: int | None = None) -> Timers:
    """Absolute and relative sleeps, a timerfd and a POSIX timer, run inside ``ns``."""
    off = ns.offsets
    wait_ns = int(wait * NSEC)
    args = {"mono_off": off.monotonic_ns, "boot_off": off.boottime_ns, "wait_ns": wait_ns}
    if host_deadline_ns is not None:
        args["host_deadline"] = host_deadline_ns
    lines = run_c(ns.start_c, "tns_tut_timers_main", args)
    return Timers(getattr(ns, "label", ""), off.monotonic_ns, wait_ns, lines)


@taped
def host_clock_ns(lab: Any, clock: str = "monotonic") -> int:
    """The Lab's host clock now (read by a fork of the helper, in the helper's namespace)."""
    reading = _parse_clocks(run_c(lab.start_c_host, "tns_tut_clocks_main"))
    value = reading[clock]
    if value is None:
        raise SpawnError(f"clock {clock} is not available on this machine")
    return value


@taped
def timerfd_left_here(deadline_ns: int) -> int:
    """Arm a timerfd in *this* process at absolute MONOTONIC ``deadline_ns``, read how long is
    left (timerfd_gettime is relative), and disarm it: never waits."""
    fd = kernel.timerfd_create(CLOCK_IDS["monotonic"])
    try:
        kernel.timerfd_settime(fd, deadline_ns, absolute=True)
        return kernel.timerfd_gettime(fd)[0]
    finally:
        os.close(fd)


# --- cost: clock reads through the vDSO, in and out of namespaces ------------------------------

COST_CLOCKS = ("monotonic", "boottime", "realtime", "monotonic_raw", "monotonic_coarse",
               "realtime_coarse", "tai")


@result
@dataclasses.dataclass(frozen=True)
class Cost:
    """ns per clock_gettime() call, vDSO and raw syscall, per place; every round kept."""

    places: list[str]                       # "host", "namespace (offset 0)", ...
    vdso: dict[str, dict[str, list[float]]]  # place -> clock -> ns/call per round
    syscall: dict[str, dict[str, list[float]]]
    inodes: dict[str, int]
    rounds: int                             # rounds per run; runs were interleaved by place

    def paired_ratio(self, place: str, clock: str, versus: str = "host") -> float:
        """The smallest ratio place / versus over the repeats, each repeat's best round against
        the other place's best round of the same repeat: the two were measured back to back,
        so this is the comparison least disturbed by load elsewhere on the machine."""
        a, b = self.vdso[place][clock], self.vdso[versus][clock]
        k = self.rounds
        return min(min(a[i:i + k]) / min(b[i:i + k]) for i in range(0, len(a), k))

    def best(self, place: str, clock: str, how: str = "vdso") -> float:
        """The fastest round: the least disturbed by the other vCPU's load."""
        return min((self.vdso if how == "vdso" else self.syscall)[place][clock])

    def median(self, place: str, clock: str, how: str = "vdso") -> float:
        return statistics.median((self.vdso if how == "vdso" else self.syscall)[place][clock])

    def __repr__(self) -> str:
        lines = ["ns per call, best round: " + " | ".join(self.places) + " (vDSO; syscall)"]
        for clock in COST_CLOCKS:
            lines.append(f"  {clock.upper():<18}" + "  ".join(
                f"{self.best(p, clock):6.1f}; {self.best(p, clock, 'syscall'):4.0f}"
                for p in self.places))
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{p} vDSO</th>" for p in self.places) + "".join(
            f"<th>{p} syscall</th>" for p in self.places)
        rows = []
        for clock in COST_CLOCKS:
            cells = [f"{self.best(p, clock):.1f}" for p in self.places]
            cells += [f"{self.best(p, clock, 'syscall'):.0f}" for p in self.places]
            rows.append(f"<tr><td>{clock.upper()}</td>" + "".join(f"<td>{c}</td>" for c in cells)
                        + "</tr>")
        return (f"<p>ns per call, best round</p><table><tr><th>clock</th>{head}</tr>"
                + "".join(rows) + "</table>")


@taped
def cost(lab: Any, places: Sequence[tuple[str, Any]], n: int = 100_000, rounds: int = 3,
         repeats: int = 8) -> Cost:
    """Time ``n`` clock reads per clock and round in each place (a namespace or the lab for the
    host), interleaving the places ``repeats`` times so background load hits them alike."""
    names = [name for name, _ in places]
    vdso: dict[str, dict[str, list[float]]] = {p: {c: [] for c in COST_CLOCKS} for p in names}
    sysc: dict[str, dict[str, list[float]]] = {p: {c: [] for c in COST_CLOCKS} for p in names}
    inodes: dict[str, int] = {}
    for _ in range(repeats):
        for name, where in places:
            start = where.start_c_host if where is lab else where.start_c
            lines = run_c(start, "tns_tut_cost_main", {"n": n, "rounds": rounds}, timeout=60)
            inodes[name] = int(lines["ino"])
            for clock in COST_CLOCKS:
                cid = CLOCK_IDS[clock]
                vdso[name][clock] += [float(x) for x in lines[f"vdso{cid}"].split(",")]
                sysc[name][clock] += [float(x) for x in lines[f"syscall{cid}"].split(",")]
    return Cost(names, vdso, sysc, inodes, rounds)
