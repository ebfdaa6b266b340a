"""A synthetic :class:`~timens_lab.source.Source` with known offsets: tests, benchmarks, demos.

Records are generated the way a sampler would write them (RECORD_DTYPE sandwiches: ``rt0``,
the clocks, ``rt1``), for a host channel and namespaces with configured offsets, on a shared
REALTIME timeline. Each namespace clock is the host clock plus its offset, read at a random
point inside its own sandwich, so :func:`timens_lab.clocks.divergence.divergence` must find the
configured offset back within its stated error, and a view must plot exactly that.

No kernel, no processes: the records come from a seeded generator and are handed out ``chunk``
at a time per :meth:`read`, so a test sees the same frames on every run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np

from ..offsets import format_duration
from ..source import HOST, MISSING, RECORD_DTYPE, SAMPLED_CLOCKS, Channel, ChannelStats

NSEC = 1_000_000_000
#: HZ=250 tick, for MONOTONIC_COARSE.
TICK_NS = 4_000_000


def make_records(n: int, *, t0_ns: int, period_ns: int, monotonic_ns: int, boottime_ns: int,
                 rng: np.random.Generator, origin_ns: int | None = None,
                 width_ns: tuple[int, int] = (150, 600),
                 host_mono0_ns: int = 500 * NSEC, host_boot0_ns: int = 520 * NSEC,
                 clocks: Sequence[str] = SAMPLED_CLOCKS) -> np.ndarray:
    """``n`` sandwiches every ``period_ns`` from REALTIME ``t0_ns``, clocks offset as given.

    The host's MONOTONIC reads ``host_mono0_ns`` at REALTIME ``origin_ns`` (default ``t0_ns``);
    pass the same origin for every channel of one machine.
    """
    origin = t0_ns if origin_ns is None else origin_ns
    rec = np.zeros(n, RECORD_DTYPE)
    rec["seq"] = np.arange(n, dtype=np.uint64)
    jitter = rng.integers(0, max(period_ns // 10, 1), n)
    rt0 = t0_ns + np.arange(n, dtype=np.int64) * period_ns + jitter
    width = rng.integers(width_ns[0], width_ns[1], n)
    rec["rt0"], rec["rt1"] = rt0, rt0 + width
    # Where inside the sandwich each clock was read (the unknown that err_ns bounds).
    at = rt0 + (rng.random(n) * width).astype(np.int64) - origin
    mono = host_mono0_ns + at + monotonic_ns
    boot = host_boot0_ns + at + boottime_ns
    values = {"monotonic": mono, "boottime": boot, "monotonic_raw": mono,
              "monotonic_coarse": mono - (mono % TICK_NS), "boottime_alarm": boot}
    for clock in SAMPLED_CLOCKS:
        rec[clock] = values[clock] if clock in clocks else MISSING
    return rec


class SyntheticSource:
    """Host + namespaces with configured offsets; ``chunk`` new records per channel per read()."""

    mode: Literal["live", "replay"] = "replay"

    def __init__(self, offsets: Mapping[str, tuple[int, int]], *, samples: int = 10_000,
                 chunk: int = 100, rate_hz: float = 1000.0, seed: int = 0,
                 t0_ns: int = 1_750_000_000 * NSEC,
                 banner: str | None = "synthetic data: configured offsets, no namespaces") -> None:
        """``offsets``: ``{name: (monotonic_ns, boottime_ns)}``; names become ids and labels."""
        rng = np.random.default_rng(seed)
        period = int(NSEC / rate_hz)
        self.banner = banner
        self.chunk = chunk
        self._channels = [Channel(HOST, "host", None, None, rate_hz)]
        self._records = {HOST: make_records(samples, t0_ns=t0_ns, period_ns=period,
                                            monotonic_ns=0, boottime_ns=0, rng=rng)}
        for i, (name, (mono, boot)) in enumerate(offsets.items()):
            label = f"{name} {format_duration(mono)}/{format_duration(boot)}"
            self._channels.append(Channel(name, label, mono, boot, rate_hz,
                                          ns_inode=4026532500 + i))
            # Namespaces start a little after the host, as a sampler spawned after it would.
            self._records[name] = make_records(samples, t0_ns=t0_ns + period // 3,
                                               origin_ns=t0_ns, period_ns=period,
                                               monotonic_ns=mono, boottime_ns=boot, rng=rng)
        self._pos = dict.fromkeys(self._records, 0)
        self._stats = {cid: ChannelStats() for cid in self._records}
        self._rng, self._t0, self._period, self._rate = rng, t0_ns, period, rate_hz
        self.closed = False

    def add(self, name: str, monotonic_ns: int, boottime_ns: int, samples: int) -> Channel:
        """A namespace that appears now: its records start where the host's delivery is."""
        host = self._records[HOST]
        start = int(host["rt0"][min(self._pos[HOST], len(host) - 1)])
        label = f"{name} {format_duration(monotonic_ns)}/{format_duration(boottime_ns)}"
        channel = Channel(name, label, monotonic_ns, boottime_ns, self._rate,
                          ns_inode=4026532500 + len(self._channels))
        self._channels.append(channel)
        self._records[name] = make_records(samples, t0_ns=start, origin_ns=self._t0,
                                           period_ns=self._period, monotonic_ns=monotonic_ns,
                                           boottime_ns=boottime_ns, rng=self._rng)
        self._pos[name] = 0
        self._stats[name] = ChannelStats()
        return channel

    @property
    def done(self) -> bool:
        """Everything was delivered (a view may end its run)."""
        return self.closed or all(self._pos[c] >= len(r) for c, r in self._records.items())

    def channels(self) -> list[Channel]:
        return list(self._channels)

    def read(self) -> dict[str, np.ndarray]:
        out = {}
        for cid, recs in self._records.items():
            start = self._pos[cid]
            stop = start if self.closed else min(start + self.chunk, len(recs))
            out[cid] = recs[start:stop]
            self._pos[cid] = stop
            self._stats[cid].records += stop - start
        return out

    def read_all(self) -> dict[str, np.ndarray]:
        """Everything not yet delivered, at once."""
        chunk, self.chunk = self.chunk, max(len(r) for r in self._records.values())
        try:
            return self.read()
        finally:
            self.chunk = chunk

    def stats(self) -> dict[str, ChannelStats]:
        return self._stats

    def close(self) -> None:
        self.closed = True
