"""Replay as a Source: pacing on the recording's own REALTIME, trees and events on the same
clock, the banner, open_source()'s choice, and the `timens-lab replay` command."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from timens_lab import errors
from timens_lab.commands.replay import build_replay_report
from timens_lab.recording.format import load
from timens_lab.recording.replay import Replay, open_source, recording_path, shipped
from timens_lab.source import HOST, Source

from .test_recording import make


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return make(tmp_path_factory.mktemp("replay"), samples=300, chunk=30)


def test_a_replay_is_a_source(made: dict[str, Any]) -> None:
    replay = Replay(made["path"])
    assert isinstance(replay, Source)
    assert replay.mode == "replay"
    assert replay.banner is not None


def test_records_arrive_when_their_sandwich_closed_on_the_replay_clock(
        made: dict[str, Any]) -> None:
    """At replay time T every channel has delivered exactly its records with rt1 <= T (the
    host one more, as a live host sampler read last would), in order, each once."""
    clock = FakeClock()
    replay = Replay(made["path"], speed=2.0, clock=clock)
    rec = replay.recording
    got: dict[str, list[np.ndarray]] = {}
    for step in range(40):
        clock.t = 100.0 + step * 0.05          # 0.1 s of recording per step at 2x
        now = replay.now_ns()
        assert now == min(rec.start_ns + round(step * 0.1 * 1e9), rec.end_ns) or \
            abs(now - (rec.start_ns + step * 0.1 * 1e9)) < 2
        for key, recs in replay.read().items():
            got.setdefault(key, []).append(recs)
        for key, parts in got.items():
            n = sum(len(p) for p in parts)
            due = int(np.sum(rec.records[key]["rt1"] <= now))
            assert n == (min(due + 1, len(rec.records[key])) if key == HOST and now < rec.end_ns
                         else due), (step, key)
    clock.t = 1e6
    for key, recs in replay.read().items():
        got.setdefault(key, []).append(recs)
    assert replay.done
    for key, parts in got.items():
        assert np.concatenate(parts).tobytes() == rec.records[key].tobytes()


def test_pause_resume_and_stop(made: dict[str, Any]) -> None:
    clock = FakeClock()
    replay = Replay(made["path"], clock=clock)
    replay.read()
    clock.t += 0.5
    replay.pause()
    at = replay.now_ns()
    clock.t += 10
    assert replay.now_ns() == at
    assert not replay.done
    replay.resume()
    clock.t += 0.25
    assert replay.now_ns() == at + 250_000_000
    replay.stop()
    clock.t += 100
    replay.read()
    assert replay.done
    assert replay.now_ns() == at + 250_000_000
    replay.close()
    assert all(len(r) == 0 for r in replay.read().values())


def test_trees_and_events_follow_the_replay_clock(made: dict[str, Any]) -> None:
    clock = FakeClock()
    replay = Replay(made["path"], clock=clock)
    rec = replay.recording
    watcher = replay.watcher()
    seen = []
    for t in np.linspace(0, rec.duration_s + 0.1, 25):
        clock.t = 100.0 + float(t)
        now = replay.now_ns()
        seen += watcher.poll()
        assert seen == [e for te, e in rec.events if te <= now]
        before = [trees for tt, trees in rec.trees if tt <= now]
        assert replay.tree("owner") == (before[-1]["owner"] if before else replay.tree("owner"))
    assert seen == made["events"]
    assert replay.tree("lineage") == made["trees"][-1]["lineage"]


def test_channels_appear_when_they_were_added(tmp_path: Path) -> None:
    """A namespace added mid-recording appears in channels() when the replay reaches it."""
    rec = load(shipped()["tour"])
    clock = FakeClock()
    replay = Replay(rec, clock=clock)
    assert [c.id for c in replay.channels()] == [HOST]
    clock.t += rec.duration_s
    assert [c.id for c in replay.channels()] == [HOST] + [f"ns{i}" for i in range(1, 9)]
    last = max(rec.added_ns.values())
    clock.t = 100.0 + (last - rec.start_ns) / 1e9 - 0.01
    assert len(replay.channels()) == 8


def test_the_banner_says_what_where_when_and_why(made: dict[str, Any]) -> None:
    replay = Replay(made["path"], reason="EPERM from unshare(CLONE_NEWUSER)",
                    hint="sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0")
    lines = replay.banner.splitlines()
    assert lines[0].startswith("REPLAY · 2 time namespaces + host at 100 Hz")
    assert "recorded 2026-01-02 03:04:05 UTC on unit-test (Linux 6.18.0-test, as root)" in lines[0]
    assert lines[1] == "Live mode is off here: EPERM from unshare(CLONE_NEWUSER)"
    assert lines[2] == "Hint: sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0"
    assert "Live mode is off here" in replay._repr_html_()


def test_open_source_replays_when_forced_by_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIMENS_LAB_MODE", "replay")
    source = open_source(recording="quick")
    assert isinstance(source, Replay)
    assert "Live mode is off here: forced by TIMENS_LAB_MODE=replay" in (source.banner or "")
    assert "Hint: unset TIMENS_LAB_MODE" in (source.banner or "")


@pytest.mark.parametrize("usable", [True, False])
def test_open_source_mode_argument(monkeypatch: pytest.MonkeyPatch, usable: bool) -> None:
    """mode="replay" replays; the banner gives the probe's reason where live mode is really
    off, and says a replay was asked for where it is not."""
    import dataclasses

    from timens_lab.probing import check as probe_module

    real = probe_module.probe()
    fake = dataclasses.replace(real, time_namespaces=usable,
                               mode="root" if usable else "unavailable",
                               reason="" if usable else "ENOSPC: user.max_time_namespaces is 0",
                               hint="" if usable else "raise the limit")
    monkeypatch.setattr(probe_module, "probe", lambda refresh=False: fake)
    monkeypatch.delenv("TIMENS_LAB_MODE", raising=False)
    source = open_source(recording="quick", mode="replay")
    assert isinstance(source, Replay)
    want = ("a replay was asked for" if usable
            else "Live mode is off here: ENOSPC: user.max_time_namespaces is 0")
    assert want in (source.banner or "")
    with pytest.raises(ValueError, match="mode must be one of auto, live, replay"):
        open_source(mode="simulate-everything")


def test_open_source_auto_follows_the_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    from timens_lab.probing import check as probe_module

    fake = dataclasses.replace(probe_module.probe(), time_namespaces=False, mode="unavailable",
                               reason="EPERM from unshare", hint="ask your admin")
    monkeypatch.setattr(probe_module, "probe", lambda refresh=False: fake)
    monkeypatch.setenv("TIMENS_LAB_MODE", "auto")
    source = open_source(recording="quick")
    assert isinstance(source, Replay)
    assert (source.banner or "").splitlines()[1:] == ["Live mode is off here: EPERM from unshare",
                                                     "Hint: ask your admin"]


def test_unknown_recording_names() -> None:
    with pytest.raises(errors.RecordingError, match="no shipped recording called 'nope'"):
        recording_path("nope")
    assert recording_path(None) == shipped()["tour"]


def test_shipped_recordings_are_complete_real_runs() -> None:
    """What make recordings wrote: complete, made where time namespaces worked, with trees."""
    assert {"quick", "tour"} <= shipped().keys()
    for path in shipped().values():
        rec = load(path)
        assert rec.complete
        assert rec.meta["environment"]["probe"]["time_namespaces"] is True
        assert rec.trees
        assert rec.events
        scenario = rec.meta["scenario"]
        assert [n["name"] for n in scenario["namespaces"]] == \
            [c.id for c in rec.channels if c.id != HOST]
        # What was asked for, resolved as the kernel does: an unset clock inherits the
        # creator's offset (the host's 0 at the top), kernel-timens.md finding 4.
        resolved: dict[str, tuple[int, int]] = {}
        for spec in scenario["namespaces"]:
            base = resolved[spec["parent"]] if spec["parent"] else (0, 0)
            resolved[spec["name"]] = (
                base[0] if spec["monotonic"] is None else spec["monotonic"],
                base[1] if spec["boottime"] is None else spec["boottime"])
        for ch in rec.channels[1:]:
            assert (ch.monotonic_ns, ch.boottime_ns) == resolved[ch.id]


def test_a_divergence_plot_runs_on_a_replay() -> None:
    """The view code cannot tell: DivergencePlot draws frames from a Replay until done."""
    import matplotlib

    matplotlib.use("Agg")
    from timens_lab.views import DivergencePlot

    replay = Replay("quick", math.inf)
    plot = DivergencePlot(replay)
    for _ in range(3):
        plot.frame()
    plot.finish()
    assert replay.done


# --- the command


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "timens_lab", *args], capture_output=True,
                          text=True, check=False, timeout=120)


def test_replay_prints_the_sample_report(made: dict[str, Any]) -> None:
    done = run_cli("replay", str(made["path"]), "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report == {**build_replay_report(*_replayed(made["path"])), "interrupted": False}
    ns1 = next(c for c in report["channels"] if c["id"] == "ns1")
    assert ns1["samples"] == 300
    assert abs(ns1["offsets"]["monotonic"]["measured_ns"] - 3600e9) < 1000
    text = run_cli("replay", str(made["path"]))
    assert text.returncode == 0
    words = " ".join(text.stdout.split())  # the header wraps at 80 columns
    assert words.startswith(f"replay of {made['path']}: recorded 2026-01-02T03:04:05")
    assert "configured: monotonic +1h, boottime +2h" in text.stdout


def _replayed(path: Path) -> tuple[Replay, dict[str, Any]]:
    from timens_lab.commands.replay import _collect

    replay = Replay(path, math.inf)
    return replay, _collect(replay)


@pytest.mark.parametrize(("content", "word"), [(b"", "is empty"), (b"hello\n", "looks like text"),
                                               (b"\x89TNSREC\n\x09\x00\x00\x00", "format 9.0")])
def test_replay_of_a_bad_file_is_one_clear_error(tmp_path: Path, content: bytes,
                                                 word: str) -> None:
    path = tmp_path / "bad.tnsrec"
    path.write_bytes(content)
    done = run_cli("replay", str(path))
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("error: ")
    assert word in lines[0]
    assert lines[1].startswith("hint: ")


def test_replay_list() -> None:
    done = run_cli("replay", "--list", "--json")
    assert done.returncode == 0
    names = {row["name"] for row in json.loads(done.stdout)}
    assert {"quick", "tour"} <= names
