"""How far a namespace's clock is from the host's, per sample, with an honest error bound.

Pure numpy over ``RECORD_DTYPE`` arrays, so it works the same on live samplers and replays.

REALTIME is the common reference: time namespaces do not virtualize it (time_namespaces(7)),
so at any instant both sides read the same REALTIME. Each record is a sandwich ``rt0, clocks,
rt1``; the clock was read when REALTIME was somewhere in ``[rt0, rt1]``, so

    clock − REALTIME  =  clock − m  ±  w          (m = (rt0 + rt1) / 2, w = (rt1 − rt0) / 2)

For a namespace sample i, the offset is its ``clock − m_i`` minus the host's ``clock − M``
interpolated linearly at ``m_i`` between the two host samples j, j+1 that bracket it (host
samples whose sandwich was preempted, far wider than the rest, are skipped). The
per-sample bound ``err_ns`` adds up:

* ``w_i``, the namespace sandwich half-width;
* ``(1 − λ) v_j + λ v_{j+1}``, the host half-widths interpolated the same way;
* an interpolation term: where the host series visibly bends at j or j+1 (beyond what its
  own half-widths explain), the size of that bend. It is 0 while ``clock − REALTIME`` moves
  linearly (MONOTONIC and BOOTTIME are constant against REALTIME, MONOTONIC_RAW drifts with
  the NTP frequency) and covers a step when REALTIME is set mid-run;
* the clock's resolution when it is coarser than a nanosecond: MONOTONIC_COARSE only moves at
  each tick (4 ms at HZ=250), so it is behind its high-resolution self by up to one tick.

Both sides read their clocks at the same places within the sandwich, so the actual error is
usually well inside the bound; ``summary()`` reports both.

Arithmetic stays in int64 until differences are small: REALTIME is ~1.8e18 ns, where a float64
cannot tell 256 ns apart. Offsets come back as float64 ns, exact to well under 1 ns for offsets
up to 2**53 ns (104 days), and to float64 precision beyond.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np

from ..source import MISSING, RECORD_DTYPE, SAMPLED_CLOCKS

#: Clocks divergence() knows: REALTIME (the reference itself, taken from ``rt0``) and the rest.
CLOCKS = ("realtime", *SAMPLED_CLOCKS)
#: Clocks that only advance at each tick (clock_getres gives the tick, not 1 ns).
COARSE_CLOCKS = frozenset({"monotonic_coarse"})
#: Tick lengths of the HZ values Linux builds with (1000, 300, 250, 100), for estimating the
#: coarse resolution from data when the caller does not pass clock_getres().
_TICKS_NS = (1_000_000, 3_333_334, 4_000_000, 10_000_000)
#: A host sandwich wider than both of these (× its series' median width; ns) was preempted or
#: interrupted mid-read and is not used to interpolate (see _without_wide_sandwiches).
WIDE_FACTOR = 8.0
WIDE_MIN_NS = 500.0
#: Column of each field in a record's int64 words (RECORD_DTYPE is eight 8-byte fields).
_COLUMN = {name: i for i, name in enumerate(RECORD_DTYPE.names or ())}
_RT0, _RT1 = _COLUMN["rt0"], _COLUMN["rt1"]


class Divergence(NamedTuple):
    """Per-sample offsets of one clock of one namespace against the host."""

    t_ns: np.ndarray        # int64: REALTIME midpoint of each namespace sample used
    offset_ns: np.ndarray   # float64: measured clock offset, namespace − host
    err_ns: np.ndarray      # float64: bound on |offset_ns − true offset| for that sample


class Summary(NamedTuple):
    """One line of a report: the measured offset and how far it can be trusted."""

    n: int
    median_ns: float        # median measured offset
    abs_err_p50_ns: float   # |measured − configured|, 50th / 99th percentile (NaN: unknown)
    abs_err_p99_ns: float
    err_p50_ns: float       # the stated bound, 50th / 99th percentile
    err_p99_ns: float
    within_bound: float     # fraction of samples with |measured − configured| <= err


class Divergences(NamedTuple):
    """Per-sample offsets of several clocks of one batch of records, aligned with the records."""

    used: np.ndarray        # intp: the records used, positions in ns_records (rt1 >= rt0)
    t_ns: np.ndarray        # int64: their REALTIME midpoints
    offset_ns: np.ndarray   # float64, clocks × records: NaN where that clock gives nothing
    err_ns: np.ndarray      # float64, clocks × records: the bound (NaN likewise)


def divergence(ns_records: np.ndarray, host_records: np.ndarray, clock: str, *,
               resolution_ns: int | None = None) -> Divergence:
    """Offset of ``clock`` in the namespace records against the host records, per sample.

    Samples whose clock is MISSING, and namespace samples outside the host series' time span
    (they cannot be interpolated yet; a live caller gets them on a later call), are left out.

    Args:
        ns_records, host_records: ``RECORD_DTYPE`` arrays, in the order they were written.
        clock: ``"realtime"`` or one of ``SAMPLED_CLOCKS``.
        resolution_ns: clock_getres() of ``clock`` when known (the sampler measures it). For
            MONOTONIC_COARSE the bound uses it or the longest lag behind MONOTONIC seen in
            the records, whichever is larger; None estimates the tick from the records.
            High-resolution clocks (getres 1 ns) ignore it.

    Raises:
        ValueError: unknown clock or records of another dtype.
    """
    d = divergences(ns_records, host_records, (clock,),
                    resolution_ns=None if resolution_ns is None else {clock: resolution_ns})
    used = np.isfinite(d.offset_ns[0])
    return Divergence(d.t_ns[used], d.offset_ns[0][used], d.err_ns[0][used])


def divergences(ns_records: np.ndarray, host_records: np.ndarray, clocks: Sequence[str], *,
                resolution_ns: Mapping[str, int] | None = None) -> Divergences:
    """:func:`divergence` of several clocks at once, aligned with the records.

    What depends only on the REALTIME sandwiches (which host samples bracket each record, where
    in the bracket it falls) is computed once for every clock whose host samples are the same
    (all of them, unless the host lacks a clock in some records): a live plot calls this for
    every frame, and per-clock calls cost mostly numpy's per-call overhead. Each clock's row
    equals what :func:`divergence` gives for that clock, with NaN where it leaves a record out.
    """
    for clock in clocks:
        if clock not in CLOCKS:
            raise ValueError(f"unknown clock {clock!r}; expected one of {', '.join(CLOCKS)}")
    for name, recs in (("ns_records", ns_records), ("host_records", host_records)):
        if recs.dtype != RECORD_DTYPE:
            raise ValueError(f"{name} must be RECORD_DTYPE records, not {recs.dtype}")
    fields = ["rt0" if clock == "realtime" else clock for clock in clocks]
    # As int64 matrices, a column per field: indexing a structured array costs microseconds
    # per field and per fancy index, which is most of the cost of a live frame's batch.
    ns_words, host_words = _words(ns_records), _words(host_records)
    # A sandwich with rt1 < rt0 straddles REALTIME being set backwards: it bounds nothing.
    sane = ns_words[:, _RT1] >= ns_words[:, _RT0]
    index = np.arange(len(ns_words)) if sane.all() else np.flatnonzero(sane)
    ns = ns_words if len(index) == len(ns_words) else ns_words[index]
    nmid = ns[:, _RT0] + (ns[:, _RT1] - ns[:, _RT0]) // 2
    offset: np.ndarray | None = None     # made on first use (most often: never, see below)
    err: np.ndarray | None = None
    # A coarse clock's bound is a tick, or the longest lag actually seen if a tick came late.
    given = resolution_ns or {}
    res = np.array([float(max(given.get(clock) or 0, estimate_resolution(
        ns_records, host_records, clock, round_up=given.get(clock) is None)))
        if clock in COARSE_CLOCKS else 0.0 for clock in clocks])
    coarse = np.array([clock in COARSE_CLOCKS for clock in clocks])
    host_sane = host_words[:, _RT1] >= host_words[:, _RT0]
    for mask, members in _host_groups(host_words, host_sane, fields):
        host = host_words if mask is None else host_words[mask]
        host = _without_wide_sandwiches(host)
        if len(host) < 2 or len(ns) == 0:
            continue
        hmid = host[:, _RT0] + (host[:, _RT1] - host[:, _RT0]) // 2
        if np.any(np.diff(hmid) < 0):  # REALTIME was set backwards mid-run: keep time order
            order = np.argsort(hmid, kind="stable")
            host, hmid = host[order], hmid[order]
        j = np.searchsorted(hmid, nmid, side="right") - 1
        j[nmid == hmid[-1]] = len(hmid) - 2      # the last host midpoint closes the last bracket
        inside = (j >= 0) & (j <= len(hmid) - 2)
        pos = None if inside.all() else np.flatnonzero(inside)   # None: every record
        if pos is not None:
            if not len(pos):
                continue
            j = j[pos]
        sub = ns if pos is None else ns[pos]
        # λ: where m_i falls between M_j and M_{j+1}, from small int64 differences.
        h_rt0, s_rt0 = host[:, _RT0], sub[:, _RT0]
        v = (host[:, _RT1] - h_rt0) / 2.0
        w = (sub[:, _RT1] - s_rt0) / 2.0
        vj, vk = v[j], v[j + 1]
        num = (s_rt0 - h_rt0[j]).astype(np.float64) + (w - vj)
        den = (h_rt0[j + 1] - h_rt0[j]).astype(np.float64) + (vk - vj)
        lam = np.clip(np.divide(num, den, out=np.zeros_like(num), where=den > 0), 0.0, 1.0)
        spread = w + (1.0 - lam) * vj + lam * vk
        # Every member clock at once, a row each. Host series e = (clock − rt0) − v, kept as
        # int64 part b and float half-width v.
        cols = [_COLUMN[fields[k]] for k in members]
        b = (host[:, cols] - h_rt0[:, None]).T                   # clocks × host samples
        bj, bk = b[:, j], b[:, j + 1]
        de = (bk - bj).astype(np.float64) - (vk - vj)             # e_{j+1} − e_j
        off = (sub[:, cols].T - s_rt0 - bj).astype(np.float64) - w + vj - lam * de
        bound = spread + res[members, None]
        # a coarse series is a sawtooth: its bends are the tick, already in res
        if not coarse[members].all():
            bends = _bend_bound(b, h_rt0, v)
            bends[coarse[members]] = 0.0
            bound = bound + np.maximum(bends[:, j], bends[:, j + 1])
        missing = sub[:, cols].T == MISSING
        if missing.any():
            off[missing] = np.nan
            bound[missing] = np.nan
        if pos is None and len(members) == len(fields):
            offset, err = off, bound     # every record, every clock: the usual live frame
            continue
        if offset is None or err is None:
            offset = np.full((len(fields), len(ns)), np.nan)
            err = np.full((len(fields), len(ns)), np.nan)
        at = np.ix_(np.asarray(members, dtype=np.intp), np.arange(len(ns)) if pos is None else pos)
        offset[at], err[at] = off, bound
    if offset is None or err is None:
        offset = np.full((len(fields), len(ns)), np.nan)
        err = np.full((len(fields), len(ns)), np.nan)
    return Divergences(index, nmid, offset, err)


def _words(records: np.ndarray) -> np.ndarray:
    """``RECORD_DTYPE`` records as an int64 matrix, a column per field (a view when it can)."""
    return np.ascontiguousarray(records).view(np.int64).reshape(len(records), len(_COLUMN))


def _host_groups(host: np.ndarray, sane: np.ndarray,
                 fields: Sequence[str]) -> list[tuple[np.ndarray | None, list[int]]]:
    """The clocks (indices into ``fields``) that share the same usable host samples (rows of
    the int64 matrix ``host``), with the mask of those samples (None: all of them)."""
    groups: list[tuple[np.ndarray | None, list[int]]] = []
    for k, field in enumerate(fields):
        mask: np.ndarray | None = sane & (host[:, _COLUMN[field]] != MISSING)
        if mask is not None and mask.all():
            mask = None
        for other, members in groups:
            if (other is None and mask is None) or (
                    other is not None and mask is not None and np.array_equal(other, mask)):
                members.append(k)
                break
        else:
            groups.append((mask, [k]))
    return groups


def summary(div: Divergence, configured_ns: int | None = None) -> Summary:
    """Median offset, and p50/p99 of |measured − configured| and of the bound ``err_ns``."""
    n = len(div.offset_ns)
    if n == 0:
        nan = float("nan")
        return Summary(0, nan, nan, nan, nan, nan, nan)
    err_p50, err_p99 = (float(x) for x in np.percentile(div.err_ns, [50, 99]))
    median = float(np.median(div.offset_ns))
    if configured_ns is None:
        nan = float("nan")
        return Summary(n, median, nan, nan, err_p50, err_p99, nan)
    dev = np.abs(div.offset_ns - float(configured_ns))
    p50, p99 = (float(x) for x in np.percentile(dev, [50, 99]))
    return Summary(n, median, p50, p99, err_p50, err_p99, float(np.mean(dev <= div.err_ns)))


def estimate_resolution(ns_records: np.ndarray, host_records: np.ndarray, clock: str, *,
                        round_up: bool = True) -> int:
    """How far a coarse clock can be behind its high-resolution self, from the records; 1 ns
    for a high-resolution clock.

    The lag ``monotonic − monotonic_coarse`` within one record runs through [0, tick): the
    coarse clock holds the MONOTONIC time of the last tick (longer if a tick came late). With
    ``round_up`` the largest lag seen is rounded up to the next tick length a Linux HZ gives,
    so a short run does not understate the tick. Without MONOTONIC in the records, the longest
    tick (HZ=100) is assumed.
    """
    if clock not in COARSE_CLOCKS:
        return 1
    seen: int | None = None
    for recs in (ns_records, host_records):
        both = (recs["monotonic"] != MISSING) & (recs["monotonic_coarse"] != MISSING)
        if both.any():
            lag = int((recs["monotonic"][both] - recs["monotonic_coarse"][both]).max())
            seen = lag if seen is None else max(seen, lag)
    if seen is None:
        return _TICKS_NS[-1] if round_up else 0
    if not round_up:
        return max(seen, 0)
    return next((t for t in _TICKS_NS if t >= seen), seen)


def _without_wide_sandwiches(host: np.ndarray) -> np.ndarray:
    """Host samples (rows of an int64 record matrix) minus those whose sandwich was preempted
    (wider than WIDE_FACTOR × the median and WIDE_MIN_NS): such a sample knows its clock only
    to within milliseconds, and a free-running namespace sampler may put thousands of records
    into its two brackets. Its narrow neighbours bracket them instead (the bend term still
    watches that longer span)."""
    if len(host) < 3:
        return host
    width = host[:, _RT1] - host[:, _RT0]
    limit = max(WIDE_FACTOR * float(np.median(width)), WIDE_MIN_NS)
    keep = width <= limit
    return host if keep.all() else host[keep]


def _bend_bound(b: np.ndarray, rt0: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Per host sample k (the last axis of ``b``; a row per clock): a bound on how much the
    host series departs from a straight line through k's neighbours, where it visibly does; 0
    where the bend is within the noise.

    ``bend_k = |Δe_k − Δe_{k−1} · Δt_k / Δt_{k−1}|`` is 0 for a linear series, and the half-
    widths alone can make it as large as ``noise_k = v_{k+1} + v_k (1 + r) + v_{k−1} r``. A bend
    beyond that is real (REALTIME was stepped, or a rate changed); the change it hides is then
    at most ``bend_k + noise_k``, which is what the samples next to k get added to their bound.
    Steps smaller than the noise (a few half-widths, ~100 ns) go unnoticed.
    """
    out = np.zeros(b.shape)
    if b.shape[-1] < 3:
        return out
    dv = v[1:] - v[:-1]
    dt = (rt0[1:] - rt0[:-1]).astype(np.float64) + dv       # M_{k+1} − M_k
    de = (b[..., 1:] - b[..., :-1]).astype(np.float64) - dv  # e_{k+1} − e_k
    r = np.divide(dt[1:], dt[:-1], out=np.ones_like(dt[1:]), where=dt[:-1] > 0)
    bend = np.abs(de[..., 1:] - de[..., :-1] * r)
    noise = v[2:] + v[1:-1] * (1.0 + r) + v[:-2] * r
    out[..., 1:-1] = np.where(bend > noise, bend + noise, 0.0)
    return out


def _empty() -> Divergence:
    return Divergence(np.empty(0, np.int64), np.empty(0, np.float64), np.empty(0, np.float64))
