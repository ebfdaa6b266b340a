"""Record a session while it runs: a Source tap that writes what passes through it.

>>> with Lab() as lab:                                               # doctest: +SKIP
...     ns = lab.namespace(monotonic="1h", boottime="2d")
...     live = SamplerSet.start(lab, [ns], rate=100)
...     with Recorder("run.tnsrec", live, watcher=Watcher(), lab=lab) as source:
...         view = LiveView([DivergencePlot(source)], duration=20)   # views read the tap

:class:`Recorder` is itself a :class:`~timens_lab.source.Source`: whoever reads it (a view, the
CLI loop) gets exactly what the wrapped source delivered, and every record is written. Records
are flushed as one DATA chunk every ``flush_interval`` seconds, so a killed recorder loses at
most that much. With a ``watcher`` it also rescans namespaces every ``tree_interval`` seconds
and writes the tree whenever it changed plus the watch events, so a replay can serve the tree.
The file format is documented in :mod:`timens_lab.recording.format`.

Scope: by default only *this session's* namespaces go into trees and events (the channels'
namespaces, the Lab's, the host's, and their owner/creator chains; processes of the initial
namespace are left out): a recording shipped with the package should not list every process
of the machine it was made on. ``scope="all"`` records everything the watcher sees.
"""

from __future__ import annotations

import datetime
import os
import platform
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .. import __version__
from ..discovery.treemodel import Tree
from ..discovery.treemodel import restrict as restrict_tree
from ..errors import RecordingError
from ..source import HOST, Channel, ChannelStats, Source
from . import format as fmt

#: PROC_TIME_INIT_INO (include/linux/proc_ns.h): its members are every process on the machine.
INIT_TIME_INODE = 0xEFFFFFFA
#: A namespace's identity: (inode, NS_GET_ID or None where the kernel or our view lacks it).
Ident = tuple[int, int | None]


class RecordingWriter:
    """The file side: ``FILE.<random>.partial`` written chunk by chunk, renamed at close."""

    def __init__(self, path: str | os.PathLike[str], meta: Mapping[str, Any]) -> None:
        self.path = Path(path)
        self.partial = self.path.with_name(f"{self.path.name}.{secrets.token_hex(4)}.partial")
        try:
            # O_EXCL on a fresh random name; mode 0600: a recording shows what ran on this
            # machine (commands' namespaces, pids, kernel), so it is private to the user
            # (SECURITY.md); share it deliberately with chmod.
            self._fd = os.open(self.partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC,
                               0o600)
        except OSError as err:
            raise RecordingError(f"cannot create {self.path}: {err.strerror}", errno=err.errno,
                                 hint="choose a directory that exists and that you can write "
                                      "to") from err
        self.chunks = 0
        self.closed = False
        try:
            self._write(fmt.preamble() + fmt.frame(b"META", fmt.json_bytes(dict(meta))))
        except BaseException:
            self.abort()
            raise

    def write(self, tag: bytes, payload: bytes) -> None:
        self._write(fmt.frame(tag, payload))
        self.chunks += 1

    def _write(self, data: bytes) -> None:
        # One chunk per write(2) where the kernel takes it whole (a regular file does, short of
        # ENOSPC): a SIGKILL then cuts between chunks; the reader copes with a cut anywhere.
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._fd, view):]
        except OSError as err:
            raise RecordingError(f"cannot write {self.partial}: {err.strerror}",
                                 errno=err.errno, hint="free some space (what was written so "
                                 "far replays with --partial)") from err

    def close(self, done: Mapping[str, Any]) -> Path:
        """Write DONE, fsync, rename over ``path`` (atomic), fsync the directory."""
        if self.closed:
            return self.path
        self.write(b"DONE", fmt.zjson({**done, "chunks": self.chunks + 1}))
        try:
            os.fsync(self._fd)
            os.close(self._fd)
            self.closed = True
            os.replace(self.partial, self.path)
            dirfd = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                os.fsync(dirfd)
            finally:
                os.close(dirfd)
        except OSError as err:
            raise RecordingError(f"cannot finish {self.path}: {err.strerror}", errno=err.errno,
                                 hint=f"the data is in {self.partial}") from err
        return self.path

    def abort(self) -> None:
        """Close and delete the partial file (nothing worth keeping was recorded)."""
        if not self.closed:
            self.closed = True
            os.close(self._fd)
            self.partial.unlink(missing_ok=True)


