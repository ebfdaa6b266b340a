"""Replay a recording as if it were live, and pick live or replay automatically.

>>> source = open_source(recording="tour")     # live where the kernel allows, else the replay
>>> source.mode, source.banner                 # "replay", "REPLAY · recorded ... Live mode is off: ..."
>>> view = LiveView([DivergencePlot(source), LiveTree(TreePlot(), source.tree)])

:class:`Replay` implements :class:`~timens_lab.source.Source` over a recording
(:mod:`timens_lab.recording.format`): ``read()`` hands out the records whose REALTIME sandwich has
closed by the replay clock (``speed`` times real time; ``math.inf``: everything at once), so views
get the same arrays, in the same order and at the same pace as the live samplers delivered them.
Nothing but ``mode == "replay"`` and ``banner`` tells it apart. ``tree()`` and :meth:`watcher`
serve the recorded namespace trees and watch events on the same clock.

:func:`open_source` is what notebooks call: a live :class:`~timens_lab.session.scenario.LiveSession` (a
SamplerSet that also serves trees) when the probe says time namespaces work, else a Replay of a
recording shipped in ``timens_lab/data`` (made by ``make recordings``) whose banner says why live
mode is off, with the probe's hint. ``TIMENS_LAB_MODE=replay`` forces the replay, ``live`` forces live mode.
"""

from __future__ import annotations

import bisect
import html
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..discovery.treemodel import Tree
from ..errors import RecordingError
from ..source import HOST, Channel, ChannelStats, Source
from .format import SUFFIX, Recording, load, read_meta

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
#: The shipped recording open_source() replays when none is named.
DEFAULT_RECORDING = "tour"
MODE_ENV = "TIMENS_LAB_MODE"
MODES = ("auto", "live", "replay")


def shipped() -> dict[str, Path]:
    """The recordings shipped with the package, by name (file stem)."""
    return {p.stem: p for p in sorted(DATA_DIR.glob(f"*{SUFFIX}"))}


def recording_path(name: str | os.PathLike[str] | None = None) -> Path:
    """A shipped recording's path by name (None: the default), or ``name`` itself if a file.

    Raises:
        RecordingError: no such shipped recording and no such file.
    """
    if name is None:
        name = DEFAULT_RECORDING
    text = os.fspath(name)
    if os.sep in text or text.endswith(SUFFIX) or os.path.exists(text):
        return Path(text)
    found = shipped()
    if text in found:
        return found[text]
    have = ", ".join(found) or "none (run `make recordings`)"
    raise RecordingError(f"no shipped recording called {text!r}; shipped: {have}",
                         hint="name a shipped recording or give the path of a .tnsrec file")


