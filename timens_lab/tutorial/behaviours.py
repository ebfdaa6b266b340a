"""The behaviours of time namespaces the course demonstrates, numbered, as data.

Each :class:`Behaviour` says what is set up, what the kernel does, and where the course shows
and checks it: a notebook and the nbformat ``id`` of the cell whose check asserts it. The
notebooks' checks cite the numbers (``B7``), ``tests/notebooks`` fails when a behaviour has no
check in the cell named here, and ``T.end()`` fails a run that did not check every behaviour
its notebook is said to show. Render the list with :func:`markdown_table` (the docs do).

Every statement here was checked on a real kernel (Linux 6.18) by the notebook that shows it.
Sources: time_namespaces(7), kernel/time/namespace.c, fs/proc/base.c, kernel/fork.c, fs/exec.c.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Behaviour:
    """One black-box behaviour: do this, and the kernel does that."""

    number: int
    setup: str          # what is done
    expected: str       # what the kernel does
    notebook: str       # where it is shown: the notebook's name, without .ipynb
    cell: str           # the nbformat id of the cell whose check asserts it
    note: str = ""      # where the outcome depends on the mode, or a caveat


_N01, _N02, _N03, _N04, _N05 = ("01-first-namespace", "02-live-divergence",
                                "03-namespace-trees", "04-rules", "05-timers-and-sleeps")

BEHAVIOURS: tuple[Behaviour, ...] = (
    Behaviour(1, "a namespace with monotonic offset 3600 s",
              "MONOTONIC inside − host = 3600 s", _N01, "clock-checks"),
    Behaviour(2, "the same namespace", "MONOTONIC_RAW gets the monotonic offset too", _N01,
              "clock-checks"),
    Behaviour(3, "the same namespace", "MONOTONIC_COARSE too, to within one timer tick", _N01,
              "clock-checks"),
    Behaviour(4, "a boottime offset", "BOOTTIME moves by its own offset", _N01, "clock-checks"),
    Behaviour(5, "any namespace", "REALTIME inside − host = 0: the wall clock is not virtualized",
              _N01, "clock-checks"),
    Behaviour(6, "any namespace", "TAI inside − host = 0", _N01, "clock-checks"),
    Behaviour(7, "samplers stream clocks from several namespaces for seconds",
              "no drift: each offset stays constant (one clock underneath, plus a constant)",
              _N02, "checks"),
    Behaviour(8, "boottime offset 1 d, monotonic 100 s",
              "/proc/uptime inside follows BOOTTIME (+1 d), not MONOTONIC", _N01, "proc-checks"),
    Behaviour(9, "the same namespace", "/proc/stat btime inside = host btime − 86400 s, exactly",
              _N01, "proc-checks"),
    Behaviour(10, "write 'monotonic -10 500000000' and 'boottime 12345 6', read back",
              "each clock printed as '%-10s %10lld %9ld': name, seconds, nanoseconds", _N04,
              "format-raw"),
    Behaviour(11, "write '1 5 0\\n7 6 0' (clock ids)",
              "numeric ids are accepted, the whole write is taken", _N04, "numeric"),
    Behaviour(12, "write 'realtime 5 0'", "EINVAL: there is no REALTIME offset", _N04, "numeric"),
    Behaviour(13, "nanoseconds ≥ 10⁹", "EINVAL", _N04, "numeric"),
    Behaviour(14, "an offset that puts the host clock + offset below 0", "ERANGE", _N04, "range"),
    Behaviour(15, "three lines in one write()",
              "a short count (27): two records per write; the rest applies when re-sent", _N04,
              "short"),
    Behaviour(16, "write the offsets after a process entered the namespace",
              "EACCES: offsets freeze at the first entry", _N04, "frozen"),
    Behaviour(17, "write the offsets of the initial namespace",
              "EACCES (frozen since boot)", _N04, "frozen",
              "rootless: EPERM, because CAP_SYS_TIME in the owning user namespace is checked "
              "first"),
    Behaviour(18, "unshare(CLONE_NEWTIME)",
              "the caller stays where it was (its clock unchanged); only time_for_children "
              "changes", _N04, "unsharer-checks"),
    Behaviour(19, "a Python process unshares, then subprocess.run()",
              "the child sees the new offset (vfork/posix_spawn work since Linux 6.2)", _N04,
              "subprocess"),
    Behaviour(20, "a process exec'd into the new namespace",
              "its ns/time == ns/time_for_children", _N04, "subprocess"),
    Behaviour(21, "a namespace created from inside another",
              "starts with a copy of its creator's offsets", _N03, "nest"),
    Behaviour(22, "monotonic 5 set in a namespace created inside one at +1000 s",
              "host + 5 s: offsets are absolute, relative to the host", _N03, "nest"),
    Behaviour(23, "ioctl(NS_GET_NSTYPE) on a time namespace fd", "CLONE_NEWTIME (0x80)", _N03,
              "ioctl"),
    Behaviour(24, "ioctl(NS_GET_PARENT) on a time namespace fd",
              "EINVAL: time namespaces have no parent", _N03, "ioctl"),
    Behaviour(25, "setns(CLONE_NEWTIME) from a process with ≥ 2 threads",
              "EUSERS (checked before any permission)", _N04, "threads"),
    Behaviour(26, "uid 65534: unshare(CLONE_NEWTIME), then CLONE_NEWUSER|CLONE_NEWTIME, then "
              "a non-dumpable writer",
              "EPERM; works; EACCES at open(), and after PR_SET_DUMPABLE a 14-byte write",
              _N04, "rootless",
              "rootless: made non-dumpable with prctl(PR_SET_DUMPABLE, 0), as setuid would"),
    Behaviour(27, "clock_nanosleep(TIMER_ABSTIME) inside, to namespace now + 0.2 s and to host "
              "now + 0.2 s", "the first sleeps 0.2 s; the second returns at once", _N05,
              "sleeps"),
    Behaviour(28, "clone3(CLONE_NEWTIME) after unshare with +3600 s",
              "a third namespace, a copy of time_for_children (+3600 s), frozen (EACCES)",
              _N04, "unsharer-checks"),
    Behaviour(29, "legacy clone(CLONE_NEWTIME | SIGCHLD)",
              "no new namespace: the flag is read as part of the exit signal", _N04,
              "unsharer-checks"),
    Behaviour(30, "pthread_create after unshare",
              "the thread stays in the old namespace, on the host clock", _N04,
              "unsharer-checks"),
    Behaviour(31, "vfork (and posix_spawn) after unshare",
              "old namespace until exec, time_for_children after", _N04, "unsharer-checks"),
    Behaviour(32, "setns(pidfd(P), CLONE_NEWTIME) for a P that unshared",
              "joins P's own namespace, not its time_for_children", _N03, "file"),
    Behaviour(33, "read /proc/P/timens_offsets",
              "shows P's time_for_children, not P's own clock", _N03, "file"),
    Behaviour(34, "create a namespace, let it die, create another",
              "the inode number is reused; NS_GET_ID (Linux 6.18) is not", _N03, "reuse"),
    Behaviour(35, "user.max_time_namespaces = 0 (in a user namespace of one's own)",
              "unshare(CLONE_NEWTIME) is ENOSPC", _N04, "limit"),
    Behaviour(36, "monotonic 100000 s, boottime 0",
              "BOOTTIME < MONOTONIC inside (offsets are independent)", _N01, "flip"),
    Behaviour(37, "monotonic 100000 s, boottime 300000 s; run uptime, ps -o lstart, dmesg -T",
              "uptime: up 3 days more; ps start times identical; dmesg -T off by −(monotonic "
              "offset)", _N01, "tools-checks",
              "util-linux ≥ 2.37 dmesg -T adds REALTIME − MONOTONIC, so the BOOTTIME offset "
              "cancels; dmesg itself is checked where the kernel log is readable (root)"),
)

BY_NUMBER = {b.number: b for b in BEHAVIOURS}


def shown_in(notebook: str) -> list[Behaviour]:
    """The behaviours notebook ``notebook`` (a name without .ipynb) must check."""
    return [b for b in BEHAVIOURS if b.notebook == notebook]


def markdown_table(link_prefix: str = "") -> str:
    """The list as a Markdown table; ``link_prefix`` goes before each notebook's file name."""
    rows = ["| # | do this | the kernel does | shown in |", "|---|---|---|---|"]
    for b in BEHAVIOURS:
        note = f" ({b.note})" if b.note else ""
        rows.append(f"| B{b.number} | {b.setup} | {b.expected}{note} | "
                    f"[{b.notebook}]({link_prefix}{b.notebook}.ipynb), cell `{b.cell}` |")
    return "\n".join(rows)
