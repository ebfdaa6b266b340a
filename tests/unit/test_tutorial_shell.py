"""timens_lab.tutorial.shell: visible shell sessions for notebooks 08/09, recorded and replayed."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from timens_lab.tutorial import _tape as tape_mod
from timens_lab.tutorial import shell as W


@pytest.fixture
def no_tape() -> None:
    tape_mod.activate(None)


def test_sh_collects_output_and_status(no_tape: None, capsys: pytest.CaptureFixture[str]) -> None:
    """sh prints the command and its output, and returns both with the exit status."""
    done = W.sh([sys.executable, "-c", "print('a'); print('b'); raise SystemExit(3)"])
    assert (done.returncode, done.lines) == (3, ["a", "b"])
    assert capsys.readouterr().out.endswith("a\nb\n")


def test_sh_returns_when_a_daemon_keeps_its_stdout(no_tape: None, tmp_path: Path) -> None:
    """A command that leaves a process holding its stdout (crun run --detach) does not hang sh."""
    pidfile = tmp_path / "pid"
    code = ("import os, sys, time\n"
            "if os.fork() == 0:\n"
            f"    open({str(pidfile)!r}, 'w').write(str(os.getpid())); time.sleep(30)\n"
            "else:\n    print('started', flush=True)\n")
    start = time.monotonic()
    done = W.sh([sys.executable, "-c", code], timeout=20)
    took = time.monotonic() - start
    deadline = time.monotonic() + 10
    while not pidfile.exists() or not pidfile.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    os.kill(int(pidfile.read_text()), signal.SIGKILL)
    assert done.lines == ["started"]
    assert took < 10, f"sh waited {took:.1f} s for a daemon's stdout"


def test_recorded_in_one_scratch_replays_in_another(tmp_path: Path) -> None:
    """A run recorded with cwd=Scratch() replays from a different temporary directory."""
    first, second = W.Scratch(), W.Scratch()
    try:
        (first.path / "f").write_text("one\n")
        recording = tape_mod.Tape("t", "record")
        tape_mod.activate(recording)
        recorded = W.sh(["cat", "f"], cwd=first, quiet=True)
        replay = tape_mod.Tape("t", "replay", events=recording.events)
        tape_mod.activate(replay)
        replayed = W.sh(["cat", "f"], cwd=second, quiet=True)   # second has no file f
    finally:
        tape_mod.activate(None)
        first.remove()
        second.remove()
    assert recorded.out == replayed.out == "one\n"
    assert replay.finished
    assert repr(first) == repr(second) == "Scratch()"


def test_recorded_answers_a_live_run_that_cannot_run_the_tool(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, no_tape: None,
        capsys: pytest.CaptureFixture[str]) -> None:
    """recorded=True answers from the recording (latest matching run, wrapper ignored) and says so."""
    def event(argv: list[str], out: str) -> dict[str, object]:
        shell = W.Shell(argv, 0, out, "", 0.1)
        return {"k": "T._run", "a": tape_mod.signature((argv, None, None, 30.0, False), {}),
                "t": "value", "v": tape_mod.encode(shell, tape_mod.Tape("x", "record"))}

    path = tmp_path / "tape.json"
    path.write_text(json.dumps({"meta": {}, "events": [
        event(["wrap", "crun", "list"], "early\n"), event(["wrap", "crun", "list"], "late\n")]}))
    monkeypatch.setattr(W, "tape_path", lambda name: path)
    W.use_recording_of("nb")
    done = W.sh(["crun", "list"], recorded=True, tool="crun")
    assert (done.out, done.replayed) == ("late\n", True)
    assert "cannot run here" in capsys.readouterr().out
    assert W.sh(["crun", "state"], recorded=True, tool="crun").returncode == 127
