"""The tutorial helpers without a kernel: claims, and tapes that record and replay a Lab."""

from __future__ import annotations

import errno
from typing import Any

import numpy as np
import pytest

from timens_lab.tutorial import _tape as tape_mod
from timens_lab import tutorial as T
from timens_lab.tutorial._tape import Proxy, Tape, TapeMismatch, taped
from timens_lab.errors import OffsetsFrozenError
from timens_lab.offsets import Offsets


class TimeNamespace:
    """Stands in for lab.TimeNamespace (the tape proxies objects by class name)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.offsets = Offsets(5, 6)
        self.writes = 0

    def set_offsets(self, monotonic: Any = None) -> Offsets:
        self.writes += 1
        if self.writes > 1:
            raise OffsetsFrozenError("frozen", errno=errno.EACCES)
        return self.offsets

    def __repr__(self) -> str:
        return f"<ns {self.name}>"


TimeNamespace.__module__ = "timens_lab.fake"


class Lab:
    rootless = True

    def namespace(self, **kw: Any) -> TimeNamespace:
        return TimeNamespace(str(kw))


Lab.__module__ = "timens_lab.fake"


@taped
def measure(ns: Any, scale: int) -> dict[str, Any]:
    """A taped experiment: returns plain data computed from a real object."""
    return {"mono": ns.offsets.monotonic_ns * scale, "raw": b"\x00\x01", "arr": np.arange(3)}


def _session(tape: Tape) -> list[Any]:
    """One notebook-like run; returns what it saw."""
    tape_mod.activate(tape)
    try:
        lab = Proxy(tape, "lab", Lab() if tape.mode == "record" else None)
        ns = lab.namespace(monotonic="1h")
        seen: list[Any] = [repr(ns), ns.offsets, lab.rootless, ns.set_offsets(monotonic=1)]
        with pytest.raises(OffsetsFrozenError) as err:
            ns.set_offsets(monotonic=2)
        seen.append(err.value.errno)
        result = measure(ns, 10)
        seen += [result["mono"], result["raw"], list(result["arr"])]
        return seen
    finally:
        tape_mod.activate(None)


def test_replay_gives_back_what_was_recorded(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run recorded through the proxies replays to the same values, errors included."""
    monkeypatch.setattr(tape_mod, "TAPE_DIR", tmp_path)
    recording = Tape("t", "record")
    recorded = _session(recording)
    recording.save()
    replay = Tape.load("t")
    assert recorded == _session(replay)
    assert replay.finished
    assert recorded[0] == "<ns {'monotonic': '1h'}>"
    assert recorded[4] == errno.EACCES


def test_replay_stops_at_a_changed_call(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A call the recording does not have at that point is a TapeMismatch, not a wrong value."""
    monkeypatch.setattr(tape_mod, "TAPE_DIR", tmp_path)
    recording = Tape("t", "record")
    _session(recording)
    recording.save()
    replay = Tape.load("t")
    tape_mod.activate(replay)
    try:
        lab = Proxy(replay, "lab", None)
        with pytest.raises(TapeMismatch, match="monotonic"):
            lab.namespace(monotonic="2h")
    finally:
        tape_mod.activate(None)


def test_missing_tape_says_how_to_record(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Replaying a notebook with no recording names the command that makes one."""
    monkeypatch.setattr(tape_mod, "TAPE_DIR", tmp_path)
    with pytest.raises(TapeMismatch) as err:
        Tape.load("nothing")
    assert "--mode record" in err.value.hint


def test_taped_is_transparent_live() -> None:
    """Without an active tape an experiment runs on the real object and returns its result."""
    assert measure(TimeNamespace("x"), 2)["mono"] == 10


def test_shipped_tapes_exist_for_every_notebook() -> None:
    """Every notebook has a recording for replay mode."""
    names = [n[:-6] for n in T.notebooks()]
    assert names, "no notebooks found"
    missing = [n for n in names if not tape_mod.tape_path(n).exists()]
    assert missing == []


def test_claim_passes_and_fails_loudly() -> None:
    """A true claim returns; a false one raises ClaimFailed (an AssertionError) with the evidence."""
    T.claim("a true claim", True, "fine")
    with pytest.raises(AssertionError) as err:
        T.claim("two is three", False, "observed 2", check=7)
    assert isinstance(err.value, T.ClaimFailed)
    assert "[§14 #7] two is three" in str(err.value)
    assert "observed 2" in str(err.value)


def test_claim_near_reports_the_gap() -> None:
    """claim_near fails outside the tolerance and says by how much."""
    T.claim_near("close", 3600.01, 3600, 0.05)
    with pytest.raises(T.ClaimFailed, match=r"off by \+0\.2"):
        T.claim_near("far", 3600.2, 3600, 0.05)
