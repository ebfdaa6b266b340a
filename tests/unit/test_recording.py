"""The recording format: exact round trips, a size budget, and no crash on any damaged file.

Recordings here are made from the synthetic source (views/synthetic.py) and a real
:class:`~timens_lab.discovery.watch.Watcher` scanning a fake /proc (tests/unit/fakeproc.py) that changes
between polls, so samples, trees and events all go through the real recorder and reader.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from timens_lab import errors
from timens_lab.discovery.trees import lineage_tree, owner_tree
from timens_lab.discovery.watch import Watcher
from timens_lab.recording.format import MAGIC, load, loads, read_meta
from timens_lab.recording.replay import Replay, shipped
from timens_lab.recording.tap import Recorder, restrict
from timens_lab.source import HOST
from timens_lab.views.synthetic import SyntheticSource

from .fakeproc import FakeProc, build, remove, write

NSEC = 1_000_000_000
A, P = 4026532500, 4026532501      # the synthetic source's ns1 and ns2 inodes
ENV = {"host": "unit-test", "kernel": "6.18.0-test", "date": "2026-01-02T03:04:05+00:00",
       "probe": {"mode": "root"}}


class Clocked:
    """A SyntheticSource whose clock (``now_ns``) is the REALTIME of what it delivered last,
    so trees and events land on the samples' timeline, as they do live."""

    def __init__(self, source: SyntheticSource) -> None:
        self.src = source
        self.mode, self.banner = source.mode, None
        self.t = int(min(r["rt0"][0] for r in source._records.values()))

    def channels(self) -> Any:
        return self.src.channels()

    def read(self) -> Any:
        out = self.src.read()
        self.t = max([self.t, *(int(r["rt1"][-1]) for r in out.values() if len(r))])
        return out

    def stats(self) -> Any:
        return self.src.stats()

    def close(self) -> None:
        self.src.close()

    def now_ns(self) -> int:
        return self.t

    @property
    def done(self) -> bool:
        return self.src.done


def fake_proc(root: Path) -> str:
    return build(root, [
        FakeProc(pid=1, comm="init", ppid=0, starttime=1),
        FakeProc(pid=200, comm="helper", ppid=1, tfc=A, starttime=20, offsets=(3600, 7200)),
        FakeProc(pid=201, comm="sampler", ppid=200, time=A, starttime=21, offsets=(3600, 7200)),
        FakeProc(pid=300, comm="helper", ppid=1, tfc=P, starttime=30, offsets=(-5, -5)),
        FakeProc(pid=400, comm="other", ppid=1, tfc=4026532999, starttime=40),
    ])


def make(tmp_path: Path, *, samples: int = 600, chunk: int = 50, scope: str = "session",
         name: str = "r.tnsrec") -> dict[str, Any]:
    """Record a scripted session; returns what the recorder saw, for comparison."""
    proc = fake_proc(tmp_path / "proc")
    src = Clocked(SyntheticSource({"ns1": (3600 * NSEC, 7200 * NSEC), "ns2": (-5 * NSEC,) * 2},
                                  samples=samples, chunk=chunk, rate_hz=100.0))
    seen: dict[str, list[np.ndarray]] = {}
    trees: list[dict[str, Any]] = []
    path = tmp_path / name
    with Recorder(path, src, watcher=Watcher(proc), scope=scope, environment=ENV,  # type: ignore[arg-type]
                  scenario={"name": "unit"}, note="a note", flush_interval=0,
                  tree_interval=math.inf) as rec:
        trees.append(rec.trees)
        step = 0
        while not src.done:
            for key, recs in rec.read().items():
                seen.setdefault(key, []).append(recs.copy())
            step += 1
            if step == 3:   # the pending namespace gets its first member: frozen, joined
                write(Path(proc), FakeProc(pid=301, comm="sampler", ppid=300, time=P,
                                           starttime=31, offsets=(-5, -5)))
            elif step == 6:  # ns1's member and holder go: it vanishes
                remove(Path(proc), 201)
                remove(Path(proc), 200)
            else:
                continue
            rec.poll_tree()
            trees.append(rec.trees)
        events = list(rec.events)
    return {"path": path, "seen": {k: np.concatenate(v) for k, v in seen.items()},
            "trees": trees, "events": events, "channels": src.channels(),
            "stats": src.stats(), "proc": proc}


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return make(tmp_path_factory.mktemp("small"), samples=60, chunk=20)


# --- exact round trip


