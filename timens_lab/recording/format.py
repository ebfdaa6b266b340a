"""Recordings: a session's samples, namespaces and tree events in one compact, checked file.

A recording is what :mod:`timens_lab.recording.replay` plays back where the kernel says no (Binder, a
locked-down container, Ubuntu's AppArmor userns restriction). :class:`Recorder` taps any
:class:`~timens_lab.source.Source` (and, optionally, a namespace
:class:`~timens_lab.discovery.watch.Watcher`) and writes everything that passes through it:

>>> with SamplerSet.start(lab, [ns], rate=100) as live:                # doctest: +SKIP
...     with Recorder("run.tnsrec", live, watcher=Watcher(), lab=lab) as source:
...         ...                     # read from ``source`` as from ``live``: it is recorded

Format, version 1.0 (``.tnsrec``; all integers little-endian)
-------------------------------------------------------------

``MAGIC`` (8 bytes ``89 'TNSREC' 0a``: the high byte and the newline catch 7-bit and text-mode
transfers, as PNG's signature does), ``u16 major``, ``u16 minor``, then chunks::

    tag (4 ASCII bytes) | u32 length | payload (length bytes) | u32 CRC-32 of tag+length+payload

``META`` is first: plain UTF-8 JSON (so ``head -c 4096 FILE`` shows it) with the environment
(probe result, kernel, host, date), the scenario (namespaces and offsets, rate) and free notes.
Every other payload is zlib:

* ``CHAN`` JSON ``{"index", "t_ns", "channel": {Channel fields}, "extra"}``: a channel, in the
  order they appeared (indexes 0, 1, ...; the host first). ``t_ns`` is REALTIME when it was added.
* ``DATA`` ``u32 n | n bytes of JSON header | zlib body``: records of one flush. The header lists
  ``blocks`` ``[channel index, record count, column mask]`` and ``stats`` per channel index
  ``[records delivered, drops, late]`` at flush time. The body holds, block after block, each
  column of ``RECORD_DTYPE`` whose mask bit is set (a clear bit: the whole column is ``MISSING``),
  as a residual (:data:`RESIDUALS`: differences from the previous record and from a related clock
  read in the same sandwich, int64 wrapping, so decoding is exact whatever the values), zigzag
  encoded to uint64, bytes shuffled (all first bytes, then all second bytes...). A minute of 8
  namespaces plus the host at 100 Hz is about 0.4 MB, trees included (the shipped tour
  recording; tests/unit/test_recording.py checks the 1 MB budget, bench/bench_recording.py
  compares encodings).
* ``TREE`` JSON ``{"t_ns", "trees": {"owner"|"lineage": {"nodes", "children", "roots"}}}``:
  :class:`~timens_lab.discovery.treemodel.Tree` snapshots, written whenever a tree changed.
* ``EVNT`` JSON ``{"t_ns", "events": [[kind, inode, ns_id, state, pid, comm], ...]}``.
* ``DONE`` JSON ``{"t_ns", "ended", "records", "chunks"}``: last; a file without it is incomplete.

Readers skip chunks with unknown tags (minor versions add them); a new major version is refused.
All times are REALTIME nanoseconds, the clock every sample is sandwiched in, so replay can put
samples, trees and events on one timeline.

Safety: the recorder writes ``FILE.<random>.partial`` next to FILE, one whole chunk per
``write(2)``, and renames it to FILE only after ``DONE`` and ``fsync`` (rename(2) is atomic), so
FILE is complete or absent. A killed recorder leaves the ``.partial``, a readable prefix:
:func:`load` with ``partial=True`` returns every chunk before the cut. Anything that is not a
complete, intact recording raises a :class:`~timens_lab.errors.RecordingError` subclass (never
a bare struct, zlib or JSON error).
"""

from __future__ import annotations

import dataclasses
import json
import os
import struct
import zlib
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..discovery.treemodel import Node, Tree
from ..errors import (
    NotARecordingError,
    RecordingCorruptError,
    RecordingError,
    RecordingTruncatedError,
    RecordingVersionError,
)
from ..source import Channel, ChannelStats
from . import _codec as codec

