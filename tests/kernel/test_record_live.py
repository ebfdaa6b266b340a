"""Record real samplers and a real namespace tree, replay them, and get the same back.

Runs as the current user: root, or rootless (tests/rootless runs this file again as nobody).
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import REPO
from timens_lab.clocks.sampler import Sampler, SamplerSet
from timens_lab.commands.replay import build_replay_report
from timens_lab.commands.sample import build_report
from timens_lab.discovery.watch import Watcher
from timens_lab.offsets import Offsets
from timens_lab.recording.format import load
from timens_lab.recording.replay import Replay
from timens_lab.recording.tap import Recorder
from timens_lab.source import HOST, SAMPLED_CLOCKS

NSEC = 1_000_000_000


def _ns_inode(pid: int) -> int:
    """/proc/PID/ns/time, read here: the kernel's word on which namespace a process is in."""
    return int(os.readlink(f"/proc/{pid}/ns/time").split("[")[1].rstrip("]"))


def test_record_a_live_session_and_replay_it_exactly(lab: Any, tmp_path: Path) -> None:
    path = tmp_path / "live.tnsrec"
    source = SamplerSet.start(lab, [], rate=500)
    rec = Recorder(path, source, watcher=Watcher(), lab=lab, flush_interval=0.2,
                   tree_interval=math.inf)
    trees = [rec.trees]

    def poll() -> None:
        rec.poll_tree()
        if rec.trees != trees[-1]:
            trees.append(rec.trees)

    ns1 = lab.namespace(monotonic="1h", boottime="2d")
    poll()
    source.add(Sampler.for_namespace(ns1, rate=500).start())
    poll()
    ns2 = ns1.namespace(boottime="3d")      # created inside ns1: inherits +1h monotonic
    poll()
    source.add(Sampler.for_namespace(ns2, rate=500).start())
    poll()
    seen: dict[str, list[np.ndarray]] = {}
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        time.sleep(0.03)
        for key, recs in rec.read().items():
            seen.setdefault(key, []).append(recs.copy())
    inodes = {ch.id: _ns_inode(ch.pid) for ch in source.channels() if ch.pid is not None}
    source.stop()                    # the host last: it brackets the namespaces to the end
    for key, recs in rec.read().items():
        seen.setdefault(key, []).append(recs.copy())
    rec.close()                      # nothing left to drain; closes the samplers
    if rec.trees != trees[-1]:       # close() looks at the tree one last time
        trees.append(rec.trees)

    got = load(path)
    assert got.complete
    kept = {k: np.concatenate(v) for k, v in seen.items()}
    for key, recs in kept.items():
        assert len(recs) > 500
        assert got.records[key].tobytes() == recs.tobytes(), key
    # Channels: what the samplers were, checked against the kernel's own /proc links.
    assert [c.id for c in got.channels] == [HOST, ns1.name, ns2.name]
    assert got.channels[1].ns_inode == ns1.inode == inodes[ns1.name]
    assert got.channels[2].ns_inode == ns2.inode == inodes[ns2.name]
    assert (got.channels[2].monotonic_ns, got.channels[2].boottime_ns) == (3600 * NSEC,
                                                                           3 * 86400 * NSEC)
    assert [t for _, t in got.trees] == trees
    assert [e for _, e in got.events] == rec.events
    # The tree: ns2 under ns1 in the lineage, offsets as /proc/<holder>/timens_offsets says.
    lineage = got.trees[-1][1]["lineage"]
    node2 = lineage.nodes[f"time:{ns2.inode}"]
    assert node2.parent == f"time:{ns1.inode}"
    with open(f"/proc/{ns2.holder_pid}/timens_offsets") as f:
        assert Offsets.from_proc(f.read()) == Offsets(node2.monotonic_ns, node2.boottime_ns)
    # Events: ns2 appeared pending, then froze when its sampler entered.
    mine = [(e.kind, e.state) for _, e in got.events if e.inode == ns2.inode and e.pid is None]
    assert mine[:2] == [("appeared", "pending"), ("frozen", "active")]

    # Replayed, the sample report is the one computed from the live records.
    replay = Replay(path, math.inf)
    from timens_lab.commands.replay import _collect

    replayed = build_replay_report(replay, _collect(replay))
    live = build_report(source.channels(), kept,
                        stats={k: (s.records, s.drops) for k, s in source.stats().items()},
                        late={}, resolution=replay.sampler_facts()[1], rate=500.0,
                        duration=replay.position,
                        clocks=[c for c in SAMPLED_CLOCKS if c in got.channels[0].clocks])
    for a, b in zip(replayed["channels"], live["channels"], strict=True):
        assert a.get("offsets") == b.get("offsets")
    ns2_row = replayed["channels"][2]["offsets"]
    assert abs(ns2_row["boottime"]["measured_ns"] - 3 * 86400 * NSEC) < 10_000


