"""Samplers in real time namespaces, checked against the kernel and independent readings.

Runs as root here and again as nobody (rootless) through tests/rootless. Independent sources:
/proc/<pid>/ns links, a process started with util-linux nsenter into the sampler's namespace
reading its own clocks (and /proc/uptime), and Python's own clock_gettime for BOOTTIME_ALARM.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from timens_lab.clocks.divergence import divergence, summary
from timens_lab.clocks.sampler import Sampler, SamplerSet
from timens_lab.engine.lab import Lab
from timens_lab.errors import TimensError
from timens_lab.source import MISSING, RECORD_DTYPE, Source

pytestmark = pytest.mark.usefixtures("need_timens")

HOUR, TWO_HOURS = 3600 * 10**9, 7200 * 10**9
HIGH_RES = ("realtime", "monotonic", "boottime", "monotonic_raw")

#: Run inside the namespace: the narrowest of many REALTIME, MONOTONIC, BOOTTIME, REALTIME
#: sandwiches, read by Python rather than by our C loop.
SANDWICH = textwrap.dedent("""
    import json, time
    g, R, M, B = time.clock_gettime_ns, time.CLOCK_REALTIME, time.CLOCK_MONOTONIC, time.CLOCK_BOOTTIME
    best = None
    for _ in range(3000):
        a = g(R); m = g(M); b = g(B); z = g(R)
        if best is None or z - a < best[3] - best[0]:
            best = (a, m, b, z)
    print(json.dumps(best))
""")


def collect(source: SamplerSet, seconds: float) -> dict[str, np.ndarray]:
    """Read for ``seconds`` as a live view would (every 20 ms), then everything left."""
    chunks: dict[str, list[np.ndarray]] = {ch.id: [] for ch in source.channels()}
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(0.02)
        for key, recs in source.read().items():
            chunks[key].append(recs)
    source.stop()
    for key, recs in source.read().items():
        chunks[key].append(recs)
    return {k: np.concatenate(v) if v else np.empty(0, RECORD_DTYPE) for k, v in chunks.items()}


def nsenter(pid: int, argv: list[str]) -> list[str]:
    """nsenter into pid's time namespace; through its user namespace when it has its own."""
    if os.stat(f"/proc/{pid}/ns/user").st_ino == os.stat("/proc/self/ns/user").st_ino:
        return ["nsenter", "-t", str(pid), "-T", *argv]
    return ["nsenter", "-t", str(pid), "-U", "-T", "--preserve-credentials", *argv]


@pytest.fixture
def pair(lab: Lab) -> Iterator[SamplerSet]:
    """Host + one namespace (+1 h MONOTONIC, +2 h BOOTTIME) sampled at 1 kHz."""
    ns = lab.namespace(monotonic="1h", boottime="2h")
    source = SamplerSet.start(lab, [ns], rate=1000)
    yield source
    source.close()


def test_samplers_run_in_their_namespaces(lab: Lab, pair: SamplerSet) -> None:
    """/proc/<pid>/ns/time: each namespace sampler is in its namespace, the host one in ours."""
    host, ns = pair.host, pair.samplers["ns1"]
    assert os.stat(f"/proc/{host.pid}/ns/time").st_ino == lab.host_time_ns
    assert os.stat(f"/proc/{ns.pid}/ns/time").st_ino == ns.channel.ns_inode
    assert ns.channel.ns_inode != lab.host_time_ns
    assert [c.pid for c in pair.channels()] == [host.pid, ns.pid]
    assert isinstance(pair, Source)


def test_measured_offsets_within_1us_and_within_their_bound(pair: SamplerSet) -> None:
    """MONOTONIC/RAW +1 h, BOOTTIME +2 h, REALTIME 0: median within 1 µs, every sample in err."""
    recs = collect(pair, 1.5)
    ch = pair.samplers["ns1"].channel
    assert (ch.monotonic_ns, ch.boottime_ns) == (HOUR, TWO_HOURS)  # as the kernel reports them
    res = pair.samplers["ns1"].resolution_ns
    for clock, want in (("realtime", 0), ("monotonic", HOUR), ("boottime", TWO_HOURS),
                        ("monotonic_raw", HOUR), ("monotonic_coarse", HOUR)):
        s = summary(divergence(recs["ns1"], recs["host"], clock,
                               resolution_ns=res.get(clock)), want)
        assert s.n > 500, clock
        assert s.within_bound == 1.0, (clock, s)
        if clock in HIGH_RES:
            assert abs(s.median_ns - want) < 1_000, (clock, s)
    assert res["monotonic_coarse"] > 1  # a tick, as clock_getres says inside the namespace