def test_round_trip_is_exact(tmp_path: Path) -> None:
    """Same records bit for bit, same channels, stats, trees and events."""
    made = make(tmp_path)
    rec = load(made["path"])
    assert rec.complete
    assert rec.problem is None
    assert list(rec.records) == list(made["seen"])
    for key, recs in made["seen"].items():
        assert len(recs) == 600
        assert rec.records[key].tobytes() == recs.tobytes(), key
    assert [c.id for c in rec.channels] == [c.id for c in made["channels"]]
    for got, want in zip(rec.channels, made["channels"], strict=True):
        assert got == want   # the synthetic channels have no pid, like a replay's
    assert {k: (s.records, s.drops) for k, s in rec.final_stats().items()} == \
        {k: (s.records, s.drops) for k, s in made["stats"].items()}
    assert [trees for _, trees in rec.trees] == made["trees"]
    assert [e for _, e in rec.events] == made["events"]
    assert [(e.kind, e.inode) for e in made["events"]] == [
        ("appeared", A), ("appeared", P), ("frozen", P), ("member_joined", P), ("vanished", A)]
    assert rec.meta["environment"] == ENV
    assert (rec.meta["scenario"], rec.meta["note"]) == ({"name": "unit"}, "a note")
    assert read_meta(made["path"]) == rec.meta


def test_replay_delivers_the_same_arrays(tmp_path: Path) -> None:
    """Replayed at full speed, read() returns exactly what the source delivered."""
    made = make(tmp_path)
    replay = Replay(made["path"], math.inf)
    got = replay.read()
    assert replay.done
    for key, recs in made["seen"].items():
        assert got[key].tobytes() == recs.tobytes()
    assert replay.tree("owner") == made["trees"][-1]["owner"]
    assert replay.watcher().poll() == made["events"]


def test_re_recording_a_replay_is_exact(tmp_path: Path) -> None:
    """A Replay is a Source too: recording it gives the same records and trees back."""
    made = make(tmp_path)
    again = tmp_path / "again.tnsrec"
    with Recorder(again, Replay(made["path"], math.inf), environment=ENV) as rec:
        rec.read()
    first, second = load(made["path"]), load(again)
    for key in first.records:
        assert second.records[key].tobytes() == first.records[key].tobytes()
    assert second.extra.keys() == first.extra.keys()


def test_session_scope_keeps_our_namespaces_and_their_ancestors(tmp_path: Path) -> None:
    """Scope "session" drops the unrelated namespace 4026532999; "all" keeps what discovery saw."""
    made = make(tmp_path, scope="all", name="all.tnsrec")
    first = load(made["path"]).trees[0][1]["owner"]
    inodes = {n.inode for n in first.nodes.values() if n.kind == "time"}
    assert 4026532999 in inodes
    mine = restrict(first, {(A, None), (P, None)})
    assert {n.inode for n in mine.nodes.values() if n.kind == "time"} == {A, P}
    assert all(n.parent is None or n.parent in mine.nodes for n in mine.nodes.values())
    watcher = Watcher(made["proc"])
    watcher.poll()
    assert owner_tree(watcher.discovery) == load(made["path"]).trees[-1][1]["owner"]
    assert lineage_tree(watcher.discovery) == load(made["path"]).trees[-1][1]["lineage"]


# --- size


def test_a_minute_of_eight_namespaces_at_100_hz_fits_in_a_megabyte(tmp_path: Path) -> None:
    """The shipped tour recording (real samples: make recordings) is that minute; the budget
    holds for it and for the same samples encoded again by this recorder."""
    tour = shipped().get("tour")
    assert tour is not None, "timens_lab/data/tour.tnsrec is missing: run `make recordings`"
    rec = load(tour)
    namespaces = [c for c in rec.channels if c.id != HOST]
    assert len(namespaces) == 8
    assert rec.duration_s >= 59.5
    per_channel = [len(r) for r in rec.records.values()]
    assert min(per_channel[:-1]) >= 0.95 * 100 * 45    # ns8 is closed at 45 s
    assert tour.stat().st_size <= 1_000_000
    again = tmp_path / "again.tnsrec"
    with Recorder(again, Replay(tour, math.inf), environment=ENV) as rec2:
        rec2.read()
    size = again.stat().st_size
    n = sum(per_channel)
    print(f"tour: {n} records in {size} bytes: {size / n:.2f} bytes per 64-byte record")
    assert size <= 1_000_000
    assert size < n * 64 / 5   # at least 5x smaller than the raw records


# --- damaged and foreign files


