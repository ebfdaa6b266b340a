"""The data behind the divergence plot: offsets per namespace and clock, reduced to pixels.

No matplotlib here. A :class:`DivergenceFeed` drains a :class:`~timens_lab.source.Source`,
turns namespace records into offsets against the host with
:func:`timens_lab.clocks.divergence.divergence`, keeps a bounded history per (channel, clock) and
reduces it to the plot's pixel columns (decimate.py), incrementally while the x limits hold.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..clocks.divergence import divergence
from ..source import HOST, MISSING, OFFSET_OF_CLOCK, RECORD_DTYPE, Channel, Source
from .decimate import Envelope
from .series import Series

NSEC = 1_000_000_000


def configured_offset(channel: Channel, clock: str) -> int | None:
    """The offset the namespace was created with for ``clock``; 0 for REALTIME (never offset)."""
    if clock not in OFFSET_OF_CLOCK:
        return 0
    return channel.monotonic_ns if OFFSET_OF_CLOCK[clock] == "monotonic" else channel.boottime_ns


@dataclasses.dataclass
class Trace:
    """One (channel, clock): its history and its reduction to the current pixel columns."""

    channel: Channel
    clock: str
    configured_ns: int | None
    t: Series = dataclasses.field(default_factory=Series)        # s since the first record
    offset: Series = dataclasses.field(default_factory=Series)   # measured, ns
    err: Series = dataclasses.field(default_factory=Series)      # divergence()'s bound, ns
    line: Envelope | None = None     # offset, seconds: min/max per column
    resid: Envelope | None = None    # residual ± err, ns: band extremes and per-column mean

    def residual(self, lo: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(t s, measured − configured ns, err ns) from index ``lo``. With no configured offset
        (unknown) the residual is taken against the first measurement, so drift still shows."""
        off = self.offset.view
        ref = self.configured_ns if self.configured_ns is not None else (off[0] if len(off) else 0)
        return self.t.view[lo:], (off[lo:] - ref), self.err.view[lo:]

    def fold(self, lo: int = 0) -> None:
        """Reduce the history from index ``lo`` into the envelopes."""
        if self.line is None or self.resid is None:
            return
        t, res, e = self.residual(lo)
        off_s = self.offset.view[lo:] / NSEC
        self.line.add(t, off_s, off_s)
        self.resid.add(t, res - e, res + e, mid=res)

    def reduce(self, x0: float, x1: float, columns: int) -> None:
        """New pixel columns (the limits changed): re-reduce the whole history."""
        self.line, self.resid = Envelope(x0, x1, columns), Envelope(x0, x1, columns)
        self.fold()


