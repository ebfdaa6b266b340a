"""The session layer's seams, without a kernel: the recorder writes what it is handed, the
session fills its environment from the probe, and the panel drives any Controller."""

from __future__ import annotations

import dataclasses
import math
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from timens_lab.discovery.events import Event
from timens_lab.discovery.treemodel import Node, Tree
from timens_lab.offsets import NSEC, Offsets
from timens_lab.recording.format import load
from timens_lab.recording.tap import Environment, Recorder
from timens_lab.views.synthetic import SyntheticSource

ENV = Environment(host="stage", kernel="6.18.0-test", machine="x86_64", os=None,
                  clocksource="tsc", date="2026-01-02T03:04:05+00:00", uid=1000, python="3.11.2",
                  timens_lab="0.1.0", probe={"mode": "rootless", "time_namespaces": True})


class Feed:
    """A TreeFeed: one event on the first poll, and a tree that changes once."""

    def __init__(self) -> None:
        self.polls = 0

    def poll(self) -> tuple[list[Any], dict[str, Tree]]:
        self.polls += 1
        owner = Tree(by="owner")
        owner.add(Node("time:5", "time", f"ns after {self.polls} polls" if self.polls > 1
                       else "ns", inode=5))
        events = [Event("appeared", 5, None, "pending")] if self.polls == 1 else []
        return events, {"owner": owner, "lineage": Tree(by="lineage")}


def test_the_recorder_writes_the_environment_and_trees_it_is_handed(tmp_path: Path) -> None:
    """A pure tap: META's environment is the Environment given, trees and events are the feed's
    (the first poll at start, the last at close); nothing is read from this machine."""
    feed = Feed()
    path = tmp_path / "r.tnsrec"
    with Recorder(path, SyntheticSource({"ns1": (NSEC, NSEC)}, samples=30, chunk=10),
                  environment=ENV, feed=feed, tree_interval=math.inf) as rec:
        rec.read()
    got = load(path)
    assert got.meta["environment"] == dataclasses.asdict(ENV)
    assert got.meta["environment"]["host"] == "stage" != os.uname().nodename
    assert feed.polls == 2
    assert [e for _, e in got.events] == [Event("appeared", 5, None, "pending")]
    assert [t["owner"].nodes["time:5"].label for _, t in got.trees] == ["ns", "ns after 2 polls"]


def test_without_a_feed_the_recorder_records_samples_only(tmp_path: Path) -> None:
    path = tmp_path / "r.tnsrec"
    with Recorder(path, SyntheticSource({"ns1": (NSEC, NSEC)}, samples=30, chunk=10),
                  environment={"host": "given"}) as rec:
        rec.read()
        assert rec.tree("owner") == Tree(by="owner")
    got = load(path)
    assert (got.trees, got.events, got.meta["environment"]) == ([], [], {"host": "given"})
    assert len(got.records["ns1"]) > 0


def test_the_session_captures_where_and_when_with_the_probes_verdict() -> None:
    """session.environment.capture fills the Environment from this machine and the verdict
    it is given (compared with os.uname and platform, read here)."""
    from timens_lab import __version__
    from timens_lab.session.environment import capture

    @dataclasses.dataclass
    class Verdict:
        mode: str = "rootless"

        def to_dict(self) -> dict[str, Any]:
            return {"mode": self.mode}

    env = capture(Verdict())
    assert (env.kernel, env.machine) == (os.uname().release, os.uname().machine)
    assert (env.uid, env.python, env.timens_lab) == (os.geteuid(), platform.python_version(),
                                                    __version__)
    assert env.probe == {"mode": "rootless"}
    assert env.to_dict()["probe"] == {"mode": "rootless"}


def test_session_record_validates_scope_before_touching_anything(tmp_path: Path) -> None:
    from timens_lab.session.recorder import record

    with pytest.raises(ValueError, match="scope must be 'session' or 'all'"):
        record(tmp_path / "r.tnsrec", SyntheticSource({}, samples=1), scope="mine",  # type: ignore[arg-type]
               environment={})
    assert list(tmp_path.iterdir()) == []


