"""The data behind the divergence plot: offsets per namespace and clock, reduced to pixels.

No matplotlib here. A :class:`DivergenceFeed` drains a :class:`~timens_lab.source.Source`,
turns namespace records into offsets against the host with
:func:`timens_lab.clocks.divergence.divergence`, keeps a bounded history per clock (every
namespace's samples in one columnar :class:`ClockHistory`, tagged by row) and reduces it to the
plot's pixel columns (decimate.py), incrementally while the x limits hold. The same feed drives both
renderers of the divergence plot (matplotlib and the browser canvas).

Per frame the cost is a fixed handful of numpy calls, not per namespace: one divergences()
call for every clock (what only depends on the REALTIME sandwiches is computed once), then per
clock one append and one fold into its :class:`~timens_lab.views.decimate.EnvelopeRows`
blocks. numpy costs a few µs per call whatever the size, so the number of calls is the cost: a
frame of 16 namespaces × 3 clocks took 14 ms with calls per namespace, 4.5 ms with calls per
clock, and what is left now lets the canvas renderer follow the browser's frame rate.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..clocks.divergence import divergences
from ..offsets import NSEC
from ..source import HOST, RECORD_DTYPE, Channel, Source, configured_offset
from .decimate import Envelope, EnvelopeRows
from .series import Series


class ClockHistory:
    """Every namespace's offsets of one clock, in arrival order, tagged by row (the
    namespace's index in the feed's order), plus each row's reference for the residual."""

    def __init__(self) -> None:
        self.t = Series()                    # s since the feed's first record
        self.offset = Series()               # measured, ns
        self.err = Series()                  # divergence()'s bound, ns
        self.row = Series(np.int32)
        self.ref = np.zeros(0)               # per row: configured offset (or first measured)
        self.has_ref = np.zeros(0, dtype=bool)

    def rows(self, n: int) -> None:
        """Room for ``n`` rows."""
        if len(self.ref) < n:
            self.ref = np.concatenate((self.ref, np.zeros(n - len(self.ref))))
            self.has_ref = np.concatenate((self.has_ref, np.zeros(n - len(self.has_ref), bool)))


class _History:
    """One row's values, as a Series looks (``.view`` and ``len``), taken from a ClockHistory."""

    def __init__(self, values: np.ndarray) -> None:
        self.view = values

    def __len__(self) -> int:
        return len(self.view)


