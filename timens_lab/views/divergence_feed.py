"""The data behind the divergence plot: offsets per namespace and clock, reduced to pixels.

No matplotlib here. A :class:`DivergenceFeed` drains a :class:`~timens_lab.source.Source`,
turns namespace records into offsets against the host with
:func:`timens_lab.divergence.divergence`, keeps a bounded history per (channel, clock) and
reduces it to the plot's pixel columns (decimate.py), incrementally while the x limits hold.
The same feed drives both renderers of the divergence plot (matplotlib and the browser canvas).

Per frame the cost is a handful of numpy calls per clock, not per namespace: one divergence()
call and one fold into an :class:`~timens_lab.views.decimate.EnvelopeRows` block per clock (a
frame of 16 namespaces × 3 clocks went from 14 ms to ~3 ms of CPU).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..divergence import divergence
from ..source import HOST, MISSING, OFFSET_OF_CLOCK, RECORD_DTYPE, Channel, Source
from .decimate import Envelope, EnvelopeRows
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
        self._host = Series(RECORD_DTYPE)   # appended in place: no copy of the history a frame
        self._host_sorted = True
        self._pending: dict[str, np.ndarray] = {}
        self._t0_ns: int | None = None
        #: per clock: the envelope blocks (offset line, residual) and each channel's row
        self._blocks: dict[str, tuple[EnvelopeRows, EnvelopeRows, dict[str, int]]] = {}

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
                if np.any(np.diff(t) < 0) or (len(self._host) and
                                              t[0] < _mid(self._host.view[-1:])[0]):
                    self._host_sorted = False
                self._host.extend(recs, self.history)
            elif cid in self.channels:
                old = self._pending.get(cid)
                self._pending[cid] = recs if old is None or not len(old) else np.concatenate(
                    (old, recs))
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
        host = self._host.view
        end = _mid(host[-1:])[0] if self._host_sorted else _mid(host).max()
        ids, ready_recs = [], []
        for cid, recs in self._pending.items():
            if not len(recs):
                continue
            ready = _mid(recs) <= end
            if ready.all():
                ids.append(cid)
                ready_recs.append(recs)
                self._pending[cid] = recs[:0]
            elif ready.any():
                ids.append(cid)
                ready_recs.append(recs[ready])
                self._pending[cid] = recs[~ready]
        if not ids:
            return
        # One concatenation (of structured arrays: slow per call) for every namespace; ``owner``
        # says whose each record is, in blocks, so results split back with searchsorted.
        batch = np.concatenate(ready_recs) if len(ready_recs) > 1 else ready_recs[0]
        owner = np.repeat(np.arange(len(ids)), [len(r) for r in ready_recs])
        tmid = _mid(batch)
        if self._host_sorted:
            # From one host sample before the first record's bracket, so divergence()'s
            # curvature term sees the neighbours it would see in the whole series; searched
            # in a tail of the history that reaches back far enough (the cost follows the new
            # records, not the history).
            first, n = int(tmid.min()), 1024
            while n < len(host) and _mid(host[-n:-n + 1])[0] >= first:
                n *= 2
            tail = host[-n:]
            lo = max(int(np.searchsorted(_mid(tail), first, side="right")) - 3, 0)
            host = tail[lo:]
        for clock in self.clocks:
            self._divergence(ids, batch, owner, tmid, host, clock)

    def _divergence(self, ids: list[str], batch: np.ndarray, owner: np.ndarray,
                    tmid: np.ndarray, host: np.ndarray, clock: str) -> None:
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
        keep = (batch[field] != MISSING) & (tmid >= hmid.min()) & (tmid <= hmid.max())
        sub, own = batch[keep], owner[keep]
        if not len(sub):
            return
        d = divergence(sub, host, clock)
        if len(d.t_ns) != len(sub):
            for k, cid in enumerate(ids):
                one = divergence(sub[own == k], host, clock)
                self._append(cid, clock, one.t_ns, one.offset_ns, one.err_ns)
            return
        bounds = np.searchsorted(own, np.arange(len(ids) + 1))
        err = np.nan_to_num(d.err_ns, nan=0.0)
        folds = []
        for k, cid in enumerate(ids):
            i, j = int(bounds[k]), int(bounds[k + 1])
            if j > i:
                folds.append(self._append(cid, clock, d.t_ns[i:j], d.offset_ns[i:j], err[i:j],
                                          fold=False, clean=True))
        self._fold_batch(clock, [f for f in folds if f is not None])

    def _append(self, cid: str, clock: str, t_ns: np.ndarray, off: np.ndarray,
                err: np.ndarray, *, fold: bool = True,
                clean: bool = False) -> tuple[str, int] | None:
        """Extend the trace's history; fold the new points (or, ``fold=False``, return
        ``(cid, first new index)`` for :meth:`_fold_batch`). ``clean``: err has no NaN."""
        keep = np.isfinite(off)
        if not keep.any():
            return None
        if not keep.all():
            t_ns, off, err = t_ns[keep], off[keep], err[keep]
        trace = self.traces[(cid, clock)]
        if self._t0_ns is None:
            self._t0_ns = int(t_ns[0])
        trace.t.extend((t_ns - self._t0_ns) / NSEC, self.history)
        trace.offset.extend(off, self.history)
        trace.err.extend(err if clean else np.nan_to_num(err, nan=0.0), self.history)
        lo = max(len(trace.t) - len(t_ns), 0)
        if fold:
            trace.fold(lo)
            return None
        return cid, lo

    def _fold_batch(self, clock: str, new: list[tuple[str, int]]) -> None:
        """Fold the new points of several traces of ``clock``: one call per block when the
        traces have rows in this clock's blocks, per trace otherwise."""
        block = self._blocks.get(clock)
        rows, parts = [], []
        for cid, lo in new:
            trace = self.traces[(cid, clock)]
            if block is None or cid not in block[2] or trace.line is not block[0].envelopes[
                    block[2][cid]]:
                trace.fold(lo)
                continue
            t, res, e = trace.residual(lo)
            parts.append((t, trace.offset.view[lo:] / NSEC, res, e))
            rows.append(np.full(len(t), block[2][cid], dtype=np.intp))
        if parts and block is not None:
            t, off_s, res, e = (np.concatenate(a) for a in zip(*parts, strict=True))
            row = np.concatenate(rows)
            block[0].add(row, t, off_s, off_s)
            block[1].add(row, t, res - e, res + e, mid=res)

    def reduce(self, clock: str, x0: float, x1: float, columns: int) -> None:
        """New pixel columns for ``clock`` (the limits changed): re-reduce every namespace's
        whole history into one block per role (offset line, residual)."""
        ids = list(self.order)
        line, resid = EnvelopeRows(x0, x1, columns, len(ids)), EnvelopeRows(x0, x1, columns,
                                                                            len(ids))
        rows = {cid: r for r, cid in enumerate(ids)}
        self._blocks[clock] = (line, resid, rows)
        for cid, r in rows.items():
            trace = self.traces[(cid, clock)]
            trace.line, trace.resid = line.envelopes[r], resid.envelopes[r]
        self._fold_batch(clock, [(cid, 0) for cid in ids])

    # --- what the axes need

    def t_max(self) -> float | None:
        """The newest time (s) of any trace, None before the first offset."""
        return max((t.t.view[-1] for t in self.traces.values() if len(t.t)), default=None)

    def offset_extent(self, clock: str) -> tuple[float, float] | None:
        """(min, max) in seconds of the measured (within the columns once reduced) and
        configured offsets of ``clock``."""
        values = [self.traces[(cid, clock)].configured_ns / NSEC for cid in self.order
                  if self.traces[(cid, clock)].configured_ns is not None]
        block = self._block(clock)
        if block is not None:
            ext = block[0].extent()
            values += [] if ext is None else list(ext)
        else:
            for cid in self.order:
                v = self.traces[(cid, clock)].offset.view
                if len(v):
                    values += [float(v.min()) / NSEC, float(v.max()) / NSEC]
        return (min(values), max(values)) if values else None

    def resid_extent(self, clock: str) -> tuple[float, float] | None:
        """(min, max) in ns of residual ∓ err of ``clock`` (within the columns once reduced)."""
        block = self._block(clock)
        if block is not None:
            return block[1].extent()
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

    def _block(self, clock: str) -> tuple[EnvelopeRows, EnvelopeRows, dict[str, int]] | None:
        """The clock's envelope blocks when every namespace has a row there (else None: a
        namespace arrived since the last reduce(), and the extents must read histories)."""
        block = self._blocks.get(clock)
        if block is None or len(block[2]) != len(self.order):
            return None
        return block


def _mid(recs: np.ndarray) -> np.ndarray:
    """REALTIME midpoint of each record's sandwich, ns, computed as divergence() does."""
    return recs["rt0"] + (recs["rt1"] - recs["rt0"]) // 2