class Replay:
    """A recording played back as a :class:`~timens_lab.source.Source`.

    Args:
        recording: a path, a shipped recording's name, or a loaded :class:`Recording`.
        speed: replay clock rate against real time; ``math.inf`` delivers everything at once.
        partial: accept a truncated recording (see :func:`timens_lab.recording.format.load`).
        reason, hint: why live mode is off and what would turn it on (for the banner).
        clock: the real-time clock (tests pass a fake one).

    The replay clock starts at the first ``read()``, ``tree()`` or ``watcher().poll()``.
    """

    mode: Literal["live", "replay"] = "replay"

    def __init__(self, recording: str | os.PathLike[str] | Recording | None = None,
                 speed: float = 1.0, *, partial: bool = False, reason: str | None = None,
                 hint: str | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        if not (isinstance(speed, int | float) and speed > 0):
            raise ValueError(f"speed must be > 0 (math.inf: all at once), not {speed!r}")
        self.recording = (recording if isinstance(recording, Recording)
                          else load(recording_path(recording), partial=partial))
        self.speed = float(speed)
        self.reason, self.hint = reason, hint
        self._clock = clock
        rec = self.recording
        self._order = sorted(rec.channels, key=lambda ch: (ch.id != HOST, rec.added_ns[ch.id]))
        self._closes = {cid: np.maximum.accumulate(r["rt1"]) if len(r) else r["rt1"]
                        for cid, r in rec.records.items()}
        self._pos = dict.fromkeys(rec.records, 0)
        self._stat_times = [t for t, _ in rec.stats]
        self._tree_times = [t for t, _ in rec.trees]
        self._started: float | None = None
        self._frozen_ns: int | None = None   # paused or stopped at this replay time
        self._base_ns = rec.start_ns
        self.closed = self.stopped = False
        self.banner: str | None = self._banner()

    # --- the replay clock

    @property
    def start_ns(self) -> int:
        return self.recording.start_ns

    @property
    def end_ns(self) -> int:
        return self.recording.end_ns

    @property
    def duration(self) -> float:
        """Length of the recording, seconds."""
        return self.recording.duration_s

    def now_ns(self) -> int:
        """Where the replay is, in the recording's REALTIME nanoseconds."""
        if self._frozen_ns is not None:
            return self._frozen_ns
        if self._started is None:
            self._started = self._clock()
        if math.isinf(self.speed):
            return self.end_ns
        elapsed = (self._clock() - self._started) * self.speed
        return min(self._base_ns + int(elapsed * 1e9), self.end_ns)

    @property
    def position(self) -> float:
        """Seconds into the recording."""
        return (self.now_ns() - self.start_ns) / 1e9

    def pause(self) -> None:
        if self._frozen_ns is None:
            self._frozen_ns = self.now_ns()

    def resume(self) -> None:
        if self._frozen_ns is not None and not self.stopped:
            self._base_ns, self._frozen_ns = self._frozen_ns, None
            self._started = self._clock()

    def stop(self) -> None:
        """No more records after the current point (what was due stays readable)."""
        self.pause()
        self.stopped = True

    @property
    def done(self) -> bool:
        """Everything up to the end (or the stop) was delivered: a view may end its run."""
        if self.closed:
            return True
        now = self.now_ns()
        if now < self.end_ns and not self.stopped:
            return False
        return all(self._due(cid, now) <= self._pos[cid] for cid in self._pos)

    # --- Source

    def channels(self) -> list[Channel]:
        now = self.now_ns()
        return [ch for ch in self._order if self.recording.added_ns[ch.id] <= now]

    def read(self) -> dict[str, np.ndarray]:
        now = self.now_ns()
        out = {}
        for ch in self.channels():
            start = self._pos[ch.id]
            stop = start if self.closed else max(start, self._due(ch.id, now))
            out[ch.id] = self.recording.records[ch.id][start:stop]
            self._pos[ch.id] = stop
        return out

    def _due(self, cid: str, now: int) -> int:
        closes = self._closes[cid]
        n = int(np.searchsorted(closes, now, side="right"))
        # The host sampler is read last in a live SamplerSet, so its records reach past every
        # namespace record of the same read; hand out one more host record to keep that so.
        if cid == HOST and n < len(closes) and now < self.end_ns:
            n += 1
        return n

    def stats(self) -> dict[str, ChannelStats]:
        i = bisect.bisect_right(self._stat_times, self.now_ns()) - 1
        drops = self.recording.stats[i][1] if i >= 0 else {}
        return {ch.id: ChannelStats(self._pos[ch.id], drops.get(ch.id, (0, 0, 0))[1])
                for ch in self.channels()}

    def close(self) -> None:
        self.closed = True

    def __enter__(self) -> Replay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def sampler_facts(self) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
        """Late ticks and clock resolutions per channel, as recorded."""
        i = bisect.bisect_right(self._stat_times, self.now_ns()) - 1
        late = {cid: v[2] for cid, v in self.recording.stats[i][1].items()} if i >= 0 else {}
        res = {cid: dict(e.get("resolution_ns") or {}) for cid, e in self.recording.extra.items()}
        return late, res

    # --- trees and events

    def tree(self, by: Literal["owner", "lineage"] = "lineage") -> Tree:
        """The namespace tree as recorded at the replay's current point."""
        i = bisect.bisect_right(self._tree_times, self.now_ns()) - 1
        if i < 0:
            return Tree(by=by)
        return self.recording.trees[i][1].get(by) or Tree(by=by)

    def watcher(self) -> ReplayWatcher:
        """A :class:`~timens_lab.discovery.watch.Watcher` look-alike: ``poll()`` returns the recorded events
        that happened since the last poll."""
        return ReplayWatcher(self)

    # --- what it is

    @property
    def scenario(self) -> dict[str, Any]:
        return dict(self.recording.meta.get("scenario") or {})

    @property
    def environment(self) -> dict[str, Any]:
        return dict(self.recording.meta.get("environment") or {})

    def _banner(self) -> str:
        env, rec = self.environment, self.recording
        namespaces = [ch for ch in rec.channels if ch.id != HOST]
        rate = next((ch.rate_hz for ch in rec.channels if ch.rate_hz), None)
        what = (f"{len(namespaces)} time namespace{'s' * (len(namespaces) != 1)} + host"
                + (f" at {rate:g} Hz" if rate else "") + f" for {rec.duration_s:.0f} s")
        probe = env.get("probe") or {}
        how = probe.get("mode") if probe.get("mode") not in (None, "unavailable") else None
        where = ", ".join(x for x in (f"Linux {env['kernel']}" if env.get("kernel") else None,
                                      f"as {how}" if how else None) if x)
        date = str(env.get("date", "?")).replace("T", " ").replace("+00:00", " UTC")
        lines = [f"REPLAY · {what}, recorded {date} on {env.get('host', '?')}"
                 + (f" ({where})" if where else "") + "."]
        if not rec.complete:
            lines.append(f"Incomplete recording: {rec.problem}")
        if self.reason:
            lines.append(f"Live mode is off here: {self.reason}")
        if self.hint:
            lines.append(f"Hint: {self.hint}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        lines = (self.banner or "").splitlines()
        body = "<br>".join(html.escape(line) for line in lines)
        return ('<div class="timens-lab-banner" style="border-left:4px solid #d9822b;'
                f'background:#fff6e8;padding:6px 10px;font-size:90%">{body}</div>')

    def __repr__(self) -> str:
        speed = "max" if math.isinf(self.speed) else f"{self.speed:g}x"
        return (f"<Replay {Path(self.recording.name).name} {self.duration:.1f} s at {speed}, "
                f"{len(self.recording.channels)} channels>")


class ReplayWatcher:
    """Recorded watch events, handed out as the replay clock passes them."""

    def __init__(self, replay: Replay) -> None:
        self.replay = replay
        self.discovery = None   # a replay has trees, not /proc snapshots
        self._next = 0

    def poll(self) -> list[Any]:
        now = self.replay.now_ns()
        events = self.replay.recording.events
        out = []
        while self._next < len(events) and events[self._next][0] <= now:
            out.append(events[self._next][1])
            self._next += 1
        return out

    def follow(self, interval: float = 1.0, *, count: int | None = None,
               sleep: Callable[[float], None] = time.sleep) -> Iterator[list[Any]]:
        i = 0
        while count is None or i < count:
            if i:
                sleep(interval)
            yield self.poll()
            i += 1

    def tree(self, by: Literal["owner", "lineage"] = "lineage") -> Tree:
        return self.replay.tree(by)


def open_source(namespaces: Iterable[Any] | None = None, *,
                recording: str | os.PathLike[str] | None = None, lab: Any = None,
                rate: float | None = None, speed: float = 1.0,
                mode: str | None = None) -> Source:
    """Live samplers where time namespaces work, else a replay that says why.

    Args:
        namespaces: for live mode: TimeNamespace objects (of ``lab``) or specs such as
            ``"monotonic=1h,boottime=2d"``; None: the namespaces of ``recording``'s scenario.
        recording: the recording to replay (a shipped name or a path; None: the default), and
            in live mode the scenario to recreate when ``namespaces`` is None.
        lab: the Lab for live mode (None: one is made, and closed with the source).
        rate: samples per second per namespace in live mode (None: the scenario's, or 100).
        speed: replay speed (``math.inf``: all at once).
        mode: ``"auto"`` (probe), ``"live"`` or ``"replay"``; None reads ``TIMENS_LAB_MODE``.

    Raises:
        ValueError: an unknown mode.
        TimensError: live mode was forced and the kernel refused (with its hint).
    """
    from ..probing.check import probe

    env_mode = os.environ.get(MODE_ENV, "").strip().lower()
    chosen = (mode or env_mode or "auto").strip().lower()
    if chosen not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {chosen!r}")
    reason = hint = None
    if chosen == "auto":
        result = probe()
        if result.time_namespaces:
            chosen = "live"
        else:
            chosen, reason, hint = "replay", result.reason, result.hint
    elif chosen == "replay":
        result = probe()   # cached; forced by TIMENS_LAB_MODE=replay, it says so itself
        if not result.time_namespaces:
            reason, hint = result.reason, result.hint
        else:
            reason = "a replay was asked for (open_source(mode='replay'))"
            hint = "open_source(mode='auto') uses live namespaces where the kernel allows them"
    if chosen == "replay":
        return Replay(recording, speed, reason=reason, hint=hint)
    from ..session.scenario import start_live

    scenario = None
    if namespaces is None:
        scenario = read_meta(recording_path(recording)).get("scenario")
    return start_live(namespaces, lab=lab, scenario=scenario, rate=rate)
