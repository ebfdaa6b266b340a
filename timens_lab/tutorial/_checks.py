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

from ._exp import NSEC, errno_name


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
        same("B′'s file, before any write", n.file("b_inherited"),
             {"monotonic": n.a_s, "boottime": n.boot_s}, b=[21]),
        near("a child forked into B′: inside − host", n.seen_s("g_d_mono"), n.b_s, 0.05, b=[22]),
        same("P's timens_offsets (its time_for_children)", n.file("p_file")["monotonic"], n.b_s,
             b=[33]),
        near("… while P's own clock runs at", n.seen_s("p_d_mono"), n.a_s, 0.05, b=[33]),
        holds("setns(pidfd(P), CLONE_NEWTIME) joins", n.lines["setns_errno"] == "0"
              and joined == a_ino != b_ino and abs(n.seen_s("joined_d_mono") - n.a_s) < 0.05,
              f"A time:[{a_ino}], not B′ time:[{b_ino}]",
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


# --- 04 -----------------------------------------------------------------------------------------

@section("the read-back format", 10)
def read_format(text: str) -> list[Row]:
    return [same("the file after the write", text,
                 "monotonic         -10 500000000\nboottime        12345         6\n", b=[10])]


@section("clock ids, and what is refused", 11, 12, 13)
def numeric(ids: Any, ids_read: str, realtime: Any, big_ns: Any) -> list[Row]:
    return [
        same("'1 5 0\\n7 6 0': bytes taken", ids.returned, 11, b=[11]),
        same("… read back", ids_read.split(), ["monotonic", "5", "0", "boottime", "6", "0"],
             b=[11]),
        same("'realtime 5 0'", realtime.error, "EINVAL", b=[12]),
        same("'monotonic 5 1000000000'", big_ns.error, "EINVAL", b=[13]),
    ]


@section("the range rule", 14)
def range_rule(w: Any, said: BaseException | None) -> list[Row]:
    return [same("host uptime + 10 s back, raw write", w.error, "ERANGE", b=[14]),
            holds("the same through timens-lab", said is not None,
                  "refused first (OffsetRangeError)", f"{said}" if said else "accepted")]


@section("two records per write()", 15)
def short_write(w: Any, w2: Any, data: str, read_back: str) -> list[Row]:
    return [same("3 lines in one write(): returned", w.returned, 27, b=[15]),
            same("the remainder, written again: returned", w2.returned, len(data) - 27, b=[15]),
            same("monotonic after both", read_back.split()[:2], ["monotonic", "3"], b=[15])]


@section("frozen", 16, 17)
def frozen(after_entry: Any, initial: Any, root: bool) -> list[Row]:
    return [
        holds("write after one process entered", after_entry.error == "EACCES"
              and not after_entry.at_open, "EACCES from write()", repr(after_entry), b=[16]),
        same("write the initial namespace's offsets (" + ("root" if root else "rootless") + ")",
             initial.error, "EACCES" if root else "EPERM", b=[17]),
    ]


@section("threads", 25)
def threads(t: dict[str, Any]) -> list[Row]:
    return [holds(f"setns(CLONE_NEWTIME) from this kernel process ({t['threads']} threads)",
                  t["errno"] == "EUSERS" and t["threads"] >= 2, "EUSERS", t["errno"], b=[25])]


@section("who lands where after unshare", 16, 18, 28, 29, 30, 31)
def unsharer(u: Any) -> list[Row]:
    old, new = u.ino("self_ino"), u.ino("self_tfc_ino")
    off = u.offset_s
    boot0 = int(u.lines["before_boottime"]) / NSEC
    vf_ino, vf_up = u.after_exec("vfork_after_exec")
    ps_ino, ps_up = u.after_exec("posix_spawn_after_exec")
    def where(ino: int) -> str:
        return {old: "old", new: "new"}.get(ino, "a third")
    return [
        holds("the unsharer: namespace, clock", old == u.ino("before_ino") and old != new
              and abs(u.seen_s("self_d_mono")) < 0.05, "old, +0 s",
              f"{where(old)}, {u.seen_s('self_d_mono'):+.6f} s", b=[18]),
        holds("a thread it creates", u.lines["thread_errno"] == "0" and u.ino("thread_ino") == old
              and abs(u.seen_s("thread_d_mono")) < 0.05, "old, +0 s",
              f"{where(u.ino('thread_ino'))}, {u.seen_s('thread_d_mono'):+.6f} s", b=[30]),
        holds("a vfork child before exec / after", u.ino("vfork_before_exec_ino") == old
              and abs(u.seen_s("vfork_before_exec_d_mono")) < 0.05 and vf_ino == new
              and abs(vf_up - boot0 - off) < 1.0, f"old / new (uptime +{off} s)",
              f"{where(u.ino('vfork_before_exec_ino'))} / {where(vf_ino)} "
              f"(+{vf_up - boot0:.2f} s)", b=[31]),
        holds("posix_spawn", u.lines["posix_spawn_errno"] == "0" and ps_ino == new
              and abs(ps_up - boot0 - off) < 1.0, f"works, new (+{off} s)",
              f"{errno_name(u.lines['posix_spawn_errno'])}, {where(ps_ino)} (+{ps_up - boot0:.2f} s)",
              b=[31]),
        holds("legacy clone(CLONE_NEWTIME|SIGCHLD)", u.lines["legacy_clone_errno"] == "0"
              and u.ino("legacy_clone_ino") == new
              and abs(u.seen_s("legacy_clone_d_mono") - off) < 0.05, "no new namespace: new",
              f"{where(u.ino('legacy_clone_ino'))}, {u.seen_s('legacy_clone_d_mono'):+.6f} s",
              b=[29]),
        holds("clone3(CLONE_NEWTIME)", u.lines["clone3_errno"] == "0"
              and u.ino("clone3_ino") not in (old, new)
              and abs(u.seen_s("clone3_d_mono") - off) < 0.05, f"a third, +{off} s",
              f"{where(u.ino('clone3_ino'))}, {u.seen_s('clone3_d_mono'):+.6f} s", b=[28]),
        same("… writing that child's offsets", errno_name(u.lines["clone3_write"]), "EACCES",
             b=[28]),
        holds("a plain fork; then writing the offsets", u.ino("fork_ino") == new
              and abs(u.seen_s("fork_d_mono") - off) < 0.05
              and errno_name(u.lines["write_after_fork"]) == "EACCES", f"new, +{off} s; EACCES",
              f"{where(u.ino('fork_ino'))}, {u.seen_s('fork_d_mono'):+.6f} s; "
              f"{errno_name(u.lines['write_after_fork'])}", b=[16]),
    ]


@section("subprocess.run() after unshare", 19, 20)
def subprocess_after_unshare(sub: dict[str, int], offset_s: int) -> list[Row]:
    return [
        near("the child's MONOTONIC − host", sub["child_offset_ns"] / NSEC, offset_s, 1.0, b=[19]),
        holds("the child's ns/time, ns/time_for_children", sub["child_time"] == sub["child_tfc"]
              == sub["self_tfc"] != sub["self_time"], "both the new namespace",
              f"{sub['child_time']} / {sub['child_tfc']} (parent's own: {sub['self_time']})",
              b=[20]),
    ]


@section("rootless, and the dumpable trap", 26)
def dumpable(d: dict[str, str]) -> list[Row]:
    return [
        same("euid", d["euid"], "65534", b=[26]),
        same("unshare(CLONE_NEWTIME)", errno_name(d["newtime"]), "EPERM", b=[26]),
        same("unshare(CLONE_NEWUSER|CLONE_NEWTIME)", errno_name(d["newuser_newtime"]), "ok",
             b=[26]),
        holds("non-dumpable: open timens_offsets for writing", d["dumpable"] == "0"
              and errno_name(d["open_nondumpable"]) == "EACCES", "EACCES",
              errno_name(d["open_nondumpable"]), b=[26]),
        same("after PR_SET_DUMPABLE: bytes written", d["write_dumpable"], "14", b=[26]),
    ]


@section("the limit", 35)
def limit(e: dict[str, str]) -> list[Row]:
    return [
        holds("max_time_namespaces = 0: unshare", e["set_0"] == "2"
              and errno_name(e["unshare_at_0"]) == "ENOSPC", "ENOSPC",
              errno_name(e["unshare_at_0"]), b=[35]),
        same("= 1: the first unshare", errno_name(e["unshare_at_1"]), "ok"),
        same("= 1: a second, while the first lives", errno_name(e["unshare_again_at_1"]),
             "ENOSPC"),
    ]


@section("the man page's recipe, since Linux 6.2")
def manpage_recipe(out: str) -> list[Row]:
    return [holds("unshare -T bash, then bash writes its own offsets", "Permission denied" in out,
                  "EACCES (Permission denied)", out.strip().splitlines()[-1] if out.strip()
                  else "(nothing)")]


# --- 05 -----------------------------------------------------------------------------------------

@section("sleeps", 27)
def sleeps(t: Any) -> list[Row]:
    return [
        near("clock_nanosleep(ABSTIME, ns now + 0.2 s)", t.s("sleep_ns_abs"), 0.2, 0.05, b=[27]),
        holds("clock_nanosleep(ABSTIME, host now + 0.2 s)", t.s("sleep_host_abs") < 0.01,
              "at once (< 10 ms)", f"{t.s('sleep_host_abs') * 1e3:.3f} ms", b=[27]),
        near("BOOTTIME, ABSTIME, ns now + 0.2 s", t.s("sleep_boot_abs"), 0.2, 0.05),
        holds("a deadline the host computed (its now + 0.5 s)", t.s("sleep_foreign") < 0.01,
              "at once (< 10 ms)", f"{t.s('sleep_foreign') * 1e3:.3f} ms"),
        near("relative clock_nanosleep(0.1 s)", t.s("sleep_relative"), 0.1, 0.05),
    ]


@section("timers")
def timers(t: Any) -> list[Row]:
    return [
        near("timerfd at ns now + 0.2 s: left", t.s("timerfd_left"), 0.2, 0.05),
        near("… fired after", t.s("timerfd_fired_after"), 0.2, 0.05),
        holds("timerfd at host now + 0.2 s: fired after", t.s("timerfd_host_fired_after") < 0.01
              and t.lines["timerfd_host_expirations"] == "1", "at once, 1 expiration",
              f"{t.s('timerfd_host_fired_after') * 1e3:.3f} ms, "
              f"{t.lines['timerfd_host_expirations']} expiration(s)"),
        near("POSIX timer at ns now + 1 h: left", t.s("posix_timer_left"), 3600, 1.0),
        same("POSIX timer at host now + 1 h: ns left", t.ns("posix_timer_host_left"), 0),
    ]


@section("the other way round")
def other_way(left_ns: int, monotonic_ns: int) -> list[Row]:
    return [near("the namespace's 'now + 0.5 s', armed on the host: left", left_ns / NSEC,
                 monotonic_ns / NSEC + 0.5, 0.1)]


# --- 06 -----------------------------------------------------------------------------------------

@section("a naive restore")
def naive_restore(jump_s: float) -> list[Row]:
    return [holds("MONOTONIC, first reading − checkpoint", jump_s < -4 * 86400,
                  "back by days (< −4 d)", f"{jump_s:+,.3f} s ({jump_s / 86400:+.2f} d)")]


@section("the CRIU restore")
def criu_restore(gap_mono_s: float, gap_boot_s: float, downtime_s: float, set_offsets: Any,
                 computed: Any) -> list[Row]:
    return [
        holds("MONOTONIC, first reading − checkpoint", 0 <= gap_mono_s < 0.5, "0 … 0.5 s",
              f"{gap_mono_s * 1e3:+.3f} ms"),
        holds("BOOTTIME, first reading − checkpoint", 0 <= gap_boot_s < 0.5, "0 … 0.5 s",
              f"{gap_boot_s * 1e3:+.3f} ms"),
        same("the namespace's offsets", set_offsets.labels(), computed.labels()),
        holds("downtime hidden: wall clock moved / MONOTONIC moved", downtime_s > 1.0
              and gap_mono_s < 0.5, "> 1 s / < 0.5 s", f"{downtime_s:.3f} s / {gap_mono_s:.3f} s"),
    ]


# --- 07 -----------------------------------------------------------------------------------------

HIGHRES = ("monotonic", "boottime", "realtime", "monotonic_raw", "tai")


@section("what it costs")
def cost(c: Any) -> list[Row]:
    places = c.places[1:]
    worst = max(c.paired_ratio(p, k) for p in places for k in HIGHRES)
    coarse = max(c.paired_ratio(p, k) * c.best("host", k) - c.best("host", k) for p in places
                 for k in ("monotonic_coarse", "realtime_coarse"))
    size = max(c.paired_ratio(places[1], k, versus=places[0]) for k in HIGHRES)
    vdso = min(_quietest_speedup(c, p, k) for p in c.places for k in HIGHRES)
    return [
        holds("high-resolution clocks, namespace / host (paired ratio)", worst <= 1.25, "≤ 1.25",
              f"{worst:.3f}"),
        holds("COARSE clocks, namespace − host", coarse <= 5, "≤ 5 ns", f"{coarse:+.2f} ns"),
        holds("+100 d vs offset 0 (paired ratio)", size <= 1.25, "≤ 1.25", f"{size:.3f}"),
        holds("syscall / vDSO, everywhere (quietest repeat)", vdso > 3, "> 3×", f"≥ {vdso:.1f}×"),
    ]


def _quietest_speedup(c: Any, place: str, clock: str) -> float:
    """syscall / vDSO time in the repeat where that ratio is largest: both were measured back to
    back in one run, so a burst of load elsewhere spoils a repeat, not the comparison."""
    k = c.rounds
    v, s = c.vdso[place][clock], c.syscall[place][clock]
    return max(min(s[i:i + k]) / min(v[i:i + k]) for i in range(0, len(v), k))


@section("no syscalls at all")
def no_syscalls(s: dict[str, int]) -> list[Row]:
    return [same("getppid() syscalls strace counted (the control)", s["control_seen"],
                 s["control"]),
            same(f"clock_gettime syscalls for {s['reads']:,} clock reads", s["syscalls"], 0)]
