"""The engine against the kernel, checked with util-linux and /proc (root or rootless)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from timens_lab import kernel
from timens_lab.engine.lab import PIPE, Lab
from timens_lab.errors import (
    HelperDiedError,
    LabClosedError,
    OffsetRangeError,
    OffsetsFrozenError,
    SpawnError,
)
from timens_lab.offsets import NSEC, Offsets, read_offsets
from timens_lab.testing import same_address_space

pytestmark = pytest.mark.usefixtures("need_timens")

CLOCKS = textwrap.dedent("""
    import json, time
    print(json.dumps({"mono": time.clock_gettime_ns(time.CLOCK_MONOTONIC),
                      "boot": time.clock_gettime_ns(time.CLOCK_BOOTTIME),
                      "real": time.clock_gettime_ns(time.CLOCK_REALTIME),
                      "uptime": float(open("/proc/uptime").read().split()[0])}))
""")


def host_clocks() -> dict[str, float]:
    return {"mono": time.clock_gettime_ns(time.CLOCK_MONOTONIC),
            "boot": time.clock_gettime_ns(time.CLOCK_BOOTTIME),
            "real": time.clock_gettime_ns(time.CLOCK_REALTIME),
            "uptime": float(Path("/proc/uptime").read_text().split()[0])}


def read_inside(ns_or_lab, **kw) -> dict[str, float]:
    before = host_clocks()
    child = ns_or_lab.spawn([sys.executable, "-c", CLOCKS], stdout=PIPE, **kw)
    out, _ = child.communicate(timeout=30)
    after = host_clocks()
    assert child.returncode == 0
    inside = json.loads(out)
    # Host reference: the midpoint of before/after brackets the child's reading.
    host = {k: (before[k] + after[k]) / 2 for k in before}
    slack = {k: (after[k] - before[k]) / 2 for k in before}
    return {k: inside[k] - host[k] for k in inside} | {f"slack_{k}": v for k, v in slack.items()}


def test_offsets_shift_monotonic_and_boottime_not_realtime(lab: Lab) -> None:
    """A child sees MONOTONIC + 3600 s and /proc/uptime + 7200 s; REALTIME is untouched."""
    ns = lab.namespace(monotonic=3600, boottime=7200)
    d = read_inside(ns)
    assert abs(d["mono"] - 3600 * NSEC) <= d["slack_mono"] + 1e6
    assert abs(d["boot"] - 7200 * NSEC) <= d["slack_boot"] + 1e6
    assert abs(d["uptime"] - 7200) < 0.05 + d["slack_uptime"]
    assert abs(d["real"]) <= d["slack_real"] + 1e6


def test_namespace_matches_proc_and_util_linux(lab: Lab) -> None:
    """Inode, offsets and membership agree with readlink, timens_offsets and nsenter."""
    ns = lab.namespace(monotonic="1h", boottime="2d")
    assert read_offsets(ns.holder_pid) == Offsets(3600 * NSEC, 2 * 86400 * NSEC)
    assert os.readlink(f"/proc/{ns.holder_pid}/ns/time_for_children") == f"time:[{ns.inode}]"
    with ns.spawn(["sleep", "30"]) as child:
        assert os.readlink(f"/proc/{child.pid}/ns/time") == f"time:[{ns.inode}]"
        assert child.time_ns == ns.inode
        if os.geteuid() == 0:  # util-linux's view of the same namespace
            out = subprocess.run(["nsenter", "-t", str(child.pid), "-T", "cat", "/proc/uptime"],
                                 capture_output=True, text=True, check=True).stdout
            host = float(Path("/proc/uptime").read_text().split()[0])
            assert abs(float(out.split()[0]) - host - 2 * 86400) < 1


def test_pending_edit_takes_effect_then_freezes(lab: Lab) -> None:
    """Offsets edited while pending apply; after the first child the kernel says EACCES."""
    ns = lab.namespace(monotonic=100)
    assert ns.state == "pending"
    ns.offsets = Offsets.of(monotonic=500, boottime=-1)
    assert ns.offsets == Offsets(500 * NSEC, -NSEC)
    d = read_inside(ns)
    assert abs(d["mono"] - 500 * NSEC) < d["slack_mono"] + 1e6
    assert ns.state == "frozen"
    with pytest.raises(OffsetsFrozenError) as info:
        ns.set_offsets(monotonic=7)
    assert info.value.errno == 13  # the kernel's EACCES, not our guess
    assert "first process" in info.value.hint
    assert ns.offsets == Offsets(500 * NSEC, -NSEC)


def test_erange_is_refused_before_the_kernel_and_leaves_nothing(lab: Lab) -> None:
    """An offset that would make MONOTONIC negative is explained, and no process is left."""
    before = lab._call("list")
    uptime = float(Path("/proc/uptime").read_text().split()[0])
    with pytest.raises(OffsetRangeError) as info:
        lab.namespace(monotonic=-(int(uptime) + 1000))
    assert info.value.errno is None  # our pre-check, not the kernel
    assert "most negative allowed" in str(info.value)
    after = lab._call("list")
    assert len(after["namespaces"]) == len(before["namespaces"])
    assert _children_of(lab.helper_pid) == _children_of(lab.helper_pid, before=True)


def test_kernel_erange_agrees_with_precheck(lab: Lab) -> None:
    """util-linux gets ERANGE for the same offset our pre-check refuses (independent source)."""
    if os.geteuid() != 0:
        pytest.skip("util-linux unshare --time needs root; the rootless suite covers nobody")
    uptime = float(Path("/proc/uptime").read_text().split()[0])
    r = subprocess.run(["unshare", "--time", "--monotonic", str(-int(uptime + 1000)), "--fork", "true"],
                       capture_output=True, text=True, check=False)
    assert r.returncode != 0
    assert "Numerical result out of range" in r.stderr


def test_nested_namespace_inherits_then_is_absolute(lab: Lab) -> None:
    """A namespace made inside A starts with A's offsets; writing 5 gives host+5, not A+5."""
    a = lab.namespace(monotonic=1000, boottime=2000)
    b = a.namespace()
    assert a.state == "frozen"  # its holder's child entered A to create B
    assert b.offsets == Offsets(1000 * NSEC, 2000 * NSEC)
    c = a.namespace(monotonic=5)
    assert c.offsets == Offsets(5 * NSEC, 2000 * NSEC)
    d = read_inside(c)
    assert abs(d["mono"] - 5 * NSEC) < d["slack_mono"] + 1e6
    assert abs(d["boot"] - 2000 * NSEC) < d["slack_boot"] + 1e6
    assert c.parent is a
    assert lab.lineage()[c.inode] == a.inode