def test_choose_follows_the_probe_and_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """mode None reads TIMENS_LAB_MODE; "live" never probes; auto replays with the probe's
    reason and hint where time namespaces are unavailable."""
    from timens_lab.probing import check
    from timens_lab.session.mode import Choice, choose

    asked: list[int] = []

    def fake_probe(refresh: bool = False) -> Any:
        asked.append(1)
        return dataclasses.replace(real, time_namespaces=False, mode="unavailable",
                                   reason="EPERM", hint="ask")

    real = check.probe()
    monkeypatch.setattr(check, "probe", fake_probe)
    monkeypatch.setenv("TIMENS_LAB_MODE", "live")
    assert choose() == Choice("live")
    assert asked == []
    monkeypatch.delenv("TIMENS_LAB_MODE")
    assert choose() == Choice("replay", "EPERM", "ask")
    assert choose("REPLAY ") == Choice("replay", "EPERM", "ask")
    with pytest.raises(ValueError, match="mode must be one of"):
        choose("simulate")


def test_importing_the_session_package_loads_nothing_heavy() -> None:
    """Names are imported on first use: joining a namespace from the CLI stays light."""
    code = ("import sys, timens_lab.session.foreign, timens_lab.session as s\n"
            "heavy = sorted(m for m in ('numpy', 'timens_lab.clocks.sampler') if m in sys.modules)\n"
            "print(heavy, s.open_source.__module__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["[]", "timens_lab.session.mode"]


class Control:
    """A panel Controller with no Lab behind it (what a demo or a test may pass)."""

    def __init__(self) -> None:
        from tests.unit.fakelab import FakeLab

        self.fake = FakeLab()
        self.calls: list[tuple[str, Any]] = []

    def namespaces(self) -> list[Any]:
        return list(self.fake.namespaces)

    def create(self, *, offsets: Any, rootless: bool | None) -> Any:
        self.calls.append(("create", (offsets, rootless)))
        return self.fake.namespace(offsets=offsets, rootless=rootless)

    def enter(self, pid: int) -> Any:
        self.calls.append(("enter", pid))
        return self.fake.enter(pid)

    def join(self, pid: int) -> Any:
        self.calls.append(("join", pid))
        return self.fake.enter(pid)

    def member_of(self, inode: int) -> int | None:
        return None

    def start_sampler(self, ns: Any, rate: float | None, clocks: tuple[str, ...]) -> Any:
        self.calls.append(("sample", (getattr(ns, "name", ns.inode), rate, clocks)))
        return ns.sampler(rate=rate, clocks=clocks)


def test_the_panel_drives_a_controller_and_never_a_lab() -> None:
    pytest.importorskip("ipywidgets")
    from timens_lab.views.panel import Controller, Panel

    control = Control()
    assert isinstance(control, Controller)
    panel = Panel(control)
    assert panel.control is control
    panel.monotonic.value.value, panel.monotonic.unit.value = 2, "h"
    panel.create_button.click()
    panel.sample_button.click()
    panel.pid.value = 77
    panel.sample_pid_button.click()
    assert [c[0] for c in control.calls] == ["create", "sample", "join", "sample"]
    assert control.calls[0][1] == (Offsets(2 * 3600 * NSEC, 0), None)   # exact, no text
    assert panel.error.value == ""
    with pytest.raises(TypeError, match="give these to the Controller"):
        Panel(control, joiner=lambda lab, pid: None)


def test_a_lab_is_wrapped_in_the_sessions_lab_control() -> None:
    pytest.importorskip("ipywidgets")
    from tests.unit.fakelab import FakeLab
    from timens_lab.session.control import LabControl
    from timens_lab.views.panel import Controller, Panel

    lab = FakeLab()
    assert not isinstance(lab, Controller)
    panel = Panel(lab, member_of={1: 2}.get)
    assert isinstance(panel.control, LabControl)
    assert panel.control.lab is lab and panel.control.member_of(1) == 2
