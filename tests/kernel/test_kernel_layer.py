"""kernel.py against the kernel: nsfs ioctls, clocks, timers (kernel-timens.md §9, §14)."""

from __future__ import annotations

import errno
import os
import sys
import time

import pytest
from timens_lab._timens import lib

from timens_lab import kernel
from timens_lab.engine.lab import PIPE, Lab

pytestmark = pytest.mark.usefixtures("need_timens")


def test_constants_come_from_the_headers() -> None:
    """The C headers decide: CLONE_NEWTIME is 0x80, NS_GET_NSTYPE is 0xb703 (uapi)."""
    assert (kernel.CLONE_NEWTIME, kernel.NS_GET_NSTYPE, kernel.NS_GET_USERNS) == (0x80, 0xB703, 0xB701)
    assert kernel.CLOCKS["boottime"] == time.CLOCK_BOOTTIME
    assert kernel.CLOCKS["monotonic_raw"] == time.CLOCK_MONOTONIC_RAW
    assert lib.NS_GET_ID == 0x8008B70D


def test_clock_reads_agree_with_the_stdlib() -> None:
    for name in ("realtime", "monotonic", "boottime", "monotonic_raw", "tai"):
        clk = kernel.CLOCKS[name]
        a = time.clock_gettime_ns(clk)
        b = kernel.clock_gettime_ns(clk)
        c = time.clock_gettime_ns(clk)
        assert a <= b <= c, name
    assert kernel.clock_getres_ns(kernel.CLOCKS["monotonic"]) == 1


def test_unknown_clock_is_einval() -> None:
    with pytest.raises(OSError) as info:
        kernel.clock_gettime_ns(10)  # reserved id (§4)
    assert info.value.errno == errno.EINVAL


def test_nsfs_ioctls_on_a_time_namespace() -> None:
    """NS_GET_NSTYPE → CLONE_NEWTIME; NS_GET_PARENT → EINVAL; NS_GET_USERNS → our user ns."""
    fd = os.open("/proc/self/ns/time", os.O_RDONLY)
    try:
        assert kernel.ns_ioctl(fd, kernel.NS_GET_NSTYPE) == kernel.CLONE_NEWTIME
        with pytest.raises(OSError) as info:
            kernel.ns_ioctl(fd, kernel.NS_GET_PARENT)
        assert info.value.errno == errno.EINVAL
        owner = kernel.ns_ioctl(fd, kernel.NS_GET_USERNS)
        try:
            assert os.fstat(owner).st_ino == os.stat("/proc/self/ns/user").st_ino
        finally:
            os.close(owner)
    finally:
        os.close(fd)


def test_ns_ids_stay_unique_when_inodes_are_reused(lab: Lab) -> None:
    """Finding 9: a dead namespace's inode can come back at once; NS_GET_ID never repeats."""
    seen: list[tuple[int, int | None]] = []
    for _ in range(50):
        ns = lab.namespace(monotonic=1)
        seen.append((ns.inode, ns.ns_id))
        ns.close()
        if len({inode for inode, _ in seen}) < len(seen):
            break  # an inode came back: the case that matters
    if seen[0][1] is None:
        pytest.skip("kernel without NS_GET_ID (< 6.18): identity falls back to inode + first seen")
    assert len({i for _, i in seen}) == len(seen)


def test_timerfd_absolute_deadline_is_namespace_time(lab: Lab) -> None:
    """§7: an absolute timerfd deadline in namespace time fires after the relative gap."""
    code = (
        "import time; from timens_lab import kernel as k\n"
        "clk = k.CLOCKS['monotonic']; fd = k.timerfd_create(clk)\n"
        "k.timerfd_settime(fd, k.clock_gettime_ns(clk) + 3_600_000_000_000, absolute=True)\n"
        "left, _ = k.timerfd_gettime(fd); print(left)\n")
    ns = lab.namespace(monotonic="100d")
    out, _ = ns.spawn([sys.executable, "-c", code], stdout=PIPE).communicate(timeout=30)
    left = int(out)
    assert 3_590_000_000_000 < left <= 3_600_000_000_000


def test_clock_nanosleep_absolute_host_deadline_returns_at_once(lab: Lab) -> None:
    """§14 #27: a host-clock absolute deadline inside a +1e5 s namespace is already past."""
    code = (
        "import sys, time; from timens_lab import kernel as k\n"
        "clk = k.CLOCKS['monotonic']; host = int(sys.argv[1]) + 200_000_000\n"
        "t = time.perf_counter()\n"
        "k.clock_nanosleep(clk, k.clock_gettime_ns(clk) + 200_000_000, absolute=True)\n"
        "a = time.perf_counter() - t; t = time.perf_counter()\n"
        "k.clock_nanosleep(clk, host, absolute=True); print(a, time.perf_counter() - t)\n")
    ns = lab.namespace(monotonic=100_000)
    child = ns.spawn([sys.executable, "-c", code, str(time.clock_gettime_ns(time.CLOCK_MONOTONIC))],
                     stdout=PIPE)
    out, _ = child.communicate(timeout=30)
    ns_sleep, host_sleep = map(float, out.split())
    assert 0.15 < ns_sleep < 0.5
    assert host_sleep < 0.01


def test_clone3_newtime_is_accepted_here() -> None:
    """§2.3: clone3(CLONE_NEWTIME) works on >= 6.3 (needs CAP_SYS_ADMIN: root only)."""
    if os.geteuid() != 0:
        pytest.skip("clone3(CLONE_NEWTIME) needs CAP_SYS_ADMIN in our user namespace")
    assert kernel.clone3_newtime_probe() == 0
