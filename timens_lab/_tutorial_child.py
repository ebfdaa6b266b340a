"""``timens_lab._tutorial_child OFFSET ROOTLESS`` (started by _pyexec): check 19 of kernel-timens.md §14.

A fresh Python process is single-threaded, so it may unshare (a user namespace too). It creates
a time namespace with OFFSET seconds on MONOTONIC, then starts a child with ``subprocess.run``
— CPython uses vfork() or posix_spawn() there, which failed with EINVAL after unshare before
Linux 6.2 — and prints one JSON line: what the child saw, and what we see ourselves.

It lives here, not in ``tutorial/``: running a submodule imports its package first, and the
tutorial package loads numpy, whose BLAS threads would make this process multi-threaded, so
unshare(CLONE_NEWUSER) would fail with EINVAL (unshare(2)).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from . import kernel
from .offsets import Offsets, write_offsets

_REPORT = ("import os, time; print(time.clock_gettime_ns(time.CLOCK_MONOTONIC) - "
           "time.clock_gettime_ns(time.CLOCK_REALTIME), os.stat('/proc/self/ns/time').st_ino, "
           "os.stat('/proc/self/ns/time_for_children').st_ino)")


def _vs_realtime() -> int:
    a = time.clock_gettime_ns(time.CLOCK_REALTIME)
    m = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    b = time.clock_gettime_ns(time.CLOCK_REALTIME)
    return m - (a + (b - a) // 2)


def main(argv: list[str]) -> int:
    offset, rootless = int(argv[0]), argv[1] == "1"
    before = _vs_realtime()
    kernel.unshare(kernel.CLONE_NEWTIME | (kernel.CLONE_NEWUSER if rootless else 0))
    write_offsets("self", Offsets(monotonic_ns=offset * 1_000_000_000), ("monotonic",))
    done = subprocess.run([sys.executable, "-P", "-c", _REPORT], capture_output=True, text=True,
                          check=True, timeout=30)
    d_mono, ino, tfc = (int(x) for x in done.stdout.split())
    print(json.dumps({
        "child_offset_ns": d_mono - before, "child_time": ino, "child_tfc": tfc,
        "self_time": os.stat("/proc/self/ns/time").st_ino,
        "self_tfc": os.stat("/proc/self/ns/time_for_children").st_ino,
        "self_offset_ns": _vs_realtime() - before,
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
