"""The shared-memory ring between one sampler process and its reader.

A ring is a memfd (``memfd_create(2)``: anonymous, reachable only through its fd, so private
to this user) holding a 4 KiB header and ``capacity`` 64-byte records (``RECORD_DTYPE``). The
sampler is the only writer and never waits; :meth:`Ring.read` is the only reader and never
locks. The protocol and its memory ordering are documented once, in ``csrc/02-sampler.c``:
``head`` counts records ever written and works as a seqlock, so a record the writer overwrote
(or is overwriting) while it was being copied is discarded and counted as a drop, never
delivered torn; every delivered record's ``seq`` is checked as well.

>>> ring = Ring(4096)                     # doctest: +SKIP
>>> child = ns.start_c("tns_sampler_main", kernel.sampler_args(3, mask, 1_000_000), [ring.fd])
>>> ring.read()                           # new records since the last call, as numpy
"""

from __future__ import annotations

import enum
import fcntl
import mmap
import os
from typing import Any

import numpy as np

from .. import kernel
from ..source import RECORD_DTYPE, SAMPLED_CLOCKS

#: Largest ring we create: 2**24 records = 1 GiB of shared memory.
MAX_CAPACITY = 1 << 24
#: memfd_create(2) MFD_NOEXEC_SEAL (Linux 6.3; include/uapi/linux/memfd.h): our ring never
#: holds code, and vm.memfd_noexec may warn about memfds created without an exec policy.
_MFD_NOEXEC_SEAL = 0x0008

#: ``struct tns_ring_header`` (csrc/02-sampler.c), field by field at the same offsets;
#: tests/unit/test_ring.py checks every offset against the compiled struct.
HEADER_DTYPE = np.dtype({
    "names": ["magic", "version", "header_size", "record_size", "capacity", "head", "control",
              "status", "error", "error_stage", "pid", "clocks", "late", "period_ns", "res_ns",
              "reader_tail", "reader_drops", "reader_torn"],
    "formats": ["<u8", "<u4", "<u4", "<u4", "<u8", "<u8", "<u4",
                "<u4", "<i4", "<u4", "<i4", "<u4", "<u8", "<i8", ("<i8", (8,)),
                "<u8", "<u8", "<u8"],
    "offsets": [0, 8, 12, 16, 24, 64, 128,
                192, 196, 200, 204, 208, 216, 224, 232,
                320, 328, 336],
    "itemsize": 384,
})


class Control(enum.IntEnum):
    """The control word: what the owner asks of the sampler."""

    RUN = kernel.RING_CONTROL["run"]
    PAUSE = kernel.RING_CONTROL["pause"]
    STOP = kernel.RING_CONTROL["stop"]


class Status(enum.IntEnum):
    """The status word: what the sampler says it is doing."""

    NEW = kernel.RING_STATUS["new"]          # nobody attached yet
    RUNNING = kernel.RING_STATUS["running"]
    PAUSED = kernel.RING_STATUS["paused"]
    STOPPED = kernel.RING_STATUS["stopped"]
    FAILED = kernel.RING_STATUS["failed"]    # see error / error_stage