def test_no_drops_at_1khz_and_every_tick_accounted(pair: SamplerSet) -> None:
    """A reader polling at 50 Hz loses nothing; records + late ticks cover the elapsed time."""
    recs = collect(pair, 1.0)
    for key, sampler in (("host", pair.host), ("ns1", pair.samplers["ns1"])):
        r = recs[key]
        assert pair.stats()[key].drops == 0
        assert r["seq"].tolist() == list(range(len(r)))
        ticks = (int(r["monotonic"][-1]) - int(r["monotonic"][0])) / 1_000_000
        assert abs(ticks - (len(r) - 1 + sampler.late)) <= 3 + 0.05 * len(r), (key, ticks,
                                                                                 len(r), sampler.late)


def test_stalled_reader_counts_drops_and_never_tears(lab: Lab) -> None:
    """A reader stalled for 3 ring laps gets the newest records, intact, and counts the rest."""
    ns = lab.namespace(monotonic="1h")
    with Sampler.for_namespace(ns, rate=20_000, capacity=1024) as sampler:
        time.sleep(0.3)                                   # ~6000 records into 1024 slots
        stalled = sampler.read()
        ring = sampler.ring
        assert ring is not None
        assert ring.drops > 0
        assert len(stalled) + ring.drops == ring.tail     # every seq delivered or counted
        live = [stalled]
        for _ in range(10):
            time.sleep(0.01)
            live.append(sampler.read())
        sampler.stop()
        live.append(sampler.read())
        recs = np.concatenate(live)
        assert len(recs) + ring.drops == ring.head
        assert ring.torn == 0
    seq = recs["seq"].astype(np.int64)
    assert (np.diff(seq) > 0).all()
    # A torn record would mix two writes 1024 records (~50 ms) apart: its sandwich would be
    # inverted or huge, and its MONOTONIC − REALTIME would jump. None does.
    width = recs["rt1"] - recs["rt0"]
    assert (width >= 0).all()
    assert np.percentile(width, 99) < 100_000
    skew = recs["monotonic"] - recs["rt0"]
    assert np.ptp(skew - np.median(skew)) < 10_000_000


def test_independent_reading_by_nsenter_agrees(pair: SamplerSet) -> None:
    """nsenter into the sampler's namespace, Python reads its own sandwich: the two agree
    within our bound plus its own (and /proc/uptime there agrees to its 10 ms resolution)."""
    if shutil.which("nsenter") is None:
        pytest.skip("needs util-linux nsenter")
    ns = pair.samplers["ns1"]
    time.sleep(0.2)
    inside = subprocess.run(nsenter(ns.pid, [sys.executable, "-c", SANDWICH]),
                            capture_output=True, text=True, timeout=60, check=True)
    up_host0 = _uptime()
    uptime = subprocess.run(nsenter(ns.pid, ["cat", "/proc/uptime"]), capture_output=True,
                            text=True, timeout=60, check=True)
    up_host1 = _uptime()
    time.sleep(0.2)
    recs = collect(pair, 0.0)
    rt0, mono, boot, rt1 = json.loads(inside.stdout)
    theirs = np.zeros(1, RECORD_DTYPE)
    theirs[0] = (0, rt0, mono, boot, MISSING, MISSING, MISSING, rt1)
    for clock, want in (("monotonic", HOUR), ("boottime", TWO_HOURS)):
        ours = divergence(recs["ns1"], recs["host"], clock)
        other = divergence(theirs, recs["host"], clock)
        assert len(other.offset_ns) == 1, "the nsenter reading is inside the host series"
        # our samples next to theirs in time
        near = np.argsort(np.abs(ours.t_ns - other.t_ns[0]))[:5]
        gap = np.abs(ours.offset_ns[near] - other.offset_ns[0])
        assert (gap <= ours.err_ns[near] + other.err_ns[0]).all(), (clock, gap, other.err_ns)
        assert abs(other.offset_ns[0] - want) <= other.err_ns[0]
    boot_seen = float(uptime.stdout.split()[0]) - (up_host0 + up_host1) / 2
    assert abs(boot_seen - 7200) <= 0.02 + (up_host1 - up_host0) / 2