MAGIC = b"\x89TNSREC\n"
VERSION = (1, 0)
SUFFIX = ".tnsrec"
RESIDUALS = codec.RESIDUALS
#: No sane chunk is this big (a 1 s flush of 9 channels at 100 kHz is ~6 MB); a larger length
#: field means a damaged or foreign file, and must not make the reader allocate gigabytes.
MAX_CHUNK = 1 << 28
_PREAMBLE = struct.Struct("<8sHH")
_FRAME = struct.Struct("<4sI")
_CRC = struct.Struct("<I")
TAGS = (b"META", b"CHAN", b"DATA", b"TREE", b"EVNT", b"DONE")
#: Channel fields stored in CHAN (everything but pid, kept apart: a replay has no process).
_CHANNEL_FIELDS = tuple(f.name for f in dataclasses.fields(Channel))


# --- framing --------------------------------------------------------------------------------

def frame(tag: bytes, payload: bytes) -> bytes:
    """One chunk: tag, length, payload, CRC-32."""
    head = _FRAME.pack(tag, len(payload))
    return head + payload + _CRC.pack(zlib.crc32(payload, zlib.crc32(head)))


def preamble() -> bytes:
    return _PREAMBLE.pack(MAGIC, *VERSION)


def json_bytes(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), allow_nan=False).encode()


def zjson(obj: Any) -> bytes:
    return zlib.compress(json_bytes(obj), 6)


def channel_payload(index: int, t_ns: int, channel: Channel, extra: Mapping[str, Any]) -> bytes:
    return zjson({"index": index, "t_ns": t_ns, "extra": dict(extra),
                  "channel": {k: _jsonable(getattr(channel, k)) for k in _CHANNEL_FIELDS}})


def data_payload(t_ns: int, blocks: list[tuple[int, np.ndarray]],
                 stats: Mapping[int, tuple[int, int, int]]) -> bytes:
    """A DATA chunk for ``blocks`` ``[(channel index, records)]`` and per-index stats."""
    heads, bodies = [], []
    for index, recs in blocks:
        mask, body = codec.encode(recs)
        heads.append([index, len(recs), mask])
        bodies.append(body)
    header = json_bytes({"t_ns": t_ns, "blocks": heads,
                         "stats": {str(k): list(v) for k, v in stats.items()}})
    return struct.pack("<I", len(header)) + header + zlib.compress(b"".join(bodies), 6)


def tree_payload(t_ns: int, trees: Mapping[str, Tree]) -> bytes:
    return zjson({"t_ns": t_ns, "trees": {by: tree_to_json(t) for by, t in trees.items()}})


def events_payload(t_ns: int, events: list[Any]) -> bytes:
    return zjson({"t_ns": t_ns, "events": [[e.kind, e.inode, e.ns_id, e.state, e.pid, e.comm]
                                           for e in events]})


def tree_to_json(tree: Tree) -> dict[str, Any]:
    return {"by": tree.by, "roots": list(tree.roots),
            "nodes": [dataclasses.asdict(n) for n in tree.nodes.values()],
            "children": {k: list(v) for k, v in tree.children.items()}}


def tree_from_json(obj: Mapping[str, Any]) -> Tree:
    nodes = {}
    for raw in obj["nodes"]:
        node = Node(**raw)
        nodes[node.key] = node
    return Tree(by=obj["by"], nodes=nodes,
                children={str(k): [str(c) for c in v] for k, v in obj["children"].items()},
                roots=[str(r) for r in obj["roots"]])


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


# --- reading --------------------------------------------------------------------------------