def test_every_truncation_is_a_typed_error_or_a_readable_prefix(small: dict[str, Any]) -> None:
    """Cut at every byte: strict reading raises RecordingTruncatedError; partial reading gives
    a prefix of every channel, of the trees and of the events, or the same error when not even
    the header survived."""
    data = small["path"].read_bytes()
    full = loads(data)
    meta_end = data.index(b"CHAN") if b"CHAN" in data else len(data)
    prefixes = 0
    for cut in range(len(data)):
        with pytest.raises(errors.RecordingTruncatedError):
            loads(data[:cut])
        if cut < meta_end:
            with pytest.raises(errors.RecordingTruncatedError):
                loads(data[:cut], partial=True)
            continue
        part = loads(data[:cut], partial=True)
        assert not part.complete
        assert part.problem
        for key, recs in part.records.items():
            assert recs.tobytes() == full.records[key][:len(recs)].tobytes()
        assert part.trees == full.trees[:len(part.trees)]
        assert part.events == full.events[:len(part.events)]
        prefixes += 1
    assert prefixes > len(data) / 2


def test_random_bytes_are_not_a_recording() -> None:
    rng = np.random.default_rng(7)
    for n in (1, 7, 8, 12, 100, 5000):
        blob = rng.bytes(n)
        with pytest.raises(errors.NotARecordingError, match="not a timens-lab recording"):
            loads(blob)


def test_random_bytes_after_a_valid_header_are_caught(small: dict[str, Any]) -> None:
    data = small["path"].read_bytes()
    head = data[:data.index(b"CHAN")]
    rng = np.random.default_rng(8)
    for n in range(1, 400, 7):
        with pytest.raises(errors.RecordingError):
            loads(head + rng.bytes(n))
        part = loads(head + rng.bytes(n), partial=True)
        assert part.problem
        assert sum(len(r) for r in part.records.values()) == 0


def test_flipped_bytes_never_crash_the_reader(small: dict[str, Any]) -> None:
    """Damage anywhere gives a RecordingError (or, partial, a prefix), never another exception."""
    data = small["path"].read_bytes()
    for pos in range(0, len(data), 3):
        bad = bytearray(data)
        bad[pos] ^= 0x5A
        with pytest.raises(errors.RecordingError):
            loads(bytes(bad))
        with contextlib.suppress(errors.RecordingError):
            loads(bytes(bad), partial=True)


def test_checked_chunks_with_bad_content_are_corrupt(small: dict[str, Any]) -> None:
    """A chunk whose CRC is right but whose content is nonsense (a writer bug, a crafted file)."""
    data = small["path"].read_bytes()
    pos = data.index(b"CHAN")
    (length,) = struct.unpack_from("<I", data, pos + 4)
    for payload in (b"", b"\x00" * 10, zlib.compress(b"[1, 2]"), zlib.compress(b'{"index": 5}'),
                    zlib.compress(b"\xff\xfe")):
        head = struct.pack("<4sI", b"CHAN", len(payload))
        chunk = head + payload + struct.pack("<I", zlib.crc32(payload, zlib.crc32(head)))
        bad = data[:pos] + chunk + data[pos + 12 + length:]
        with pytest.raises(errors.RecordingCorruptError, match="bad CHAN chunk"):
            loads(bad)


def test_wrong_major_version_is_refused(small: dict[str, Any]) -> None:
    data = bytearray(small["path"].read_bytes())
    struct.pack_into("<H", data, 8, 2)
    with pytest.raises(errors.RecordingVersionError, match=r"format 2\.0; this timens-lab reads 1\.x"):
        loads(bytes(data))


def test_a_newer_minor_version_with_unknown_chunks_still_reads(small: dict[str, Any]) -> None:
    data = small["path"].read_bytes()
    pos = data.index(b"CHAN")
    payload = b"something a 1.1 writer adds"
    head = struct.pack("<4sI", b"XTRA", len(payload))
    extra = head + payload + struct.pack("<I", zlib.crc32(payload, zlib.crc32(head)))
    newer = bytearray(data[:pos] + extra + data[pos:])
    struct.pack_into("<H", newer, 10, 1)
    rec = loads(bytes(newer))
    assert rec.version == (1, 1)
    assert rec.records.keys() == loads(data).records.keys()


def test_trailing_bytes_after_the_end_marker(small: dict[str, Any]) -> None:
    data = small["path"].read_bytes()
    with pytest.raises(errors.RecordingCorruptError, match="3 bytes after the end marker"):
        loads(data + b"abc")
    assert loads(data + b"abc", partial=True).complete