class Ring:
    """A sampler ring owned by this process: create, hand ``fd`` to a sampler, ``read()``.

    One reader: read() keeps the reader's position, so call it from one thread at a time.

    Args:
        capacity: records, a power of two (at most :data:`MAX_CAPACITY`). The reader must come
            back before the writer laps it: capacity / rate seconds.

    Raises:
        ValueError: capacity not a power of two in [2, MAX_CAPACITY].
        OSError: memfd_create, ftruncate or mmap failed (e.g. ENOMEM).
    """

    def __init__(self, capacity: int = 4096, *, name: str = "timens-lab-ring") -> None:
        if not (isinstance(capacity, int) and 2 <= capacity <= MAX_CAPACITY
                and capacity & (capacity - 1) == 0):
            raise ValueError(f"ring capacity must be a power of two in [2, {MAX_CAPACITY}], "
                             f"not {capacity!r}")
        self.capacity = capacity
        self.size = kernel.RING_HEADER_SIZE + capacity * kernel.RING_RECORD_SIZE
        self.fd = _memfd(name)
        self._ptr: Any = None
        try:
            os.ftruncate(self.fd, self.size)
            # fcntl(2) file seals: nobody may shrink the ring under a mapping (that would be
            # SIGBUS in the sampler) nor grow it; then no more seals can be changed.
            fcntl.fcntl(self.fd, fcntl.F_ADD_SEALS,
                        fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SEAL)
            self._mm = mmap.mmap(self.fd, self.size, mmap.MAP_SHARED,
                                 mmap.PROT_READ | mmap.PROT_WRITE)
        except BaseException:
            os.close(self.fd)
            raise
        self._hdr = np.ndarray((), HEADER_DTYPE, buffer=self._mm)
        h = self._hdr
        h["magic"], h["version"] = kernel.RING_MAGIC, kernel.RING_VERSION
        h["header_size"], h["record_size"] = kernel.RING_HEADER_SIZE, kernel.RING_RECORD_SIZE
        h["capacity"] = capacity
        h["res_ns"] = -1
        self._ptr = kernel.ring_pointer(self._mm)
        self._state = kernel.ring_reader_state()  # {tail, drops, torn}, updated in C
        self.delivered = 0

    # --- reading

    def read(self, max_records: int | None = None) -> np.ndarray:
        """New records since the last call (oldest first), at most ``max_records``.

        Never blocks and never returns a torn record; what the writer overwrote before it could
        be copied is counted in :attr:`drops` (and missing from the seq sequence).
        """
        self._check_open()
        avail = min(self.head - int(self._state[0]), self.capacity)
        if max_records is not None:
            avail = min(avail, max(0, max_records))
        if avail <= 0:
            return np.empty(0, RECORD_DTYPE)
        out = np.empty(avail, RECORD_DTYPE)
        got = kernel.ring_read(self._ptr, self.capacity, self._state, out, avail)
        self.delivered += got
        return out if got == avail else out[:got].copy()

    def read_unsafe(self, max_records: int) -> np.ndarray:
        """Tests only: copy without the head re-check or seq check (torn records get through)."""
        self._check_open()
        out = np.empty(max_records, RECORD_DTYPE)
        got = kernel.ring_read(self._ptr, self.capacity, self._state, out, max_records,
                               kernel.RING_READ_UNSAFE)
        return out[:got]

    @property
    def tail(self) -> int:
        """The seq the next read() starts from."""
        return int(self._state[0])

    @property
    def drops(self) -> int:
        """Records written but never delivered (overwritten before the reader came back)."""
        return int(self._state[1])

    @property
    def torn(self) -> int:
        """Records whose seq did not match after the copy (always 0 unless the protocol broke)."""
        return int(self._state[2])

    # --- the header

    @property
    def head(self) -> int:
        """Records the sampler has written so far. A plain load is enough here: it only sizes a
        read, and tns_ring_read loads head again with acquire before it copies anything."""
        self._check_open()
        return int(self._hdr["head"])

    def _status(self) -> kernel.RingStatus:
        # Through C, with acquire semantics: a numpy read of the header is a plain load, which
        # on a weakly ordered CPU (arm64) may see a new status with the fields of before.
        return kernel.ring_status(self._ptr)

    @property
    def status(self) -> Status:
        self._check_open()
        return Status(self._status().status)

    @property
    def error(self) -> tuple[int, int]:
        """(errno, stage) the sampler reported with Status.FAILED."""
        self._check_open()
        st = self._status()
        return st.error, st.error_stage

    @property
    def pid(self) -> int:
        self._check_open()
        return self._status().pid

    @property
    def late(self) -> int:
        """Pacing ticks the sampler skipped because it was late (preempted, or rate too high)."""
        self._check_open()
        return self._status().late

    @property
    def clocks(self) -> tuple[str, ...]:
        """The clocks the sampler actually reads (BOOTTIME_ALARM is dropped without an RTC)."""
        self._check_open()
        mask = self._status().clocks
        return tuple(c for i, c in enumerate(SAMPLED_CLOCKS) if mask >> i & 1)

    @property
    def resolution_ns(self) -> dict[str, int]:
        """clock_getres() in the sampler, for "realtime" and each sampled clock."""
        self._check_open()
        res = self._status().res_ns
        out = {"realtime": res[0]} if res[0] >= 0 else {}
        out.update({c: res[1 + i] for i, c in enumerate(SAMPLED_CLOCKS) if res[1 + i] >= 0})
        return out

    def control(self, value: Control) -> None:
        """Set the control word and wake the sampler if it is paused."""
        self._check_open()
        kernel.ring_control(self._ptr, int(value))

    # --- lifetime

    @property
    def closed(self) -> bool:
        return self._ptr is None

    def close(self) -> None:
        """Unmap and close the fd. Idempotent; samplers keep their own mapping until they exit."""
        if self._ptr is None:
            return
        kernel.ring_release(self._ptr)
        self._ptr = None
        del self._hdr  # the numpy view exports the mmap's buffer; it must go before close()
        self._mm.close()
        os.close(self.fd)
        self.fd = -1

    def _check_open(self) -> None:
        if self._ptr is None:
            raise ValueError("ring is closed")

    def __enter__(self) -> Ring:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_ptr", None) is not None:
            self.close()

    def __repr__(self) -> str:
        if self.closed:
            return "<Ring closed>"
        return (f"<Ring capacity={self.capacity} head={self.head} tail={self.tail} "
                f"drops={self.drops} {self.status.name.lower()}>")


def _memfd(name: str) -> int:
    flags = os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING
    try:
        return os.memfd_create(name, flags | _MFD_NOEXEC_SEAL)
    except OSError as err:
        if err.errno != 22:  # EINVAL: a kernel before 6.3 does not know MFD_NOEXEC_SEAL
            raise
        return os.memfd_create(name, flags)
