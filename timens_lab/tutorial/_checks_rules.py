"""The checks of notebooks 04-07: the rules, timers, checkpoint/restore, cost (see _checks.py)."""

from __future__ import annotations

import statistics
from typing import Any

from ._checks import Row, holds, near, same, section
from ._exp import NSEC, errno_name

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
    vdso = min(statistics.median(c.best(p, k, "syscall") / c.best(p, k) for k in HIGHRES)
               for p in c.places)
    return [
        holds("high-resolution clocks, namespace / host (paired ratio)", worst <= 1.25, "≤ 1.25",
              f"{worst:.3f}"),
        holds("COARSE clocks, namespace − host", coarse <= 5, "≤ 5 ns", f"{coarse:+.2f} ns"),
        holds("+100 d vs offset 0 (paired ratio)", size <= 1.25, "≤ 1.25", f"{size:.3f}"),
        holds("syscall / vDSO, best rounds, median over the clocks, in each place", vdso >= 2,
              "≥ 2×", f"≥ {vdso:.1f}×"),
    ]


@section("no syscalls at all")
def no_syscalls(s: dict[str, int]) -> list[Row]:
    return [same("getppid() syscalls strace counted (the control)", s["control_seen"],
                 s["control"]),
            same(f"clock_gettime syscalls for {s['reads']:,} clock reads", s["syscalls"], 0)]
