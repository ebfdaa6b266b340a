"""Discovery of ~1,000 time namespaces: discover() against ``lsns -t time -J`` in the same run.

Target (issue 5): ≤ 0.3 s for 1,000 namespaces and no slower than lsns. A throwaway builder
process (its own session) calls unshare(CLONE_NEWTIME) and fork() N times, so each child sits
in a namespace of its own (with offsets of i seconds), then unshares once more and keeps that
namespace pending. Everything dies with one killpg() of the builder's session at the end;
children also have PR_SET_PDEATHSIG.

Also measured, to justify the defaults documented in timens_lab/discovery.py: the cost of the
thread pass, the fd pass and the mount pass, each switched off in turn.

Timing: discover() and lsns alternate, REPEATS rounds, so load from other processes hits both
alike; medians (and the best round) are printed. lsns is timed as a subprocess, exec included,
as a user would run it.

Run: ``python -m bench`` (all benchmarks) or ``python -m bench.bench_discovery [N]``. Needs
root (CAP_SYS_ADMIN for unshare(CLONE_NEWTIME)); prints why and returns otherwise.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from timens_lab.discovery.scan import Discovery

BUDGET_S = 0.3
REPEATS = 15

# The builder: single-threaded, so unshare and fork are safe; children only pause.
BUILDER = r"""
import ctypes, os, signal, sys
libc = ctypes.CDLL(None, use_errno=True)
n = int(sys.argv[1])
for i in range(n):
    if libc.unshare(0x80) != 0:
        sys.exit(f"unshare: {os.strerror(ctypes.get_errno())}")
    fd = os.open("/proc/self/timens_offsets", os.O_WRONLY)
    os.write(fd, f"monotonic {i} 0\nboottime {2 * i} 0\n".encode())
    os.close(fd)
    if os.fork() == 0:
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() == 1:
            os._exit(0)
        while True:
            signal.pause()
libc.unshare(0x80)  # one pending namespace: lsns cannot see it, discover() must
print("ready", flush=True)
sys.stdin.read()
"""


def _interleaved(fns: list[Callable[[], object]], repeats: int = REPEATS) -> list[list[float]]:
    """Seconds per call for each fn, called in turn ``repeats`` times (after one warm-up)."""
    for fn in fns:
        fn()
    out: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for times, fn in zip(out, fns, strict=True):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    return out


def _lsns() -> dict[int, int]:
    out = subprocess.run(["lsns", "-t", "time", "-J"], capture_output=True, text=True,
                         check=True).stdout
    return {int(n["ns"]): int(n["nprocs"]) for n in json.loads(out or '{"namespaces": []}')
            ["namespaces"]}


def _agree_with_lsns(discover: Callable[[], Discovery]) -> tuple[Discovery, bool]:
    """Same namespaces with members and process counts as lsns (which also counts itself, in our
    time_for_children namespace). Retried: other processes may come and go meanwhile."""
    own = os.stat("/proc/self/ns/time_for_children").st_ino
    for _ in range(10):
        d1, theirs, d2 = discover(), _lsns(), discover()
        mine = {ns.inode: len(ns.members) for ns in d1.namespaces if ns.members}
        if mine != {ns.inode: len(ns.members) for ns in d2.namespaces if ns.members}:
            continue
        mine[own] = mine.get(own, 0) + 1
        if mine == theirs:
            return d1, True
    return d1, False


def main(n: int = 1000) -> int:
    """Make ``n`` namespaces, time discover() against lsns, clean up; 1 if they disagree."""
    if os.geteuid() != 0:
        print("bench_discovery: skipped (needs root to create time namespaces)")
        return 0
    from timens_lab.discovery.scan import discover

    before = len(discover().namespaces)
    builder = subprocess.Popen([sys.executable, "-c", BUILDER, str(n)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert builder.stdout is not None
        t0 = time.perf_counter()
        line = builder.stdout.readline()
        if line.strip() != "ready":
            print(f"bench_discovery: builder failed ({builder.wait()})")
            return 1
        build_s = time.perf_counter() - t0
        d, agree = _agree_with_lsns(discover)
        pending = sum(ns.state == "pending" for ns in d.namespaces)
        times = _interleaved([discover, _lsns, lambda: discover(threads=False),
                              lambda: discover(fds=False), lambda: discover(mounts=False)])
        disc, lsns, no_threads, no_fds, no_mounts = (statistics.median(t) for t in times)
        best_disc, best_lsns = min(times[0]), min(times[1])
        nprocs = len(d.processes)
        print(f"bench_discovery: {len(d.namespaces)} time namespaces ({pending} pending), "
              f"{nprocs} processes; {n} made in {build_s:.2f} s; medians of {REPEATS} rounds")
        print(f"  discover()          {disc * 1e3:8.1f} ms  (best {best_disc * 1e3:.1f}; budget "
              f"{BUDGET_S * 1e3:.0f} ms: {'ok' if disc <= BUDGET_S else 'OVER'})")
        print(f"  lsns -t time -J     {lsns * 1e3:8.1f} ms  (best {best_lsns * 1e3:.1f}; the "
              "anchor, exec included)")
        print(f"  ratio discover/lsns {disc / lsns:8.2f}    (best/best {best_disc / best_lsns:.2f}: "
              f"{'ok' if disc <= lsns else 'slower than lsns'})")
        print(f"  per process         {disc / nprocs * 1e6:8.1f} us")
        for what, without in (("thread", no_threads), ("fd", no_fds), ("mount", no_mounts)):
            print(f"  {what + ' pass':<18}  {(disc - without) * 1e3:8.2f} ms  "
                  f"(ratio to lsns {(disc - without) / lsns:.3f})")
        print(f"  agrees with lsns (namespaces with members, process counts): {agree}")
        return 0 if agree else 1
    finally:
        os.killpg(builder.pid, signal.SIGKILL)  # the builder's own session: it and its children
        builder.wait()
        for _ in range(100):  # children are reaped by init/subreaper after the builder dies
            if len(discover().namespaces) <= before:
                break
            time.sleep(0.05)


if __name__ == "__main__":
    raise SystemExit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000))