@dataclasses.dataclass
class Recording:
    """A recording in memory. ``records[id]`` holds every record of a channel, in order."""

    name: str
    version: tuple[int, int]
    meta: dict[str, Any]
    channels: list[Channel] = dataclasses.field(default_factory=list)
    added_ns: dict[str, int] = dataclasses.field(default_factory=dict)
    extra: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    records: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    #: (REALTIME of the flush, {channel id: (records, drops, late)}) per DATA chunk
    stats: list[tuple[int, dict[str, tuple[int, int, int]]]] = dataclasses.field(
        default_factory=list)
    trees: list[tuple[int, dict[str, Tree]]] = dataclasses.field(default_factory=list)
    events: list[tuple[int, Any]] = dataclasses.field(default_factory=list)
    end: dict[str, Any] | None = None
    #: Why the file stops before its end marker (None: complete and intact).
    problem: str | None = None
    size: int = 0

    @property
    def complete(self) -> bool:
        return self.end is not None

    @property
    def start_ns(self) -> int:
        return int(self.meta.get("start_ns", 0))

    @property
    def end_ns(self) -> int:
        """REALTIME of the last thing recorded (the end marker, else the last record or event)."""
        last = [self.start_ns]
        if self.end is not None:
            last.append(int(self.end["t_ns"]))
        last += [int(r["rt1"].max()) for r in self.records.values() if len(r)]
        last += [t for t, _ in self.stats[-1:]] + [t for t, _ in self.trees[-1:]]
        last += [t for t, _ in self.events[-1:]]
        return max(last)

    @property
    def duration_s(self) -> float:
        return (self.end_ns - self.start_ns) / 1e9

    def final_stats(self) -> dict[str, ChannelStats]:
        """Records and drops per channel as the source counted them at the last flush."""
        last = self.stats[-1][1] if self.stats else {}
        return {ch.id: ChannelStats(*last.get(ch.id, (len(self.records[ch.id]), 0, 0))[:2])
                for ch in self.channels}

    def late(self) -> dict[str, int]:
        last = self.stats[-1][1] if self.stats else {}
        return {ch.id: last.get(ch.id, (0, 0, 0))[2] for ch in self.channels}


def load(path: str | os.PathLike[str], *, partial: bool = False) -> Recording:
    """Read a recording file.

    Args:
        partial: return the intact prefix of a truncated or damaged file (``problem`` says what
            is missing) instead of raising.

    Raises:
        NotARecordingError: another kind of file.
        RecordingVersionError: a format major version this reader does not know.
        RecordingTruncatedError: the file ends early (and ``partial`` is False, or not even the
            header is there).
        RecordingCorruptError: a checksum or content error (``partial`` False).
        RecordingError: the file cannot be read (the message says why).
    """
    name = os.fspath(path)
    try:
        with open(name, "rb") as f:
            data = f.read()
    except OSError as err:
        raise RecordingError(f"cannot read {name}: {err.strerror}", errno=err.errno,
                             hint="check the path (a shipped recording can be named without "
                                  "it: timens-lab replay --list)") from err
    return loads(data, partial=partial, name=name)


