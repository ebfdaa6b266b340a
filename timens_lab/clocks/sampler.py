"""Clock samplers: one C sampler process per time namespace, plus one on the host.

A process is in exactly one time namespace, so each namespace gets its own sampler process,
started by the engine (``TimeNamespace.start_c``; ``Lab.start_c_host`` for the host reference)
and running ``tns_sampler_main`` (csrc/02-sampler.c) until told to stop or until its parent
dies. It writes one REALTIME sandwich per tick into a shared ring (ring.py); the owner reads
the new records as numpy arrays.

>>> with Lab() as lab:                                                   # doctest: +SKIP
...     ns = lab.namespace(monotonic="1h", boottime="2d")
...     with SamplerSet.start(lab, [ns], rate=1000) as source:
...         time.sleep(1)
...         new = source.read()            # {"host": records, "ns1": records}
...     div = divergence(new["ns1"], new["host"], "monotonic")

:class:`SamplerSet` implements :class:`~timens_lab.source.Source`; the live views and the
recorder consume only that.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, Protocol, Self

import numpy as np

from .. import kernel
from ..errors import HelperDiedError, LabClosedError, SpawnError
from ..source import HOST, RECORD_DTYPE, SAMPLED_CLOCKS, Channel, ChannelStats
from .ring import MAX_CAPACITY, Control, Ring, Status

#: Highest rate accepted. The loop itself reaches several MHz with rate=None; paced, the
#: wake-up latency of clock_nanosleep (a few µs) is the limit, and missed ticks count as late.
MAX_RATE_HZ = 1_000_000.0
#: A reader should come back within this long; rings are sized for it (see default_capacity).
READ_HEADROOM_S = 4.0
#: The ring size for rate=None (as fast as possible): 64 MiB, ~0.1 s at ~7 M records/s.
FREE_RUN_CAPACITY = 1 << 20


class Launched(Protocol):
    """What a launcher returns: the engine's Child (child.py) fits."""

    pid: int
    returncode: int | None

    def poll(self) -> int | None: ...
    def kill(self) -> None: ...
    def wait(self, timeout: float | None = None) -> int: ...


class Launcher(Protocol):
    """``ns.start_c`` / ``lab.start_c_host``: run C ``fn(arg)`` in a child, fds → 3, 4, ..."""

    def __call__(self, fn: str, arg: bytes, fds: Sequence[int] = ...) -> Launched: ...


def clock_mask(clocks: Iterable[str]) -> int:
    """Bit mask for the C loop (bit i: SAMPLED_CLOCKS[i]).

    Raises:
        ValueError: a clock the sampler does not read.
    """
    mask = 0
    for name in clocks:
        if name not in SAMPLED_CLOCKS:
            raise ValueError(f"cannot sample {name!r}; choose from {', '.join(SAMPLED_CLOCKS)} "
                             "(REALTIME is always read, as the sandwich around them)")
        mask |= 1 << SAMPLED_CLOCKS.index(name)
    return mask


def period_ns(rate: float | None) -> int:
    """Nanoseconds between records for ``rate`` Hz; 0 (as fast as possible) for None or 0.

    Raises:
        ValueError: negative, NaN or above MAX_RATE_HZ.
    """
    if rate is None or rate == 0:
        return 0
    if not (isinstance(rate, int | float) and 0 < rate <= MAX_RATE_HZ):
        raise ValueError(f"rate must be in (0, {MAX_RATE_HZ:g}] Hz, or None for as fast as "
                         f"possible; not {rate!r}")
    return max(1, round(1e9 / rate))


def default_capacity(rate: float | None) -> int:
    """A power of two holding READ_HEADROOM_S seconds of records (4096 at least)."""
    if not rate:
        return FREE_RUN_CAPACITY
    want = max(4096, int(rate * READ_HEADROOM_S))
    return min(MAX_CAPACITY, 1 << (want - 1).bit_length())