def test_enter_existing_namespace_by_pid_and_path(lab: Lab) -> None:
    """Joining by pid and by nsfs path lands in the same namespace as the target."""
    ns = lab.namespace(boottime="1d")
    with ns.spawn(["sleep", "30"]) as target:
        joined = lab.enter(target.pid)
        assert joined.inode == ns.inode
        with joined.spawn(["sleep", "30"]) as c1, lab.enter(ns.path).spawn(["sleep", "30"]) as c2:
            for c in (c1, c2):
                assert os.readlink(f"/proc/{c.pid}/ns/time") == f"time:[{ns.inode}]"


def test_enter_from_a_multithreaded_process(lab: Lab) -> None:
    """With extra threads running, setns() itself fails (EUSERS) but Lab.enter works."""
    stop = threading.Event()
    threads = [threading.Thread(target=stop.wait) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        ns = lab.namespace(monotonic=42)
        with ns.spawn(["sleep", "30"]) as target:
            fd = os.open(f"/proc/{target.pid}/ns/time", os.O_RDONLY)
            try:
                with pytest.raises(OSError) as info:
                    kernel.setns(fd, kernel.CLONE_NEWTIME)
                assert info.value.errno in (87, 1)  # EUSERS (root) or EPERM (rootless first)
            finally:
                os.close(fd)
            d = read_inside(lab.enter(target.pid))
            assert abs(d["mono"] - 42 * NSEC) < d["slack_mono"] + 1e6
    finally:
        stop.set()
        for t in threads:
            t.join()


def test_run_fast_path(lab: Lab) -> None:
    """lab.run puts the command straight into a new namespace with the offsets."""
    child = lab.run([sys.executable, "-c", CLOCKS], monotonic="2h", boottime="-1s", stdout=PIPE)
    out, _ = child.communicate(timeout=30)
    inside = json.loads(out)
    assert abs(inside["mono"] - time.clock_gettime_ns(time.CLOCK_MONOTONIC) - 7200 * NSEC) < 0.5 * NSEC
    assert child.time_ns != lab.host_time_ns


def test_spawn_errors_are_typed_and_leave_nothing(lab: Lab) -> None:
    """A missing command or a shell string is a clear error; no child is left behind."""
    ns = lab.namespace()
    with pytest.raises(SpawnError, match="command not found"):
        ns.spawn(["no-such-command-xyz"])
    with pytest.raises(SpawnError, match="never runs a shell"):
        ns.spawn("echo hi")  # type: ignore[arg-type]
    assert ns.state == "pending"  # nothing entered
    assert sorted(_children_of(lab.helper_pid)) == [ns.holder_pid]


def test_close_kills_everything(need_timens: str) -> None:
    """Lab.close() leaves no holder, child or helper."""
    lab = Lab()
    nss = [lab.namespace(monotonic=i) for i in range(5)]
    children = [ns.spawn(["sleep", "60"]) for ns in nss]
    pids = [lab.helper_pid, *(ns.holder_pid for ns in nss), *(c.pid for c in children)]
    lab.close()
    assert _wait_gone(pids, 2.0) == []
    with pytest.raises(LabClosedError):
        lab.namespace()
    assert all(ns.state == "closed" for ns in nss)


def test_namespace_close_kills_its_processes(lab: Lab) -> None:
    ns = lab.namespace(monotonic=1)
    child = ns.spawn(["sleep", "60"])
    ns.close()
    assert child.wait(2) == -signal.SIGKILL
    assert _wait_gone([ns.holder_pid], 2.0) == []


def test_closed_namespaces_and_collected_children_are_forgotten(lab: Lab) -> None:
    """A Lab that runs for hours (the demo) keeps records of what is open only: 100 namespaces,
    each nested once, each with a command waited for, leave nothing behind on either side."""
    for i in range(100):
        outer = lab.namespace(monotonic=i)
        inner = outer.namespace(monotonic=i + 1)
        assert inner.spawn(["true"]).wait(5) == 0
        outer.close()
        assert inner.state == "closed"  # closed with the one it is nested in
    assert lab.run(["true"], monotonic=1).wait(5) == 0
    assert lab._namespaces == [] and lab.lineage() == {}
    assert lab._call("list") == {"namespaces": [], "children": []}


def _vm_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmSize:"))


def _same_mm(a: int, b: int) -> bool:
    shared = same_address_space(a, b)
    if shared is None:
        pytest.skip("kcmp syscall number unknown for this architecture")
    return shared


def test_holders_share_the_helper_memory_and_their_stacks_are_freed(lab: Lab) -> None:
    """A top-level holder is a CLONE_VM child on its own 68 KiB stack (csrc/01-spawn.c): no page
    tables copied, no copy-on-write. Its stack must be unmapped when it is reaped."""
    lab.namespace(monotonic=0).close()  # warm the helper's heap up
    before = _vm_kib(lab.helper_pid)
    nss = [lab.namespace(monotonic=i) for i in range(50)]
    assert _same_mm(lab.helper_pid, nss[0].holder_pid)
    nested = lab.namespace(monotonic=1, parent=nss[0])  # joins with setns: must be a real fork
    assert not _same_mm(lab.helper_pid, nested.holder_pid)
    assert _vm_kib(lab.helper_pid) - before >= 50 * 68
    nested.close()
    for ns in nss:
        ns.close()
    assert _vm_kib(lab.helper_pid) - before < 1024  # 50 leaked stacks would be 3400 KiB


def test_helper_death_is_reported_and_a_new_lab_works(need_timens: str) -> None:
    """Killing the helper kills its children; the Lab says so; a new Lab starts fine."""
    lab = Lab()
    ns = lab.namespace(monotonic=1)
    child = ns.spawn(["sleep", "60"])
    os.kill(lab.helper_pid, signal.SIGKILL)
    assert _wait_gone([child.pid, ns.holder_pid], 2.0) == []
    with pytest.raises(HelperDiedError) as info:
        lab.namespace()
    assert "new Lab" in info.value.hint
    lab.close()
    with Lab() as again:
        assert again.namespace(monotonic=1).offsets.monotonic_ns == NSEC


OWNER = textwrap.dedent("""
    import json, sys
    from timens_lab.engine.lab import Lab
    lab = Lab()
    pids = [lab.helper_pid]
    for i in range(int(sys.argv[1])):
        ns = lab.namespace(monotonic=i, boottime=2 * i)
        pids += [ns.holder_pid, ns.spawn(["sleep", "600"]).pid]
    print(json.dumps(pids), flush=True)
    sys.stdin.read()
""")


def test_sigkill_of_owner_with_100_namespaces_leaves_nothing(need_timens: str) -> None:
    """SIGKILL of a process owning 100 namespaces with children: 0 processes 2 s later."""
    owner = subprocess.Popen([sys.executable, "-c", OWNER, "100"], stdin=PIPE, stdout=PIPE, text=True)
    try:
        pids = json.loads(owner.stdout.readline())
        assert len(pids) == 201
        assert _wait_gone(pids, 0.0) != []  # they are alive before the kill
        owner.kill()
        owner.wait()
        left = _wait_gone(pids, 2.0)
        assert left == [], f"{len(left)} processes survived their owner"
    finally:
        owner.kill()
        owner.wait()
        owner.stdin.close()
        owner.stdout.close()


def _children_of(ppid: int, before: bool = False) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_bytes()
            except OSError:
                continue
            if int(stat[stat.rfind(b")") + 2:].split()[1]) == ppid:
                out.append(int(entry))
    return out


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 2:][:1] != b"Z"


def _wait_gone(pids: list[int], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    while True:
        left = [p for p in pids if _alive(p)]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.02)