def read_meta(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Only the META chunk (environment, scenario, note): cheap, for listings.

    Raises:
        the errors of :func:`load`, for the header and META only.
    """
    name = os.fspath(path)
    try:
        f = open(name, "rb")  # noqa: SIM115 - closed below; open errors become RecordingError
    except OSError as err:
        raise RecordingError(f"cannot read {name}: {err.strerror}", errno=err.errno) from err
    with f:
        head = f.read(_PREAMBLE.size + _FRAME.size)
        if len(head) == _PREAMBLE.size + _FRAME.size:
            (length,) = struct.unpack_from("<I", head, _PREAMBLE.size + 4)
            if length <= MAX_CHUNK:
                head += f.read(length + _CRC.size)
    rec = _open(head, name)
    return _Reader(rec, head).rec.meta


def loads(data: bytes, *, partial: bool = False, name: str = "<bytes>") -> Recording:
    """:func:`load` for bytes already in memory."""
    rec = _open(data, name)
    reader = _Reader(rec, data)
    pos = _PREAMBLE.size + reader.meta_size
    while pos < len(data) and rec.end is None:
        try:
            pos = reader.chunk(pos)
        except (RecordingTruncatedError, RecordingCorruptError) as err:
            if not partial:
                raise
            rec.problem = str(err)
            return _finish(rec, reader)
    if rec.end is not None and pos < len(data):
        problem = f"{name}: {len(data) - pos} bytes after the end marker"
        if not partial:
            raise RecordingCorruptError(problem, path=name)
        rec.problem = problem
    elif rec.end is None:
        problem = (f"{name} ends after {_secs(rec)} without its end marker: the recorder was "
                   "stopped before it finished")
        if not partial:
            raise RecordingTruncatedError(problem, path=name)
        rec.problem = problem
    return _finish(rec, reader)


def _secs(rec: Recording) -> str:
    return f"{max(0.0, rec.duration_s):.1f} s"


def _open(data: bytes, name: str) -> Recording:
    if len(data) < len(MAGIC):
        if MAGIC.startswith(data):
            raise RecordingTruncatedError(
                f"{name} is {'empty' if not data else f'only {len(data)} bytes long'}: "
                "not even the header was written", path=name)
        raise NotARecordingError(f"{name} is not a timens-lab recording "
                                 f"({_guess(data)})", path=name)
    if data[:len(MAGIC)] != MAGIC:
        raise NotARecordingError(f"{name} is not a timens-lab recording ({_guess(data)})",
                                 path=name)
    if len(data) < _PREAMBLE.size:
        raise RecordingTruncatedError(f"{name} ends inside its header", path=name)
    _, major, minor = _PREAMBLE.unpack_from(data)
    if major != VERSION[0]:
        raise RecordingVersionError(
            f"{name} is recording format {major}.{minor}; this timens-lab reads "
            f"{VERSION[0]}.x", path=name, version=[major, minor])
    return Recording(name=name, version=(major, minor), meta={}, size=len(data))


def _guess(data: bytes) -> str:
    """A word on what the file looks like instead, for the error message."""
    known = ((b"\x1f\x8b", "gzip data"), (b"PK\x03\x04", "a zip archive, e.g. numpy .npz"),
             (b"\x93NUMPY", "a numpy .npy file"), (b"\x89PNG", "a PNG image"),
             (b"\x7fELF", "an ELF binary"), (b"{", "JSON or text"), (b"[", "JSON or text"))
    for head, what in known:
        if data.startswith(head):
            return f"it looks like {what}"
    if not data:
        return "it is empty"
    if all(32 <= b < 127 or b in b"\t\r\n" for b in data[:256]):
        return "it looks like text"
    return f"it starts with bytes {data[:8].hex(' ')}"


class _Reader:
    """Chunk walker for one file; ``chunk(pos)`` reads one chunk and returns the next offset."""

    def __init__(self, rec: Recording, data: bytes) -> None:
        self.rec, self.data = rec, data
        self.index: list[str] = []          # channel index → id
        self.blocks: dict[str, list[np.ndarray]] = {}
        tag, payload, end = self._frame(_PREAMBLE.size)
        if tag != b"META":
            raise RecordingCorruptError(f"{rec.name}: the first chunk is {tag!r}, not META",
                                        path=rec.name)
        meta = self._decode(tag, _PREAMBLE.size, lambda: json.loads(payload.decode()))
        if not isinstance(meta, dict):
            raise RecordingCorruptError(f"{rec.name}: META is not a JSON object", path=rec.name)
        rec.meta = meta
        self.meta_size = end - _PREAMBLE.size

    def _frame(self, pos: int) -> tuple[bytes, bytes, int]:
        data, name = self.data, self.rec.name
        if len(data) - pos < _FRAME.size:
            raise RecordingTruncatedError(f"{name} is cut inside a chunk header at byte {pos} "
                                          f"(after {_secs(self.rec)})", path=name)
        tag, length = _FRAME.unpack_from(data, pos)
        if length > MAX_CHUNK or not tag.isalpha():
            raise RecordingCorruptError(f"{name}: no valid chunk at byte {pos} (tag {tag!r}, "
                                        f"length {length})", path=name)
        end = pos + _FRAME.size + length + _CRC.size
        if end > len(data):
            raise RecordingTruncatedError(
                f"{name} is cut inside a {tag.decode()} chunk at byte {pos} (it needs "
                f"{end - len(data)} more bytes; complete up to {_secs(self.rec)})", path=name)
        payload = data[pos + _FRAME.size:end - _CRC.size]
        (crc,) = _CRC.unpack_from(data, end - _CRC.size)
        if zlib.crc32(data[pos:end - _CRC.size]) != crc:
            raise RecordingCorruptError(f"{name}: checksum mismatch in the {tag.decode()} chunk "
                                        f"at byte {pos}", path=name)
        return tag, payload, end

    def _decode(self, tag: bytes, pos: int, fn: Any) -> Any:
        try:
            return fn()
        except (ValueError, KeyError, TypeError, IndexError, AttributeError, OverflowError,
                zlib.error, struct.error) as err:
            raise RecordingCorruptError(f"{self.rec.name}: bad {tag.decode()} chunk at byte "
                                        f"{pos}: {err}", path=self.rec.name) from err

    def chunk(self, pos: int) -> int:
        tag, payload, end = self._frame(pos)
        handler = {b"CHAN": self._chan, b"DATA": self._data, b"TREE": self._tree,
                   b"EVNT": self._events, b"DONE": self._done}.get(tag)
        if tag == b"META":
            raise RecordingCorruptError(f"{self.rec.name}: a second META chunk at byte {pos}",
                                        path=self.rec.name)
        if handler is not None:  # unknown tags: a later minor version's; skip them
            self._decode(tag, pos, lambda: handler(payload))
        return end

    def _chan(self, payload: bytes) -> None:
        obj = _unz_json(payload)
        if obj["index"] != len(self.index):
            raise ValueError(f"channel index {obj['index']}, expected {len(self.index)}")
        raw = obj["channel"]
        ch = Channel(**{k: raw[k] for k in _CHANNEL_FIELDS if k in raw})
        ch = dataclasses.replace(ch, clocks=tuple(ch.clocks), pid=None)
        if ch.id in self.blocks:
            raise ValueError(f"channel {ch.id!r} defined twice")
        self.index.append(ch.id)
        self.blocks[ch.id] = []
        self.rec.channels.append(ch)
        self.rec.added_ns[ch.id] = int(obj["t_ns"])
        self.rec.extra[ch.id] = dict(obj.get("extra") or {}, recorded_pid=raw.get("pid"))

    def _data(self, payload: bytes) -> None:
        (hlen,) = struct.unpack_from("<I", payload)
        header = json.loads(payload[4:4 + hlen].decode())
        blocks = [(int(i), int(n), int(m)) for i, n, m in header["blocks"]]
        for i, n, _ in blocks:
            if not 0 <= i < len(self.index) or n < 0:
                raise ValueError(f"block for channel {i} with {n} records")
        want = sum(codec.body_size(n, m) for _, n, m in blocks)
        body = _inflate(payload[4 + hlen:], want)
        at = 0
        for i, n, mask in blocks:
            recs, at = codec.decode(body, at, n, mask)
            self.blocks[self.index[i]].append(recs)
        stats = {self.index[int(k)]: (int(v[0]), int(v[1]), int(v[2]))
                 for k, v in header["stats"].items()}
        self.rec.stats.append((int(header["t_ns"]), stats))

    def _tree(self, payload: bytes) -> None:
        obj = _unz_json(payload)
        self.rec.trees.append((int(obj["t_ns"]), {str(by): tree_from_json(t)
                                                  for by, t in obj["trees"].items()}))

    def _events(self, payload: bytes) -> None:
        from ..discovery.watch import Event

        obj = _unz_json(payload)
        t = int(obj["t_ns"])
        for kind, inode, ns_id, state, pid, comm in obj["events"]:
            self.rec.events.append((t, Event(kind, inode, ns_id, state, pid, comm)))

    def _done(self, payload: bytes) -> None:
        obj = _unz_json(payload)
        int(obj["t_ns"])
        self.rec.end = obj


def _finish(rec: Recording, reader: _Reader) -> Recording:
    rec.records = {cid: (np.concatenate(parts) if parts else codec.empty())
                   for cid, parts in reader.blocks.items()}
    return rec


def _inflate(data: bytes, want: int) -> bytes:
    """Decompress exactly ``want`` bytes (a damaged stream must not balloon in memory)."""
    d = zlib.decompressobj()
    out = d.decompress(data, want + 1)
    if len(out) != want or not d.eof:
        raise ValueError(f"the compressed body holds {len(out)} bytes, expected {want}")
    return out


def _unz_json(payload: bytes) -> Any:
    d = zlib.decompressobj()
    raw = d.decompress(payload, MAX_CHUNK)
    if not d.eof:
        raise ValueError("truncated or oversized zlib stream")
    obj = json.loads(raw.decode())
    if not isinstance(obj, dict):
        raise TypeError("payload is not a JSON object")
    return obj


__all__ = ["MAGIC", "SUFFIX", "VERSION", "Recording", "load", "loads", "read_meta"]  # + Recorder, record


def __getattr__(name: str) -> Any:
    # Recorder lives in recorder.py (it imports this module for the format); re-exported here
    # lazily so ``from timens_lab.recording.format import Recorder`` works without an import cycle.
    if name in ("Recorder", "record"):
        from . import tap as recorder

        return getattr(recorder, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