class Sampler:
    """One sampler process and its ring.

    Args:
        launch: starts the C entry point; ``ns.start_c`` or ``lab.start_c_host``.
        channel: what the views call it (its ``pid`` and ``clocks`` are filled in on start).
        rate: records per second, or None for as fast as possible.
        clocks: which of SAMPLED_CLOCKS to read between the two REALTIME reads.
        capacity: ring size in records (power of two); default from the rate.
    """

    fn = "tns_sampler_main"

    def __init__(self, launch: Launcher, channel: Channel | None = None, *,
                 rate: float | None = 1000.0, clocks: Iterable[str] = SAMPLED_CLOCKS,
                 capacity: int | None = None) -> None:
        self._launch = launch
        clocks = tuple(clocks)
        self._mask = clock_mask(clocks)
        self._period = period_ns(rate)
        self.rate = float(rate) if rate else None
        self.capacity = capacity or default_capacity(rate)
        self.channel = channel or Channel(HOST, "host", None, None, self.rate, clocks)
        self.channel = dataclasses.replace(self.channel, rate_hz=self.rate, clocks=clocks)
        self.ring: Ring | None = None
        self.child: Launched | None = None
        # What stats(), late and resolution_ns say once the ring is closed.
        self._final: tuple[ChannelStats, int, dict[str, int]] = (ChannelStats(), 0, {})

    @classmethod
    def for_namespace(cls, ns: Any, **kw: Any) -> Sampler:
        """A sampler inside ``ns`` (a TimeNamespace or JoinedNamespace of a Lab); not started."""
        offsets = getattr(ns, "offsets", None)
        channel = Channel(
            id=str(getattr(ns, "name", f"time:{ns.inode}")),
            label=str(getattr(ns, "label", f"time:[{ns.inode}]")),
            monotonic_ns=getattr(offsets, "monotonic_ns", None),
            boottime_ns=getattr(offsets, "boottime_ns", None),
            rate_hz=None, ns_inode=ns.inode, ns_id=getattr(ns, "ns_id", None))
        return cls(ns.start_c, channel, **kw)

    @classmethod
    def for_host(cls, lab: Any, **kw: Any) -> Sampler:
        """The reference sampler, in the Lab helper's own time namespace; not started."""
        channel = Channel(HOST, "host", None, None, None,
                          ns_inode=getattr(lab, "host_time_ns", None))
        return cls(lab.start_c_host, channel, **kw)

    # --- lifecycle

    def start(self, timeout: float = 5.0) -> Sampler:
        """Create the ring, start the process, wait until it samples.

        Raises:
            SpawnError: the sampler exited or failed before its first record (the message
                says at which step and why).
        """
        if self.ring is not None:
            raise RuntimeError("sampler already started")
        self.ring = Ring(self.capacity)
        try:
            args = kernel.sampler_args(3, self._mask, self._period)
            self.child = self._launch(self.fn, args, [self.ring.fd])
            self._await_running(timeout)
        except BaseException:
            self.close()
            raise
        self.channel = dataclasses.replace(self.channel, pid=self.child.pid,
                                           clocks=self.ring.clocks)
        return self

    def _await_running(self, timeout: float) -> None:
        assert self.ring is not None
        assert self.child is not None
        deadline = time.monotonic() + timeout
        while True:
            status = self.ring.status
            if status in (Status.RUNNING, Status.PAUSED, Status.STOPPED):
                return
            if status == Status.FAILED:
                err, stage = self.ring.error
                raise SpawnError(f"the {self.channel.id} sampler could not "
                                 f"{kernel.SAMPLER_STAGES.get(stage, 'start')}: {_strerror(err)}",
                                 errno=err or None)
            rc = self.child.poll()
            if rc is not None:
                raise SpawnError(f"the {self.channel.id} sampler exited with status {rc} "
                                 f"before sampling ({_strerror(rc) if rc > 0 else 'killed'})")
            if time.monotonic() > deadline:
                raise SpawnError(f"the {self.channel.id} sampler did not start within "
                                 f"{timeout} s")
            time.sleep(0.0005)

    def pause(self, wait: float = 1.0) -> None:
        """Stop writing records (the process stays, waiting on a futex); resume() continues."""
        self._ring().control(Control.PAUSE)
        self._await_status(Status.PAUSED, wait)

    def resume(self) -> None:
        self._ring().control(Control.RUN)

    def request_stop(self) -> None:
        """Ask the sampler to exit, without waiting (stop() waits)."""
        if self.ring is not None and not self.ring.closed:
            self.ring.control(Control.STOP)

    def stop(self, timeout: float = 2.0) -> int | None:
        """Ask the sampler to exit and reap it (SIGKILL after ``timeout``). Records written
        before stop() stay readable until close(). Returns its exit status."""
        if self.child is None:
            return None
        self.request_stop()
        try:
            try:
                return self.child.wait(timeout)
            except TimeoutError:
                self.child.kill()
                return self.child.wait(timeout)
        except (HelperDiedError, LabClosedError):
            return None  # the helper is gone, and PR_SET_PDEATHSIG took the sampler with it

    def close(self) -> None:
        """stop(), then release the ring. Idempotent."""
        try:
            self.stop()
        finally:
            if self.ring is not None and not self.ring.closed:
                self._final = (self.stats(), self.late, self.resolution_ns)
                self.ring.close()

    def _await_status(self, want: Status, timeout: float) -> None:
        ring = self._ring()
        deadline = time.monotonic() + timeout
        while ring.status not in (want, Status.STOPPED, Status.FAILED):
            if self.child is not None and self.child.poll() is not None:
                return
            if time.monotonic() > deadline:
                return
            time.sleep(0.0002)

    # --- data

    def read(self, max_records: int | None = None) -> np.ndarray:
        """New records since the last call (RECORD_DTYPE), oldest first; never blocks."""
        if self.ring is None or self.ring.closed:
            return np.empty(0, RECORD_DTYPE)
        return self.ring.read(max_records)

    def stats(self) -> ChannelStats:
        if self.ring is None or self.ring.closed:
            return dataclasses.replace(self._final[0])
        return ChannelStats(records=self.ring.delivered, drops=self.ring.drops)

    @property
    def status(self) -> Literal["new", "running", "paused", "stopped", "failed"]:
        if self.ring is None or self.ring.closed:
            return "stopped" if self.ring is not None else "new"
        return self.ring.status.name.lower()  # type: ignore[return-value]

    @property
    def late(self) -> int:
        """Ticks the sampler skipped because it was late (rate beyond reach, or preempted)."""
        return self.ring.late if self.ring is not None and not self.ring.closed else self._final[1]

    @property
    def resolution_ns(self) -> dict[str, int]:
        """clock_getres() inside the sampler's namespace, per clock it reads."""
        if self.ring is None or self.ring.closed:
            return dict(self._final[2])
        return self.ring.resolution_ns

    @property
    def pid(self) -> int | None:
        return self.child.pid if self.child is not None else None

    def _ring(self) -> Ring:
        if self.ring is None or self.ring.closed:
            raise RuntimeError("sampler is not running (start() it first)")
        return self.ring

    def __enter__(self) -> Sampler:
        if self.ring is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        rate = f"{self.rate:g} Hz" if self.rate else "free-running"
        return f"<Sampler {self.channel.id} {rate} {self.status} pid={self.pid}>"