@pytest.mark.parametrize(("content", "match"), [
    (b"", "is empty"),
    (MAGIC[:5], "only 5 bytes long"),
    (b"PK\x03\x04rest", "zip archive"),
    (b'{"samples": []}', "JSON or text"),
    (b"\x93NUMPY\x01\x00", "numpy .npy"),
])
def test_foreign_files_say_what_they_look_like(tmp_path: Path, content: bytes, match: str) -> None:
    path = tmp_path / "f.tnsrec"
    path.write_bytes(content)
    with pytest.raises(errors.RecordingError, match=match) as info:
        load(path)
    assert info.value.hint


def test_unreadable_paths_are_recording_errors(tmp_path: Path) -> None:
    with pytest.raises(errors.RecordingError, match="Is a directory"):
        load(tmp_path)
    with pytest.raises(errors.RecordingError, match="No such file"):
        load(tmp_path / "missing.tnsrec")


# --- writing safely


def test_the_file_appears_only_when_complete(tmp_path: Path) -> None:
    """Until close() the data is in FILE.*.partial and an older FILE is untouched."""
    path = tmp_path / "r.tnsrec"
    path.write_bytes(b"the previous recording")
    src = SyntheticSource({"ns1": (NSEC, NSEC)}, samples=100, chunk=10)
    rec = Recorder(path, src, environment=ENV, flush_interval=0)
    rec.read()
    assert path.read_bytes() == b"the previous recording"
    assert rec.partial_path.exists()
    assert rec.partial_path.parent == tmp_path
    assert loads(rec.partial_path.read_bytes(), partial=True).records["ns1"].size == 10
    rec.close()
    assert not rec.partial_path.exists()
    assert load(path).complete
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.tnsrec"]


def test_abort_leaves_nothing(tmp_path: Path) -> None:
    rec = Recorder(tmp_path / "r.tnsrec", SyntheticSource({}, samples=10), environment=ENV)
    rec.abort()
    assert list(tmp_path.iterdir()) == []


def test_an_unwritable_place_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(errors.RecordingError, match=r"cannot create .*No such file"):
        Recorder(tmp_path / "no" / "r.tnsrec", SyntheticSource({}, samples=10), environment=ENV)


_KILLED_RECORDER = """
import sys, time
import numpy as np
from timens_lab.recording.tap import Recorder
from timens_lab.source import HOST, RECORD_DTYPE, Channel, ChannelStats

class Endless:
    mode, banner = "live", None
    def __init__(self):
        self.ids = [HOST, "ns1", "ns2"]
        self.n = 0
    def channels(self):
        return [Channel(i, i, None, None, 1000.0) for i in self.ids]
    def read(self):
        recs = np.zeros(97, RECORD_DTYPE)
        recs["seq"] = np.arange(self.n, self.n + 97)
        recs["rt0"] = time.time_ns() + np.arange(97) * 1000
        recs["rt1"] = recs["rt0"] + 150
        recs["monotonic"] = recs["rt0"] - 1_700_000_000 * 10**9
        self.n += 97
        return {i: recs.copy() for i in self.ids}
    def stats(self):
        return {i: ChannelStats(self.n, 0) for i in self.ids}
    def close(self):
        pass

rec = Recorder(sys.argv[1], Endless(), environment={"host": "t"}, flush_interval=0)
print(rec.partial_path, flush=True)
while True:
    rec.read()
"""


@pytest.mark.parametrize("delay", [0.0, 0.05, 0.2, 0.37, 0.6])
def test_sigkill_mid_recording_leaves_a_readable_prefix(tmp_path: Path, delay: float) -> None:
    """SIGKILL at some point while chunks stream out: FILE never appears, FILE.*.partial reads
    as a prefix (records 0..n-1 of each channel, nothing torn), and strict reading says
    truncated."""
    path = tmp_path / "k.tnsrec"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_RECORDER, str(path)],
                            stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        partial = Path(proc.stdout.readline().strip())
        time.sleep(delay)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    assert not path.exists()
    with pytest.raises(errors.RecordingTruncatedError):
        load(partial)
    rec = load(partial, partial=True)
    assert rec.meta["environment"] == {"host": "t"}
    for recs in rec.records.values():
        assert (recs["seq"] == np.arange(len(recs))).all()
    lengths = {len(r) for r in rec.records.values()}
    assert len(lengths) == 1          # one DATA chunk holds every channel's records of a read
    if delay >= 0.2:
        assert lengths != {0}, "the recorder wrote nothing in 0.2 s"
