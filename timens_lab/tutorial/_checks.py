"""The course's checks: one named check per notebook section, each a small table of rows.

A notebook cell says ``T.checks.clocks(r)``: one line that shows a table — behaviour, what,
expected, measured, ✔/✘ — and raises :class:`~timens_lab.tutorial.ClaimFailed` if any row
does not hold. The expectations are here, next to the reason for each, so the notebooks read
as experiments; the expected values come from what the notebook configured (the offsets it
set, carried in the results), never from a recording.

Each check is registered with the behaviours (behaviours.py) it asserts; a row cites
them as ``B7``. Rows that depend on the mode (root, rootless) say so in their text.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

from ._exp import NSEC


@dataclasses.dataclass(frozen=True)
class Row:
    """One expectation: what, the expected value, the measured one, whether it holds."""

    what: str
    expected: str
    measured: str
    ok: bool
    behaviours: tuple[int, ...] = ()


@dataclasses.dataclass(frozen=True)
class Section:
    name: str
    title: str
    behaviours: tuple[int, ...]
    rows: Callable[..., list[Row]]


SECTIONS: dict[str, Section] = {}


def section(title: str, *behaviours: int) -> Callable[[Callable[..., list[Row]]],
                                                      Callable[..., list[Row]]]:
    """Register a check: ``title`` heads its table; ``behaviours`` are the ones it asserts."""
    def register(fn: Callable[..., list[Row]]) -> Callable[..., list[Row]]:
        SECTIONS[fn.__name__] = Section(fn.__name__, title, behaviours, fn)
        return fn

    return register


# --- row makers ---------------------------------------------------------------------------------

def near(what: str, measured: float, expected: float, tol: float, unit: str = "s",
         b: Sequence[int] = ()) -> Row:
    """``measured`` within ``tol`` of ``expected``."""
    ok = abs(measured - expected) <= tol
    places = max(0, -math.floor(math.log10(tol))) + 1 if tol > 0 else 6
    return Row(what, f"{expected:,.{places}f} {unit} ± {tol:g}", f"{measured:,.6f} {unit}", ok,
               tuple(b))


def same(what: str, measured: Any, expected: Any, b: Sequence[int] = ()) -> Row:
    """``measured == expected``."""
    return Row(what, _text(expected), _text(measured), measured == expected, tuple(b))


def holds(what: str, ok: object, expected: str, measured: str, b: Sequence[int] = ()) -> Row:
    """A condition with its expectation and observation spelled out."""
    return Row(what, expected, measured, bool(ok), tuple(b))


def _names(rows: Sequence[Any]) -> list[str]:
    """The namespaces' names in measured rows (a channel's label is "NAME OFFSETS")."""
    return sorted({m.channel.rsplit(" ", 1)[0] for m in rows})


def _text(value: Any) -> str:
    return value if isinstance(value, str) else repr(value)


# --- 00 -----------------------------------------------------------------------------------------

@section("a second opinion from util-linux")
def second_opinion(verdict: dict[str, bool], mode: str) -> list[Row]:
    said = "root" if verdict["root"] else ("rootless" if verdict["rootless"] else "unavailable")
    return [same("unshare(1)'s verdict equals the notebooks' mode", said, mode)]


# --- 01 -----------------------------------------------------------------------------------------

@section("the raw mechanism: unshare → write offsets → fork/exec")
def raw_steps(out: str, monotonic_s: int, boottime_s: int) -> list[Row]:
    """What the three-step program printed (its lines are ``key value``)."""
    seen = dict(line.split(" ", 1) for line in out.splitlines() if " " in line)
    up = float(seen.get("uptime", "nan").split()[0])
    host_uptime_s = float(seen.get("host_uptime", "nan"))
    return [
        holds("after unshare, time_for_children is a new namespace; time is not",
              seen.get("time") != seen.get("time_for_children"), "two different inodes",
              f"{seen.get('time')} / {seen.get('time_for_children')}"),
        same("the offsets file reads back what was written",
             seen.get("offsets", ""), f"monotonic {monotonic_s} 0 | boottime {boottime_s} 0"),
        near("the exec'd child's /proc/uptime − the host's = the boottime offset",
             up - host_uptime_s, boottime_s, 5.0),
    ]


@section("why a Jupyter kernel needs a helper", 25)
def kernel_cannot(out: str) -> list[Row]:
    seen = dict(line.split(" ", 1) for line in out.splitlines() if " " in line)
    return [
        holds("a process that unshares itself: every later child lands in the new namespace",
              seen.get("child1") == seen.get("child2") == seen.get("tfc") != seen.get("self"),
              "child 1 = child 2 = time_for_children ≠ its own",
              f"{seen.get('child1')}, {seen.get('child2')}; own {seen.get('self')}"),
        same("with a second thread: setns(CLONE_NEWTIME)", seen.get("setns"), "EUSERS", b=[25]),
        same("with a second thread: unshare(CLONE_NEWUSER|CLONE_NEWTIME)",
             seen.get("unshare_user"), "EINVAL"),
    ]


@section("a pending namespace can be edited; an entered one cannot", 16)
def pending_then_frozen(state_before: str, offsets_before: Any, wanted: Any, state_after: str,
                        frozen: BaseException | None) -> list[Row]:
    import errno

    return [
        same("state before anyone entered", state_before, "pending"),
        same("offsets after the edit", offsets_before.labels(), wanted.labels()),
        holds("state after the first process entered", state_after in ("active", "frozen"),
              "active or frozen", state_after),
        holds("writing the offsets now", frozen is not None and getattr(frozen, "errno", 0)
              == errno.EACCES, "EACCES (OffsetsFrozenError)",
              f"{type(frozen).__name__}: {frozen}" if frozen else "accepted", b=[16]),
    ]


@section("which clocks moved", 1, 2, 3, 4, 5, 6)
def clocks(r: Any) -> list[Row]:
    mono, boot = r.configured["monotonic"] / NSEC, r.configured["boottime"] / NSEC
    coarse_tol = r.uncertainty_ns("monotonic_coarse") / NSEC
    return [
        near("MONOTONIC inside − host", r.offset_s("monotonic"), mono, 0.05, b=[1]),
        near("MONOTONIC_RAW inside − host", r.offset_s("monotonic_raw"), mono, 0.05, b=[2]),
        near("MONOTONIC_COARSE (± a tick)", r.offset_s("monotonic_coarse"), mono,
             round(coarse_tol, 4), b=[3]),
        near("BOOTTIME inside − host (its own offset)", r.offset_s("boottime"), boot, 0.05,
             b=[4]),
        near("REALTIME inside − host (not virtualized)", r.offset_s("realtime"), 0,
             round(max(0.001, r.uncertainty_ns("realtime") / NSEC), 4), b=[5]),
        near("TAI inside − host", r.offset_s("tai"), 0, 0.05, b=[6]),
    ]


@section("offsets are independent", 36)
def flip(r: Any) -> list[Row]:
    return [holds("BOOTTIME < MONOTONIC inside (monotonic +100000 s, boottime 0)",
                  r.inside["boottime"] < r.inside["monotonic"], "BOOTTIME < MONOTONIC",
                  f"{r.inside['boottime'] / NSEC:,.3f} < {r.inside['monotonic'] / NSEC:,.3f} s",
                  b=[36])]


@section("/proc follows the reader", 8, 9)
def proc_times(up: Any) -> list[Row]:
    return [
        near("/proc/uptime inside − host (the boottime offset)", up.uptime_shift,
             up.boottime_ns / NSEC, 1.0, b=[8]),
        same("/proc/stat btime inside − host (s)", up.btime_shift, -up.boottime_ns // NSEC,
             b=[9]),
        near("idle time in /proc/uptime (CPU time: not shifted)", up.inside[1] - up.host[0][1],
             0, 5.0),
    ]


@section("what familiar tools make of it", 37)
def tools(tl: Any) -> list[Row]:
    mono = tl.monotonic_ns / NSEC
    # REALTIME inside − host is known to within the host readings around it (a loaded machine
    # can put tens of ms between them): that bounds the error of REALTIME − MONOTONIC too.
    realtime_error = tl.clocks.uncertainty_ns("realtime") / NSEC + 0.001
    days = int((tl.clocks.before["boottime"] + tl.boottime_ns) // (86400 * NSEC))
    rows = [
        holds("uptime inside (host uptime + the boottime offset)",
              f"up {days} day" in tl.uptime[1].out, f"up {days} days",
              tl.uptime[1].out.strip(), b=[37]),
        holds("ps -o lstart: the same start time inside and out",
              tl.ps[0].out == tl.ps[1].out and tl.ps[0].out.strip() != "",
              tl.ps[0].out.strip(), tl.ps[1].out.strip(), b=[37]),
        near("dmesg -T's arithmetic (REALTIME − MONOTONIC) inside − host",
             tl.dmesg_formula_shift_s(), -mono, round(max(0.05, realtime_error), 3), b=[37]),
    ]
    shift = tl.dmesg_shift_s()
    if tl.dmesg is not None and shift is not None:
        rows.append(near("dmesg -T itself: kernel-log times inside − host", shift, -mono, 1.0,
                         b=[37]))
    return rows


@section("the live plot agrees")
def live(rows: Sequence[Any], names: Sequence[str]) -> list[Row]:
    return [
        same("namespaces in the plot", _names(rows), sorted(names)),
        holds("every series within its error bound (≥ 99 % of samples)",
              rows and all(m.configured_ns is not None and m.within_bound >= 0.99 for m in rows),
              "≥ 99 %", f"lowest {min(m.within_bound for m in rows):.2%}" if rows else "none"),
    ]


# --- 02 -----------------------------------------------------------------------------------------

@section("how far back a namespace may go")
def range_refused(refused: BaseException | None, host_up_s: float) -> list[Row]:
    return [holds(f"a year behind, on a host up {host_up_s:,.0f} s", refused is not None,
                  "refused (OffsetRangeError)", f"{refused}" if refused else "accepted")]


@section("what the numbers say", 7)
def divergence(rows: Sequence[Any], names: Sequence[str]) -> list[Row]:
    mono = [m for m in rows if m.clock == "monotonic"]
    fine = [m for m in rows if m.clock != "monotonic_coarse"]
    real = [m for m in rows if m.clock == "realtime"]
    return [
        same("namespaces sampled", _names(rows), sorted(names)),
        holds("no drift: MONOTONIC spread over the run", mono and all(m.spread_ns < 5e6
              for m in mono), "< 5 ms", f"≤ {max((m.spread_ns for m in mono), default=0) / 1e3:.1f} µs",
              b=[7]),
        holds("|measured − configured| p99", fine and all(m.abs_err_p99_ns < 1000 for m in fine),
              "< 1 µs", f"≤ {max((m.abs_err_p99_ns for m in fine), default=0):.0f} ns"),
        holds("samples inside their own error bound", rows and all(m.within_bound >= 0.99
              for m in rows), "≥ 99 %", f"lowest {min((m.within_bound for m in rows), default=0):.2%}"),
        holds("REALTIME the same in every namespace", real and all(abs(m.median_ns) < 1000
              for m in real), "|median| < 1 µs",
              f"≤ {max((abs(m.median_ns) for m in real), default=0):.0f} ns"),
    ]


# --- 03 -----------------------------------------------------------------------------------------

@section("pending: found by discovery, invisible to lsns")
def pending_found(facts: dict[str, Any], holder_pid: int, inode: int,
                  lsns_rows: Sequence[dict[str, Any]]) -> list[Row]:
    return [
        same("discovery's state", facts["state"], "pending"),
        holds("found through", "time_for_children" in facts["sources"]
              and holder_pid in facts["holders"], "its holder's time_for_children link",
              ", ".join(facts["sources"])),
        holds("lsns -t time lists it", inode not in {r["ns"] for r in lsns_rows}, "no",
              "yes" if inode in {r["ns"] for r in lsns_rows} else "no"),
    ]


@section("entered: active, and lsns sees it")
def active_listed(facts: dict[str, Any], pid: int, inode: int,
                  lsns_rows: Sequence[dict[str, Any]]) -> list[Row]:
    return [
        same("discovery's state", facts["state"], "active"),
        holds("the sleeper is a member", pid in facts["members"], f"pid {pid}",
              f"members {facts['members']}"),
        holds("lsns -t time lists it", inode in {r["ns"] for r in lsns_rows}, "yes",
              "yes" if inode in {r["ns"] for r in lsns_rows} else "no"),
    ]


@section("nesting: a copy, then absolute", 21, 22)
def nest(a_offsets: Any, b_offsets: Any, rc: Any) -> list[Row]:
    return [
        same("B (offsets not given) starts with A's", b_offsets.labels(), a_offsets.labels(),
             b=[21]),
        near("C's monotonic 5: inside − host", rc.offset_s("monotonic"), 5, 0.05, b=[22]),
        near("C's boottime, not given: A's", rc.offset_s("boottime"),
             a_offsets.boottime_ns / NSEC, 0.05, b=[22]),
    ]


@section("the offsets file and setns, one level down", 21, 22, 32, 33)
def nested_file(n: Any) -> list[Row]:
    joined, a_ino, b_ino = n.lines["joined_ino"], n.lines["a_ino"], n.lines["b_ino"]
    return [
        same("B′'s file, before any write (a copy of A′)", n.file("b_inherited"),
             {"monotonic": n.a_s, "boottime": n.boot_s}, b=[21]),
        near("a child forked into B′: inside − host", n.seen_s("g_d_mono"), n.b_s, 0.05, b=[22]),
        same("P's timens_offsets (its time_for_children)", n.file("p_file")["monotonic"], n.b_s,
             b=[33]),
        near("… while P's own clock runs at", n.seen_s("p_d_mono"), n.a_s, 0.05, b=[33]),
        holds("setns(pidfd(P), CLONE_NEWTIME) joins", n.lines["setns_errno"] == "0"
              and joined == a_ino != b_ino and abs(n.seen_s("joined_d_mono") - n.a_s) < 0.05,
              f"A′ time:[{a_ino}], not B′ time:[{b_ino}]",
              f"time:[{joined}], clock {n.seen_s('joined_d_mono'):+.6f} s", b=[32]),
    ]


@section("no parent in the kernel", 23, 24)
def ioctls(io: dict[str, Any]) -> list[Row]:
    return [same("NS_GET_NSTYPE", hex(io["NS_GET_NSTYPE"]), "0x80", b=[23]),
            same("NS_GET_PARENT", io["NS_GET_PARENT"], "EINVAL", b=[24])]


@section("who owns what")
def owners(facts: dict[int, dict[str, Any]], lsns_rows: Sequence[dict[str, Any]],
           io: dict[str, Any], rootless: bool) -> list[Row]:
    ons = {row["ns"]: row["ons"] for row in lsns_rows}
    both = {i: f for i, f in facts.items() if i in ons and f["owner"]}
    return [
        holds("lsns and timens-lab agree on each owner", both and all(
              ons[i] == f["owner"][0] for i, f in both.items()), "the same user namespace",
              ", ".join(f"time:[{i}] → user:[{ons[i]}]" for i in both)),
        same("C is owned by", "a user namespace of our own"
             if io["NS_GET_USERNS"] != io["initial_userns"] else "the initial user namespace",
             "a user namespace of our own" if rootless else "the initial user namespace"),
    ]


@section("inode numbers come back", 34)
def inode_reuse(seen: Sequence[tuple[int, int | None]]) -> list[Row]:
    inodes, ids = [i for i, _ in seen], [j for _, j in seen]
    return [holds("inode numbers over create/close cycles", len(set(inodes)) < len(inodes),
                  "some repeat", str(inodes), b=[34]),
            holds("NS_GET_ID over the same cycles", None not in ids and len(set(ids)) == len(ids),
                  "all different", str(ids), b=[34])]