class DivergenceFeed:
    """Offsets of every namespace channel of a Source, for ``clocks``, with ``history`` samples
    kept per channel (and of the host)."""

    def __init__(self, clocks: tuple[str, ...], *, history: int = 200_000) -> None:
        self.clocks = clocks
        self.history = history
        self.channels: dict[str, Channel] = {}
        self.order: list[str] = []               # namespace channel ids, in order of arrival
        self.traces: dict[tuple[str, str], Trace] = {}
        self._host = np.empty(0, RECORD_DTYPE)
        self._host_sorted = True
        self._pending: dict[str, np.ndarray] = {}
        self._t0_ns: int | None = None

    def poll(self, source: Source) -> list[str]:
        """Drain ``source`` once; returns the ids of namespace channels seen for the first time."""
        added = []
        for ch in source.channels():
            if ch.id not in self.channels:
                self.channels[ch.id] = ch
                if ch.id != HOST:
                    self.order.append(ch.id)
                    added.append(ch.id)
                    for clock in self.clocks:
                        self.traces[(ch.id, clock)] = Trace(ch, clock, configured_offset(ch, clock))
        for cid, recs in source.read().items():
            if not len(recs):
                continue
            if cid == HOST:
                t = _mid(recs)
                # REALTIME set backwards mid-run: no more slicing by time (divergence() sorts)
                if np.any(np.diff(t) < 0) or (len(self._host) and t[0] < _mid(self._host[-1:])[0]):
                    self._host_sorted = False
                host = np.concatenate((self._host, recs))
                self._host = host[-self.history:] if len(host) > self.history else host
            elif cid in self.channels:
                self._pending[cid] = np.concatenate((self._pending.get(cid, recs[:0]), recs))
        self._compute()
        return added

    def _compute(self) -> None:
        """Turn pending namespace records into offsets, for records the host already covers.

        divergence() interpolates the host clock at each namespace record's time (REALTIME
        midpoint), so records newer than the last host record wait for the next poll. Only a
        recent slice of the host history is passed, so the cost follows the new records.
        """
        if len(self._host) < 2:
            return
        host_t = _mid(self._host)
        end = host_t.max()
        chunks: dict[str, np.ndarray] = {}
        for cid, recs in self._pending.items():
            ready = _mid(recs) <= end
            if ready.any():
                chunks[cid], self._pending[cid] = recs[ready], recs[~ready]
        if not chunks:
            return
        lo = 0
        if self._host_sorted:
            # From one host sample before the first record's bracket, so divergence()'s
            # curvature term sees the neighbours it would see in the whole series.
            first = min(int(_mid(c).min()) for c in chunks.values())
            lo = max(int(np.searchsorted(host_t, first, side="right")) - 3, 0)
        for clock in self.clocks:
            self._divergence(chunks, self._host[lo:], clock)

    def _divergence(self, chunks: dict[str, np.ndarray], host: np.ndarray, clock: str) -> None:
        """One divergence() call for every namespace's new records (48 calls per frame cost
        ~9 ms of numpy overhead for 16 namespaces × 3 clocks; 3 calls cost ~1 ms).

        Records divergence() would leave out (MISSING, outside the host's span, as its
        docstring says) are left out here first, so its output lines up with the input and
        can be split back per namespace; if it ever does not, one call per namespace.
        """
        field = "rt0" if clock == "realtime" else clock
        h = host[host[field] != MISSING]
        if len(h) < 2:
            return
        hmid = _mid(h)
        t_lo, t_hi = hmid.min(), hmid.max()
        parts = []
        for cid, recs in chunks.items():
            t = _mid(recs)
            parts.append((cid, recs[(recs[field] != MISSING) & (t >= t_lo) & (t <= t_hi)]))
        batch = np.concatenate([r for _, r in parts])
        if not len(batch):
            return
        d = divergence(batch, host, clock)
        if len(d.t_ns) != len(batch):
            for cid, recs in parts:
                one = divergence(recs, host, clock)
                self._append(cid, clock, one.t_ns, one.offset_ns, one.err_ns)
            return
        i = 0
        for cid, recs in parts:
            n = len(recs)
            self._append(cid, clock, d.t_ns[i:i + n], d.offset_ns[i:i + n], d.err_ns[i:i + n])
            i += n

    def _append(self, cid: str, clock: str, t_ns: np.ndarray, off: np.ndarray,
                err: np.ndarray) -> None:
        keep = np.isfinite(off)
        if not keep.any():
            return
        if not keep.all():
            t_ns, off, err = t_ns[keep], off[keep], err[keep]
        trace = self.traces[(cid, clock)]
        if self._t0_ns is None:
            self._t0_ns = int(t_ns[0])
        trace.t.extend((t_ns - self._t0_ns) / NSEC, self.history)
        trace.offset.extend(off, self.history)
        trace.err.extend(np.nan_to_num(err, nan=0.0), self.history)
        trace.fold(max(len(trace.t) - len(t_ns), 0))

    # --- what the axes need

    def t_max(self) -> float | None:
        """The newest time (s) of any trace, None before the first offset."""
        return max((t.t.view[-1] for t in self.traces.values() if len(t.t)), default=None)

    def offset_extent(self, clock: str) -> tuple[float, float] | None:
        """(min, max) in seconds of the measured and configured offsets of ``clock``."""
        values = []
        for cid in self.order:
            trace = self.traces[(cid, clock)]
            if len(trace.offset):
                v = trace.offset.view
                values += [float(v.min()) / NSEC, float(v.max()) / NSEC]
            if trace.configured_ns is not None:
                values.append(trace.configured_ns / NSEC)
        return (min(values), max(values)) if values else None

    def resid_extent(self, clock: str) -> tuple[float, float] | None:
        """(min, max) in ns of residual ∓ err of ``clock`` (within the columns once reduced)."""
        los, his = [], []
        for cid in self.order:
            trace = self.traces[(cid, clock)]
            if not len(trace.t):
                continue
            ext = trace.resid.extent() if trace.resid is not None else None
            if ext is None:  # not reduced yet (before the first full draw)
                _, res, e = trace.residual()
                ext = (float((res - e).min()), float((res + e).max()))
            los.append(ext[0])
            his.append(ext[1])
        return (min(los), max(his)) if los else None


def _mid(recs: np.ndarray) -> np.ndarray:
    """REALTIME midpoint of each record's sandwich, ns, computed as divergence() does."""
    return recs["rt0"] + (recs["rt1"] - recs["rt0"]) // 2