@dataclasses.dataclass
class Trace:
    """One (channel, clock): its history (a view of its clock's) and its pixel columns."""

    channel: Channel
    clock: str
    configured_ns: int | None
    history: ClockHistory
    row: int
    line: Envelope | None = None     # offset, seconds: min/max per column
    resid: Envelope | None = None    # residual ± err, ns: band extremes and per-column mean

    def _mine(self, series: Series) -> _History:
        return _History(series.view[self.history.row.view == self.row])

    @property
    def t(self) -> _History:
        """Times, s since the feed's first record (a copy: O(history) per access)."""
        return self._mine(self.history.t)

    @property
    def offset(self) -> _History:
        return self._mine(self.history.offset)

    @property
    def err(self) -> _History:
        return self._mine(self.history.err)

    def residual(self, lo: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(t s, measured − configured ns, err ns) from index ``lo``. With no configured offset
        (unknown) the residual is taken against the first measurement, so drift still shows."""
        off = self.offset.view
        ref = self.configured_ns if self.configured_ns is not None else (off[0] if len(off) else 0)
        return self.t.view[lo:], (off[lo:] - ref), self.err.view[lo:]


class DivergenceFeed:
    """Offsets of every namespace channel of a Source, for ``clocks``, with ``history`` samples
    kept per channel (and of the host)."""

    def __init__(self, clocks: tuple[str, ...], *, history: int = 200_000) -> None:
        self.clocks = clocks
        self.history = history
        self.channels: dict[str, Channel] = {}
        self.order: list[str] = []               # namespace channel ids, in order of arrival
        self.traces: dict[tuple[str, str], Trace] = {}
        self.histories = {clock: ClockHistory() for clock in clocks}
        self._t_max: float | None = None
        self._host = Series(RECORD_DTYPE)   # appended in place: no copy of the history a frame
        self._host_sorted = True
        # Namespace records not yet covered by the host's, all namespaces in one array, with
        # their rows: one concatenation a frame (structured arrays are slow to concatenate).
        self._pending = np.empty(0, RECORD_DTYPE)
        self._pending_rows = np.empty(0, np.int32)
        self._t0_ns: int | None = None
        #: per clock: the envelope blocks (offset line, residual) and each channel's row
        self._blocks: dict[str, tuple[EnvelopeRows, EnvelopeRows, dict[str, int]]] = {}
        #: per clock, the offsets appended since the last take_fresh() (rows, t s, offset ns,
        #: err ns), kept only while a consumer asks (the canvas renderer sends them on)
        self.keep_fresh = False
        self._fresh: dict[str, list[tuple[np.ndarray, ...]]] = {c: [] for c in clocks}

    def poll(self, source: Source) -> list[str]:
        """Drain ``source`` once; returns the ids of namespace channels seen for the first time."""
        added = []
        for ch in source.channels():
            if ch.id not in self.channels:
                self.channels[ch.id] = ch
                if ch.id != HOST:
                    self.order.append(ch.id)
                    added.append(ch.id)
                    row = len(self.order) - 1
                    for clock in self.clocks:
                        hist = self.histories[clock]
                        hist.rows(row + 1)
                        conf = configured_offset(ch, clock)
                        if conf is not None:
                            hist.ref[row], hist.has_ref[row] = conf, True
                        self.traces[(ch.id, clock)] = Trace(ch, clock, conf, hist, row)
        new, rows = [self._pending], [self._pending_rows]
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
                new.append(recs)
                rows.append(np.full(len(recs), self.traces[(cid, self.clocks[0])].row, np.int32))
        if len(new) > 1:
            # As plain int64 words: concatenating structured arrays costs ~20 µs each in
            # numpy's dtype promotion (16 namespaces: a third of a millisecond a frame).
            words = [np.ascontiguousarray(r).view(np.int64) for r in new]
            self._pending = np.concatenate(words).view(RECORD_DTYPE)
            self._pending_rows = np.concatenate(rows)
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
        if not len(self._pending):
            return
        tmid = _mid(self._pending)
        ready = tmid <= end
        if ready.all():
            batch, owner = self._pending, self._pending_rows
            self._pending, self._pending_rows = batch[:0], owner[:0]
        elif ready.any():
            batch, owner, tmid = self._pending[ready], self._pending_rows[ready], tmid[ready]
            self._pending, self._pending_rows = self._pending[~ready], self._pending_rows[~ready]
        else:
            return
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
        d = divergences(batch, host, self.clocks)
        rows = owner[d.used]
        t = (d.t_ns - self._first_t(d.t_ns)) / NSEC
        for k, clock in enumerate(self.clocks):
            self._append(clock, rows, t, d.offset_ns[k], d.err_ns[k])

    def _first_t(self, t_ns: np.ndarray) -> int:
        """The feed's time origin (ns): its first offset's REALTIME midpoint."""
        if self._t0_ns is None and len(t_ns):
            self._t0_ns = int(t_ns[0])
        return self._t0_ns or 0

    def _append(self, clock: str, rows: np.ndarray, t: np.ndarray, off: np.ndarray,
                err: np.ndarray) -> None:
        """Extend the clock's history with new offsets of any rows (t in s since the feed's
        first record; NaN offsets are left out), and fold them into the clock's envelope blocks
        (rows that have none yet are folded at the next reduce())."""
        keep = np.isfinite(off)
        if not keep.all():
            if not keep.any():
                return
            rows, t, off, err = rows[keep], t[keep], off[keep], err[keep]
        hist = self.histories[clock]
        cap = self.history * max(len(self.order), 1)
        new = ~hist.has_ref[rows]
        if new.any():   # no configured offset: the first measurement is the reference
            first = np.unique(rows[new], return_index=True)
            hist.ref[first[0]] = off[new][first[1]]
            hist.has_ref[first[0]] = True
        hist.t.extend(t, cap)
        hist.offset.extend(off, cap)
        hist.err.extend(err, cap)
        hist.row.extend(rows, cap)
        if self.keep_fresh:
            self._fresh[clock].append((rows, t, off, err))
        t_hi = float(t.max())
        self._t_max = t_hi if self._t_max is None else max(self._t_max, t_hi)
        self._fold(clock, rows, t, off, err)

    def _fold(self, clock: str, rows: np.ndarray, t: np.ndarray, off: np.ndarray,
              err: np.ndarray) -> None:
        block = self._blocks.get(clock)
        if block is None:
            return
        inside = rows < block[0].rows
        if not inside.all():
            rows, t, off, err = rows[inside], t[inside], off[inside], err[inside]
        res = self.residual(clock, rows, off)
        off_s = off / NSEC
        block[0].add(rows, t, off_s, off_s)
        block[1].add(rows, t, res - err, res + err, mid=res)

    def residual(self, clock: str, rows: np.ndarray, off: np.ndarray) -> np.ndarray:
        """Measured − reference (configured, else first measured) offsets of ``rows``, ns."""
        return off - self.histories[clock].ref[rows]

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
        hist = self.histories[clock]
        self._fold(clock, hist.row.view, hist.t.view, hist.offset.view, hist.err.view)

    def take_fresh(self, clock: str) -> tuple[np.ndarray, ...] | None:
        """(rows, t s, offset ns, err ns) of ``clock`` appended since the last call (None:
        none), in arrival order; forgets them."""
        parts = self._fresh[clock]
        if not parts:
            return None
        self._fresh[clock] = []
        if len(parts) == 1:
            return parts[0]
        return tuple(np.concatenate(cols) for cols in zip(*parts, strict=True))

    # --- what the axes need

    def t_max(self) -> float | None:
        """The newest time (s) of any trace, None before the first offset."""
        return self._t_max

    def offset_extent(self, clock: str) -> tuple[float, float] | None:
        """(min, max) in seconds of the measured (within the columns once reduced) and
        configured offsets of ``clock``."""
        configured = (self.traces[(cid, clock)].configured_ns for cid in self.order)
        values = [ns / NSEC for ns in configured if ns is not None]
        block = self._block(clock)
        if block is not None:
            ext = block[0].extent()
            values += [] if ext is None else list(ext)
        elif len(self.histories[clock].offset):
            v = self.histories[clock].offset.view
            values += [float(v.min()) / NSEC, float(v.max()) / NSEC]
        return (min(values), max(values)) if values else None

    def resid_extent(self, clock: str) -> tuple[float, float] | None:
        """(min, max) in ns of residual ∓ err of ``clock`` (within the columns once reduced)."""
        block = self._block(clock)
        if block is not None:
            return block[1].extent()
        hist = self.histories[clock]
        if not len(hist.t):
            return None
        res = hist.offset.view - hist.ref[hist.row.view]
        e = hist.err.view
        return float((res - e).min()), float((res + e).max())

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
