"""The seam between what produces clock samples and what shows or stores them.

A live sampler set (sampler.py) and a replayed recording (replay.py) both implement
:class:`Source`; live views, the CLI's summaries and the recorder consume only this protocol, so
none of them can tell the two apart except by ``mode`` and ``banner``.

One record is one REALTIME sandwich read inside one namespace (64 bytes, ``RECORD_DTYPE``):
``rt0`` REALTIME, then MONOTONIC, BOOTTIME, MONOTONIC_RAW, MONOTONIC_COARSE, BOOTTIME_ALARM, then
``rt1`` REALTIME again. Clocks that were not sampled (or that the kernel refuses, such as
BOOTTIME_ALARM without an RTC) hold ``MISSING``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Literal, Protocol, runtime_checkable

import numpy as np

#: Value of a clock field that was not read.
MISSING = np.iinfo(np.int64).min

#: Sampled clocks, in the order the C loop reads them between the two REALTIME reads.
SAMPLED_CLOCKS = ("monotonic", "boottime", "monotonic_raw", "monotonic_coarse", "boottime_alarm")

RECORD_DTYPE = np.dtype([
    ("seq", "<u8"),                # 0, 1, 2 ... per sampler; a gap is a drop
    ("rt0", "<i8"),                # CLOCK_REALTIME before, ns
    ("monotonic", "<i8"),
    ("boottime", "<i8"),
    ("monotonic_raw", "<i8"),
    ("monotonic_coarse", "<i8"),
    ("boottime_alarm", "<i8"),
    ("rt1", "<i8"),                # CLOCK_REALTIME after, ns
])
assert RECORD_DTYPE.itemsize == 64

#: Which configured offset applies to each sampled clock (time_namespaces(7): the three
#: MONOTONIC clocks share one offset; BOOTTIME_ALARM follows BOOTTIME).
OFFSET_OF_CLOCK = {
    "monotonic": "monotonic", "monotonic_raw": "monotonic", "monotonic_coarse": "monotonic",
    "boottime": "boottime", "boottime_alarm": "boottime",
}

HOST = "host"


@dataclasses.dataclass(frozen=True)
class Channel:
    """One sampled namespace (or the host reference, ``id == HOST``)."""

    id: str                           # stable key: "host", "ns1", ...
    label: str                        # as the tree names it, e.g. "ns1 +1h/+2d"
    monotonic_ns: int | None          # configured offsets (None for the host or unknown)
    boottime_ns: int | None
    rate_hz: float | None             # None: as fast as possible
    clocks: tuple[str, ...] = SAMPLED_CLOCKS
    ns_inode: int | None = None
    ns_id: int | None = None
    pid: int | None = None            # sampler process (live) or None (replay)


@dataclasses.dataclass
class ChannelStats:
    records: int = 0                  # records delivered by read()
    drops: int = 0                    # records overwritten before they were read (counted exactly)


@runtime_checkable
class Source(Protocol):
    """What live views and the recorder consume."""

    mode: Literal["live", "replay"]
    #: Shown above every view: None when live, else what is replayed and why.
    banner: str | None

    def channels(self) -> list[Channel]:
        """Every channel, host first. May grow while running (a namespace was added)."""
        ...

    def read(self) -> Mapping[str, np.ndarray]:
        """New records per channel id since the last call (RECORD_DTYPE arrays, maybe empty)."""
        ...

    def stats(self) -> Mapping[str, ChannelStats]:
        """Delivered and dropped record counts per channel."""
        ...

    def close(self) -> None:
        """Stop producing; further read() calls return nothing new."""
        ...


def configured_offset(channel: Channel, clock: str) -> int | None:
    """The offset ``channel``'s namespace was created with for ``clock`` (None: unknown); 0 for
    REALTIME, which time namespaces never offset."""
    if clock not in OFFSET_OF_CLOCK:
        return 0
    return channel.monotonic_ns if OFFSET_OF_CLOCK[clock] == "monotonic" else channel.boottime_ns