def _cli(*args: str, **kw: Any) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", "timens_lab", *args], text=True, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def test_record_then_replay_from_the_command_line(need_timens: str, tmp_path: Path) -> None:
    out = tmp_path / "cli.tnsrec"
    proc = _cli("record", "--out", str(out), "--ns", "monotonic=1h,boottime=2d",
                "--ns", "monotonic=-5s", "--duration", "1.5")
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert f"wrote {out}: 3 channels" in stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cli.tnsrec"]
    proc = _cli("replay", str(out), "--json")
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    report = json.loads(stdout)
    rows = {c["id"]: c for c in report["channels"]}
    assert abs(rows["ns1"]["offsets"]["boottime"]["measured_ns"] - 2 * 86400 * NSEC) < 10_000
    assert abs(rows["ns2"]["offsets"]["monotonic"]["measured_ns"] + 5 * NSEC) < 10_000
    assert report["recording"]["complete"]
    assert report["recording"]["tree_events"] >= 4
    assert load(out).meta["scenario"]["namespaces"][1] == {
        "name": "ns2", "monotonic": -5 * NSEC, "boottime": None, "parent": None}


def test_ctrl_c_still_leaves_a_complete_recording(need_timens: str, tmp_path: Path) -> None:
    out = tmp_path / "int.tnsrec"
    proc = _cli("record", "--out", str(out), "--ns", "boottime=1d", "--duration", "60")
    deadline = time.monotonic() + 30
    while not list(tmp_path.glob("*.partial")) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    rec = load(out)
    assert rec.end is not None
    assert rec.end["ended"] == "interrupted"
    assert len(rec.records["ns1"]) > 10


def test_a_refused_namespace_leaves_no_file(tmp_path: Path) -> None:
    """In the locked-down simulation the kernel says ENOSPC: one clear error, no file."""
    pytest.importorskip("timens_lab.testing")
    from timens_lab.testing import locked_down_argv

    out = tmp_path / "no.tnsrec"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(locked_down_argv([sys.executable, "-m", "timens_lab", "record",
                                            "--out", str(out), "--ns", "monotonic=1h",
                                            "--duration", "1"]),
                          capture_output=True, text=True, env=env, timeout=60, check=False)
    assert done.returncode == 1, done.stderr
    assert "error: " in done.stderr
    assert "hint: " in done.stderr
    assert "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_open_source_live_recreates_the_recordings_scenario(need_timens: str) -> None:
    """Live, open_source(recording=...) makes the same namespaces under the same names as the
    replay shows, and serves their tree; closing it closes the Lab it made."""
    from timens_lab.recording.replay import open_source
    from timens_lab.session.scenario import LiveSession

    replayed = Replay("quick", math.inf)
    source = open_source(recording="quick", mode="live", rate=200)
    try:
        assert isinstance(source, LiveSession)
        assert source.mode == "live"
        assert source.banner is None
        live = {c.id: (c.monotonic_ns, c.boottime_ns) for c in source.channels()}
        recorded = {c.id: (c.monotonic_ns, c.boottime_ns) for c in replayed.recording.channels}
        assert live == recorded
        lineage = source.tree("lineage")
        by_inode = {n.inode: n for n in lineage.nodes.values() if n.kind == "time"}
        ns1, ns3 = (c for c in source.channels() if c.id in ("ns1", "ns3"))
        assert by_inode[ns3.ns_inode].parent == f"time:{ns1.ns_inode}"
        assert _ns_inode(ns3.pid) == ns3.ns_inode
        helper = source.lab.helper_pid
    finally:
        source.close()
    time.sleep(0.2)
    assert not Path(f"/proc/{helper}").exists() or \
        Path(f"/proc/{helper}/stat").read_text().split()[2] == "Z"