class SamplerSet:
    """A host reference sampler plus one sampler per namespace: a live :class:`Source`."""

    mode: Literal["live", "replay"] = "live"
    banner: str | None = None

    def __init__(self, host: Sampler, samplers: Iterable[Sampler] = ()) -> None:
        self.host = host
        self.samplers: dict[str, Sampler] = {}
        for s in samplers:
            self.add(s)

    @classmethod
    def start(cls, lab: Any, namespaces: Iterable[Any] = (), *, rate: float | None = 1000.0,
              clocks: Iterable[str] = SAMPLED_CLOCKS, capacity: int | None = None) -> Self:
        """Start the host sampler, then one per namespace (host first: it must bracket them)."""
        kw = {"rate": rate, "clocks": tuple(clocks), "capacity": capacity}
        out = cls(Sampler.for_host(lab, **kw).start())
        try:
            for ns in namespaces:
                out.add(Sampler.for_namespace(ns, **kw).start())
        except BaseException:
            out.close()
            raise
        return out

    def add(self, sampler: Sampler) -> Sampler:
        """Add a (started) sampler; its channel id must be new."""
        key = sampler.channel.id
        if key == HOST or key in self.samplers:
            raise ValueError(f"a channel named {key!r} already exists")
        self.samplers[key] = sampler
        return sampler

    def channels(self) -> list[Channel]:
        return [self.host.channel, *(s.channel for s in self.samplers.values())]

    def read(self) -> Mapping[str, np.ndarray]:
        # Namespaces first, host last: the host series then reaches past every namespace
        # record just read, so divergence() can interpolate all of them at once.
        out = {key: s.read() for key, s in self.samplers.items()}
        return {HOST: self.host.read(), **out}

    def stats(self) -> Mapping[str, ChannelStats]:
        return {HOST: self.host.stats(), **{k: s.stats() for k, s in self.samplers.items()}}

    def pause(self) -> None:
        for s in (*self.samplers.values(), self.host):
            s.pause()

    def resume(self) -> None:
        for s in (self.host, *self.samplers.values()):
            s.resume()

    def stop(self) -> None:
        """Stop every sampler, the host last (it brackets the others to the end); what they
        wrote stays readable until close()."""
        try:
            for s in self.samplers.values():
                s.request_stop()
            for s in self.samplers.values():
                s.stop()
        finally:
            self.host.stop()

    def close(self) -> None:
        """stop(), then release every ring; read() returns nothing after this."""
        try:
            self.stop()
        finally:
            for s in (*self.samplers.values(), self.host):
                s.close()

    def __enter__(self) -> SamplerSet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _strerror(err: int) -> str:
    try:
        return os.strerror(err) if err > 0 else "unknown error"
    except ValueError:
        return f"error {err}"