def capture_environment(probe_result: Any = None) -> dict[str, Any]:
    """Where and when: host, kernel, OS, clocksource, date, versions, and the probe's verdict."""
    if probe_result is None:
        from ..probing.check import probe

        probe_result = probe()
    uname = os.uname()
    return {
        "host": socket.gethostname(), "kernel": uname.release, "machine": uname.machine,
        "os": _os_name(), "clocksource": _read("/sys/devices/system/clocksource/clocksource0/"
                                               "current_clocksource"),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "uid": os.geteuid(), "python": platform.python_version(), "timens_lab": __version__,
        "probe": probe_result.to_dict() if hasattr(probe_result, "to_dict") else probe_result,
    }


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _os_name() -> str | None:
    for line in (_read("/etc/os-release") or "").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip().strip('"')
    return None


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
        watcher: a :class:`~timens_lab.discovery.watch.Watcher` (or anything with ``poll()`` and
            ``discovery``) for tree snapshots and events; None records samples only.
        lab: the Lab, for lineage hints and the session scope.
        scope: ``"session"`` (default) or ``"all"``: which namespaces trees and events keep.
        scenario: how the session was set up (namespaces, rate...), stored in META so a live
            run can recreate it (:func:`timens_lab.recording.replay.open_source`).
        note: free text for whoever replays it.
        environment: override :func:`capture_environment` (tests; re-recording).
        close_source: close ``source`` when the recorder closes.
        clock: REALTIME in ns for the timeline of trees, events and flushes; default the
            source's own ``now_ns`` (a Replay's, so re-recording keeps its timeline), else
            ``time.time_ns``, the clock samples are sandwiched in.

    Other attributes (``pause``, ``host``, ``samplers``...) are the wrapped source's.
    """

    def __init__(self, path: str | os.PathLike[str], source: Source, *, watcher: Any = None,
                 lab: Any = None, scope: Literal["session", "all"] = "session",
                 scenario: Mapping[str, Any] | None = None, note: str = "",
                 environment: Mapping[str, Any] | None = None, flush_interval: float = 1.0,
                 tree_interval: float = 1.0, close_source: bool = True,
                 clock: Callable[[], int] | None = None) -> None:
        if scope not in ("session", "all"):
            raise ValueError(f"scope must be 'session' or 'all', not {scope!r}")
        self.source, self.watcher, self.lab, self.scope = source, watcher, lab, scope
        self.flush_interval, self.tree_interval = flush_interval, tree_interval
        self.close_source = close_source
        self._now: Callable[[], int] = clock or getattr(source, "now_ns", None) or time.time_ns
        self.start_ns = self._now()
        meta = {"format": "timens-lab recording", "start_ns": self.start_ns,
                "environment": dict(environment) if environment is not None
                else capture_environment(),
                "scenario": dict(scenario or {}), "note": note,
                "source": {"mode": source.mode, "banner": source.banner}}
        self._lock = threading.RLock()
        self._writer = RecordingWriter(path, meta)
        self.path = self._writer.path
        self._index: dict[str, int] = {}
        self._pending: dict[str, list[np.ndarray]] = {}
        self._counts: dict[str, int] = {}
        self._last_flush = self._last_tree = time.monotonic()
        self._scope: set[Ident] = set()   # this session's namespaces, (inode, ns_id)
        self.trees: dict[str, Tree] = {}
        self.events: list[Any] = []
        self.closed = False
        self._started = False
        try:
            self._sync_channels()
            self._started = True
            if watcher is not None:
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
            if self.watcher is not None and now - self._last_tree >= self.tree_interval:
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
                if self.watcher is not None:
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
            if ch.ns_inode is not None:
                self._scope.add((ch.ns_inode, ch.ns_id))

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
        """Rescan namespaces now; record the events and the trees if they changed."""
        from ..discovery.trees import lineage_tree, owner_tree

        with self._lock:
            self._last_tree = time.monotonic()
            events = list(self.watcher.poll())
            d = self.watcher.discovery
            self._scope |= session_scope(self.lab)
            hints = session_hints(self.lab)
            trees = {"owner": owner_tree(d), "lineage": lineage_tree(d, hints)}
            if self.scope == "session":
                trees = {by: restrict(t, self._scope) for by, t in trees.items()}
                events = self._in_scope(events)
            now = self._now()
            if events:
                self._writer.write(b"EVNT", fmt.events_payload(now, events))
                self.events += events
            if trees != self.trees:
                self._writer.write(b"TREE", fmt.tree_payload(now, trees))
                self.trees = trees
            return events

    def _in_scope(self, events: list[Any]) -> list[Any]:
        return [e for e in events if ours(e.inode, e.ns_id, self._scope)
                and not (e.inode == INIT_TIME_INODE and e.pid is not None)]

    def tree(self, by: Literal["owner", "lineage"] = "lineage") -> Tree:
        """The latest recorded tree (rescanned first if ``tree_interval`` has passed)."""
        with self._lock:
            if self.watcher is None:
                return Tree(by=by)
            if not self.closed and time.monotonic() - self._last_tree >= self.tree_interval:
                self.poll_tree()
            return self.trees.get(by) or Tree(by=by)


def record(path: str | os.PathLike[str], source: Source, *, lab: Any = None, watch: bool = True,
           **kw: Any) -> Recorder:
    """``Recorder(path, source, watcher=Watcher(), lab=lab, **kw)``: the usual way to record.

    >>> with record("run.tnsrec", SamplerSet.start(lab, [ns]), lab=lab) as source:  # doctest: +SKIP
    ...     LiveView([DivergencePlot(source)], duration=30).run()
    """
    watcher = None
    if watch:
        from ..discovery.watch import Watcher

        watcher = Watcher()
    return Recorder(path, source, watcher=watcher, lab=lab, **kw)


def session_scope(lab: Any, channels: Iterable[Channel] = ()) -> set[Ident]:
    """(inode, ns_id) of a session's time namespaces: the channels', the Lab's, its host's."""
    out = {(ch.ns_inode, ch.ns_id) for ch in channels if ch.ns_inode is not None}
    if lab is not None:
        out |= {(ns.inode, ns.ns_id) for ns in lab.namespaces}
        if getattr(lab, "host_time_ns", None) is not None:
            out.add((lab.host_time_ns, None))
    return out


def ours(inode: int | None, ns_id: int | None, scope: set[Ident]) -> bool:
    """Is this namespace one of ``scope``? By NS_GET_ID where both sides know it: inodes are
    recycled as soon as a namespace dies (kernel-timens.md finding 9), ids are not."""
    if inode is None:
        return False
    if (inode, ns_id) in scope:
        return True
    return any(i == inode and (n is None or ns_id is None) for i, n in scope)


def session_hints(lab: Any) -> dict[int, int]:
    """``{namespace inode: creator inode}`` from the Lab's own records (lineage_tree hints)."""
    if lab is None:
        return {}
    host = getattr(lab, "host_time_ns", None)
    out = {}
    for ns in lab.namespaces:
        parent = ns.parent.inode if ns.parent is not None else host
        if parent is not None:
            out[ns.inode] = parent
    return out


def restrict(tree: Tree, scope: set[Ident]) -> Tree:
    """The part of ``tree`` about ``scope`` (see :func:`ours`), as treemodel.restrict."""
    return restrict_tree(tree, lambda node: ours(node.inode, node.ns_id, scope))
