"""Record a session while it runs: a Source tap that writes what passes through it.

>>> from timens_lab.session import record                            # doctest: +SKIP
>>> with record("run.tnsrec", SamplerSet.start(lab, [ns]), lab=lab) as source:
...     view = LiveView([DivergencePlot(source)], duration=20)      # views read the tap

:class:`Recorder` is itself a :class:`~timens_lab.source.Source`: whoever reads it (a view, the
CLI loop) gets exactly what the wrapped source delivered, and every record is written. Records
are flushed as one DATA chunk every ``flush_interval`` seconds, so a killed recorder loses at
most that much. The file format is documented in :mod:`timens_lab.recording.format`.

The recorder is a pure tap: it is *handed* what it writes besides the samples. Its
:class:`Environment` (host, kernel, the probe's verdict...) and, optionally, a :class:`TreeFeed`
(namespace trees and watch events, polled every ``tree_interval`` seconds; a tree is written
whenever it changed) come from the session layer (:func:`timens_lab.session.record` fills both:
the environment captured now, a Watcher's trees kept to this session's namespaces). It reads
nothing from the machine itself.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from ..discovery.treemodel import Tree
from ..source import HOST, Channel, ChannelStats, Source
from . import format as fmt
from .writer import RecordingWriter

__all__ = ["Environment", "Recorder", "RecordingWriter", "TreeFeed", "sampler_facts"]


@dataclasses.dataclass(frozen=True)
class Environment:
    """Where and when a recording was made (META's ``environment``): filled by the session
    (:func:`timens_lab.session.environment.capture`), stored as a JSON object."""

    host: str
    kernel: str
    machine: str
    os: str | None
    clocksource: str | None
    date: str                  # ISO 8601, UTC, seconds
    uid: int
    python: str
    timens_lab: str
    probe: Mapping[str, Any] | None = None   # ProbeResult.to_dict(): the verdict at recording time

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["probe"] = dict(self.probe) if self.probe is not None else None
        return out


class TreeFeed(Protocol):
    """What a recorder polls for trees: the events since the last poll and the trees now
    (``{"owner": Tree, "lineage": Tree}``), already kept to what the recording should show."""

    def poll(self) -> tuple[list[Any], dict[str, Tree]]: ...


def sampler_facts(source: Any) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
    """(late ticks, clock_getres per clock) per channel, for sources that know them.

    A live :class:`~timens_lab.clocks.sampler.SamplerSet` knows them per sampler; a Replay (and a
    Recorder around either) passes the recorded ones on; other sources know nothing.
    """
    facts = getattr(source, "sampler_facts", None)
    if callable(facts):
        return facts()  # type: ignore[no-any-return]
    host, samplers = getattr(source, "host", None), getattr(source, "samplers", None)
    if host is None or not isinstance(samplers, Mapping):
        return {}, {}
    every = {HOST: host, **samplers}
    return ({k: int(s.late) for k, s in every.items()},
            {k: dict(s.resolution_ns) for k, s in every.items()})


class Recorder:
    """A :class:`~timens_lab.source.Source` that records ``source`` as it is read.

    Args:
        path: the recording to write (replaced atomically at close).
        source: what to record: a live SamplerSet, a Replay, anything implementing Source.
        environment: where and when (an :class:`Environment`, or a mapping stored as given).
        feed: where trees and watch events come from (a :class:`TreeFeed`); None records
            samples only.
        scenario: how the session was set up (namespaces, rate...), stored in META so a live
            run can recreate it (:func:`timens_lab.session.mode.open_source`).
        note: free text for whoever replays it.
        close_source: close ``source`` when the recorder closes.
        clock: REALTIME in ns for the timeline of trees, events and flushes; default the
            source's own ``now_ns`` (a Replay's, so re-recording keeps its timeline), else
            ``time.time_ns``, the clock samples are sandwiched in.

    Other attributes (``pause``, ``host``, ``samplers``...) are the wrapped source's.
    """

    def __init__(self, path: str | os.PathLike[str], source: Source, *,
                 environment: Environment | Mapping[str, Any], feed: TreeFeed | None = None,
                 scenario: Mapping[str, Any] | None = None, note: str = "",
                 flush_interval: float = 1.0, tree_interval: float = 1.0,
                 close_source: bool = True, clock: Callable[[], int] | None = None) -> None:
        self.source, self.feed = source, feed
        self.flush_interval, self.tree_interval = flush_interval, tree_interval
        self.close_source = close_source
        self._now: Callable[[], int] = clock or getattr(source, "now_ns", None) or time.time_ns
        self.start_ns = self._now()
        meta = {"format": "timens-lab recording", "start_ns": self.start_ns,
                "environment": environment.to_dict() if isinstance(environment, Environment)
                else dict(environment),
                "scenario": dict(scenario or {}), "note": note,
                "source": {"mode": source.mode, "banner": source.banner}}
        self._lock = threading.RLock()
        self._writer = RecordingWriter(path, meta)
        self.path = self._writer.path
        self._index: dict[str, int] = {}
        self._pending: dict[str, list[np.ndarray]] = {}
        self._counts: dict[str, int] = {}
        self._last_flush = self._last_tree = time.monotonic()
        self.trees: dict[str, Tree] = {}
        self.events: list[Any] = []
        self.closed = False
        self._started = False
        try:
            self._sync_channels()
            self._started = True
            if feed is not None:
                self.poll_tree()
        except BaseException:
            self._writer.abort()
            raise

    # --- Source

    @property
    def mode(self) -> Literal["live", "replay"]:
        return self.source.mode

    @property
    def banner(self) -> str | None:
        return self.source.banner

    def channels(self) -> list[Channel]:
        return self.source.channels()

    def stats(self) -> Mapping[str, ChannelStats]:
        return self.source.stats()

    def read(self) -> Mapping[str, np.ndarray]:
        """The wrapped source's new records (recorded on the way through)."""
        with self._lock:
            if self.closed:
                return {ch.id: fmt.codec.empty() for ch in self.source.channels()}
            new = self.source.read()
            self._take(new)
            now = time.monotonic()
            if now - self._last_flush >= self.flush_interval:
                self.flush()
            if self.feed is not None and now - self._last_tree >= self.tree_interval:
                self.poll_tree()
            return new

    def close(self, ended: str = "ok") -> Path | None:
        """Stop the source, record what is left, finish the file; returns its path."""
        with self._lock:
            if self.closed:
                return self.path
            try:
                # The tree first: stopping samplers would end the story with every member
                # leaving, which is how recording stops, not something the session did.
                if self.feed is not None:
                    self.poll_tree()
                stop = getattr(self.source, "stop", None)
                if callable(stop):
                    stop()
                self._take(self.source.read())
                self.flush(force=True)
                self._writer.close({"t_ns": self._now(), "ended": ended,
                                    "records": dict(self._counts)})
                self.closed = True
            finally:
                if self.close_source:
                    self.source.close()
            return self.path

    def abort(self) -> None:
        """Stop recording and delete the partial file (the source is left alone)."""
        with self._lock:
            self.closed = True
            self._writer.abort()

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: object) -> None:
        if kind is None:
            self.close()
        elif issubclass(kind, KeyboardInterrupt):
            self.close("interrupted")
        else:
            self.close(f"error: {exc}")

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.source, name)

    def sampler_facts(self) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
        return sampler_facts(self.source)

    # --- recording

    @property
    def partial_path(self) -> Path:
        """Where the data goes until close() (what survives a crash)."""
        return self._writer.partial

    def _sync_channels(self, extra_ids: Iterable[str] = ()) -> None:
        channels = self.source.channels()
        known = {ch.id for ch in channels}
        channels += [Channel(cid, cid, None, None, None) for cid in extra_ids
                     if cid not in known]
        resolution = sampler_facts(self.source)[1]
        for ch in channels:
            if ch.id in self._index:
                continue
            index = len(self._index)
            # Channels there from the start are there at the start of the replay too.
            added = self.start_ns if not self._started else self._now()
            self._writer.write(b"CHAN", fmt.channel_payload(
                index, added, ch, {"resolution_ns": resolution.get(ch.id, {})}))
            self._index[ch.id] = index
            self._pending[ch.id] = []
            self._counts[ch.id] = 0

    def _take(self, new: Mapping[str, np.ndarray]) -> None:
        unknown = [cid for cid in new if cid not in self._index]
        if unknown or len(self._index) != len(self.source.channels()):
            self._sync_channels(unknown)
        for cid, recs in new.items():
            if len(recs):
                self._pending[cid].append(recs)
                self._counts[cid] += len(recs)

    def flush(self, *, force: bool = False) -> None:
        """Write the records read since the last flush as one DATA chunk."""
        with self._lock:
            self._last_flush = time.monotonic()
            blocks = [(self._index[cid], np.concatenate(parts))
                      for cid, parts in self._pending.items() if parts]
            if not blocks and not force:
                return
            stats = self.source.stats()
            late = sampler_facts(self.source)[0]
            per_index = {i: (stats[cid].records, stats[cid].drops, late.get(cid, 0))
                         for cid, i in self._index.items() if cid in stats}
            self._writer.write(b"DATA", fmt.data_payload(self._now(), blocks, per_index))
            for parts in self._pending.values():
                parts.clear()

    def poll_tree(self) -> list[Any]:
        """Poll the feed now; record the events, and the trees if they changed."""
        with self._lock:
            self._last_tree = time.monotonic()
            if self.feed is None:
                return []
            events, trees = self.feed.poll()
            now = self._now()
            if events:
                self._writer.write(b"EVNT", fmt.events_payload(now, events))
                self.events += events
            if trees != self.trees:
                self._writer.write(b"TREE", fmt.tree_payload(now, trees))
                self.trees = trees
            return events

    def tree(self, by: Literal["owner", "lineage"] = "lineage") -> Tree:
        """The latest recorded tree (rescanned first if ``tree_interval`` has passed)."""
        with self._lock:
            if self.feed is None:
                return Tree(by=by)
            if not self.closed and time.monotonic() - self._last_tree >= self.tree_interval:
                self.poll_tree()
            return self.trees.get(by) or Tree(by=by)