def _uptime() -> float:
    return float(Path("/proc/uptime").read_text().split()[0])


def test_boottime_alarm_missing_exactly_when_the_kernel_refuses_it(pair: SamplerSet) -> None:
    """The sampler leaves BOOTTIME_ALARM MISSING iff clock_gettime refuses it here too."""
    try:
        time.clock_gettime_ns(9)  # CLOCK_BOOTTIME_ALARM
        readable = True
    except OSError:
        readable = False
    recs = collect(pair, 0.1)
    for channel in pair.channels():
        assert ("boottime_alarm" in channel.clocks) == readable
        assert bool((recs[channel.id]["boottime_alarm"] == MISSING).all()) == (not readable)


def test_pause_and_resume(pair: SamplerSet) -> None:
    """pause() stops the records (the processes stay), resume() brings them back."""
    pair.pause()
    pair.read()
    assert [s.status for s in (pair.host, *pair.samplers.values())] == ["paused", "paused"]
    time.sleep(0.05)
    assert all(len(r) == 0 for r in pair.read().values())
    pair.resume()
    time.sleep(0.05)
    assert all(len(r) > 10 for r in pair.read().values())
    assert all(os.path.exists(f"/proc/{c.pid}") for c in pair.channels())


def test_a_failed_start_leaves_nothing_behind(lab: Lab) -> None:
    """Starting a sampler in a closed namespace raises a typed error and leaks no fd or ring."""
    ns = lab.namespace(monotonic="1h")
    ns.close()
    before = sorted(os.listdir("/proc/self/fd"))
    sampler = Sampler.for_namespace(ns, rate=100)
    with pytest.raises(TimensError):
        sampler.start()
    assert sorted(os.listdir("/proc/self/fd")) == before
    assert sampler.ring is not None
    assert sampler.ring.closed


def test_samplers_die_with_the_helper() -> None:
    """SIGKILL the Lab's helper: its samplers get PDEATHSIG and are gone too."""
    lab = Lab()
    try:
        source = SamplerSet.start(lab, [lab.namespace(monotonic="1h")], rate=100)
        pids = [c.pid for c in source.channels()]
        os.kill(lab.helper_pid, 9)
        deadline = time.monotonic() + 5
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not any(_alive(p) for p in pids)
        source.close()  # a dead helper is no error here: its samplers are gone already
    finally:
        lab.close()


def _alive(pid: int) -> bool:
    """Running (not gone, not a zombie waiting for a reaper)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_cli_sample_json_done_criterion() -> None:
    """`timens-lab sample --ns monotonic=3600,boottime=7200 --duration 2 --json`: within 1 µs,
    REALTIME within 1 µs of 0, 0 drops at 1 kHz, progress on stderr."""
    result = subprocess.run(
        [sys.executable, "-m", "timens_lab", "sample", "--ns", "monotonic=3600,boottime=7200",
         "--duration", "2", "--json"], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    host, ns = report["channels"]
    assert (host["id"], ns["id"]) == ("host", "ns1")
    assert ns["configured"] == {"monotonic_ns": 3600 * 10**9, "boottime_ns": 7200 * 10**9}
    for clock, want in (("monotonic", 3600e9), ("boottime", 7200e9), ("realtime", 0.0)):
        assert abs(ns["offsets"][clock]["measured_ns"] - want) < 1_000, clock
        assert ns["offsets"][clock]["within_bound"] == 1.0
    assert (host["drops"], ns["drops"]) == (0, 0)
    assert ns["samples"] > 1000
    assert "sampling" in result.stderr
