"""The sampler ring: layout, lifecycle, control word, exact drops and no torn reads.

The writer here is ``tns_ring_pattern_main``: the sampler's own loop and ring protocol, but
every field of record ``seq`` is ``seq * 8 + k + 1``, so a record mixing two writes is caught
field by field. It runs in a child forked by ``tns_spawn`` (no namespace, no privilege).
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
from collections.abc import Iterator

import numpy as np
import pytest
from timens_lab._timens import ffi, lib

from timens_lab import kernel
from timens_lab.clocks.ring import HEADER_DTYPE, Control, Ring, Status
from timens_lab.source import RECORD_DTYPE

FIELDS = RECORD_DTYPE.names[1:]


class _Child:
    """A forked C child of this test process (the engine's Child has the same shape)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = time.monotonic() + (timeout if timeout is not None else 1e9)
        while self.poll() is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"pid {self.pid} still running")
            time.sleep(0.001)
        assert self.returncode is not None
        return self.returncode

    def kill(self) -> None:
        if self.poll() is None:
            os.kill(self.pid, 9)


@pytest.fixture
def spawn() -> Iterator[object]:
    """Start ``fn(arg)`` in a forked child with fds renumbered to 3, 4, ...; reaped at the end."""
    children: list[_Child] = []

    def launch(fn: str, arg: bytes, fds: list[int]) -> _Child:
        req = ffi.new("struct tns_spawn *")
        req.userns_fd = req.timens_fd = req.hold_fd = -1
        req.map_uid = req.map_gid = -1
        req.stdio = [-1, -1, -1]
        keep = ffi.new("int[]", fds or [0])
        req.keep_fds, req.n_keep_fds = keep, len(fds)
        buf = ffi.new("char[]", arg)
        req.fn = ffi.cast("int (*)(void *)", ffi.addressof(lib, fn))
        req.arg = buf
        stage = ffi.new("int *")
        pid = lib.tns_spawn(req, stage)
        assert pid > 0, (pid, stage[0])
        children.append(_Child(pid))
        return children[-1]

    yield launch
    for child in children:
        child.kill()
        child.wait(5)


def pattern_ok(recs: np.ndarray) -> np.ndarray:
    """Per record: does every field match its seq (no mix of two writes)?"""
    seq = recs["seq"].astype(np.int64)
    ok = np.ones(len(recs), bool)
    for k, name in enumerate(FIELDS):
        ok &= recs[name] == seq * 8 + k + 1
    return ok


def start_pattern(spawn: object, ring: Ring, *, period_ns: int = 0, max_records: int = 0) -> _Child:
    args = kernel.sampler_args(3, 0b11111, period_ns, max_records)
    child = spawn("tns_ring_pattern_main", args, [ring.fd])  # type: ignore[operator]
    deadline = time.monotonic() + 5
    while ring.status == Status.NEW and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.0005)
    return child


def test_header_layout_matches_c() -> None:
    """Every HEADER_DTYPE field sits at the offset the compiled struct has."""
    c = kernel.ring_header_offsets()
    assert c == {name: HEADER_DTYPE.fields[name][1] for name in c}
    assert RECORD_DTYPE.itemsize == kernel.RING_RECORD_SIZE
    assert HEADER_DTYPE.itemsize <= kernel.RING_HEADER_SIZE


def test_new_ring_header_and_fd() -> None:
    """A new ring is a sealed, close-on-exec memfd of header + capacity records, empty."""
    with Ring(256) as ring:
        assert os.fstat(ring.fd).st_size == kernel.RING_HEADER_SIZE + 256 * 64
        assert fcntl.fcntl(ring.fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC
        seals = fcntl.fcntl(ring.fd, fcntl.F_GET_SEALS)
        want = fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SEAL
        assert want == seals & want
        assert os.readlink(f"/proc/self/fd/{ring.fd}").startswith("/memfd:timens-lab-ring")
        assert (ring.head, ring.tail, ring.status) == (0, 0, Status.NEW)
        assert len(ring.read()) == 0
        assert ring.read().dtype == RECORD_DTYPE


def test_close_releases_everything() -> None:
    """close() closes the fd, is idempotent, and read() afterwards is an error."""
    ring = Ring(4)
    fd = ring.fd
    ring.close()
    ring.close()
    with pytest.raises(OSError) as err:
        os.fstat(fd)
    assert err.value.errno == errno.EBADF
    with pytest.raises(ValueError, match="closed"):
        ring.read()


@pytest.mark.parametrize("capacity", [0, 1, 3, 100, 1 << 25, 4.0])
def test_capacity_must_be_a_power_of_two(capacity: object) -> None:
    """Capacities the slot arithmetic cannot use are refused before anything is created."""
    before = set(os.listdir("/proc/self/fd"))
    with pytest.raises(ValueError, match="power of two"):
        Ring(capacity)  # type: ignore[arg-type]
    assert before == set(os.listdir("/proc/self/fd"))


def test_everything_written_is_read_once_in_order(spawn: object) -> None:
    """Below capacity, every record arrives exactly once, intact, in seq order, 0 drops."""
    with Ring(4096) as ring:
        child = start_pattern(spawn, ring, max_records=3000)
        assert child.wait(5) == 0
        got = np.concatenate([ring.read(1000), ring.read(), ring.read()])
        assert list(range(3000)) == got["seq"].tolist()
        assert pattern_ok(got).all()
        assert (ring.head, ring.drops, ring.torn, ring.delivered) == (3000, 0, 0, 3000)
        assert ring.status == Status.STOPPED


def test_stalled_reader_counts_drops_exactly(spawn: object) -> None:
    """A reader that comes back after 10 laps gets the newest records and counts the rest."""
    cap, total = 1024, 10 * 1024 + 7
    with Ring(cap) as ring:
        assert start_pattern(spawn, ring, max_records=total).wait(5) == 0
        got = ring.read()
        # The slot of seq head - cap may be under rewrite when the writer runs, so a full lap
        # always gives up that one record: cap - 1 survive.
        assert list(range(total - cap + 1, total)) == got["seq"].tolist()
        assert pattern_ok(got).all()
        assert total == ring.delivered + ring.drops
        assert (total - cap + 1, 0) == (ring.drops, ring.torn)
        assert len(ring.read()) == 0


def test_racing_writer_never_delivers_a_torn_record(spawn: object) -> None:
    """A free-running writer lapping a tiny ring: drops happen, torn records never do."""
    with Ring(64) as ring:
        child = start_pattern(spawn, ring)
        chunks = []
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            chunks.append(ring.read())
        ring.control(Control.STOP)
        assert child.wait(5) == 0
        chunks.append(ring.read())
        got = np.concatenate(chunks)
        assert pattern_ok(got).all()
        assert (np.diff(got["seq"].astype(np.int64)) > 0).all()
        assert ring.head == ring.delivered + ring.drops
        assert ring.torn == 0
        assert ring.drops > 0  # the writer did lap the reader, so the discard path ran


def test_unsafe_reads_do_tear(spawn: object) -> None:
    """Without the head re-check the same race delivers mixed records: the check above bites."""
    with Ring(64) as ring:
        child = start_pattern(spawn, ring)
        torn = 0
        deadline = time.monotonic() + 5
        while torn == 0 and time.monotonic() < deadline:
            torn = int((~pattern_ok(ring.read_unsafe(64))).sum())
        ring.control(Control.STOP)
        child.wait(5)
        assert torn > 0


def test_pause_resume_stop(spawn: object) -> None:
    """PAUSE halts writing (status PAUSED), RUN resumes it, STOP ends the child with 0."""
    with Ring(4096) as ring:
        child = start_pattern(spawn, ring, period_ns=1_000_000)
        assert ring.status == Status.RUNNING
        ring.control(Control.PAUSE)
        _wait_for(lambda: ring.status == Status.PAUSED)
        head = ring.head
        time.sleep(0.05)
        assert head == ring.head
        ring.control(Control.RUN)
        _wait_for(lambda: ring.head > head + 5)
        assert ring.status == Status.RUNNING
        ring.control(Control.STOP)
        assert child.wait(5) == 0
        assert ring.status == Status.STOPPED
        got = ring.read()
        assert got["seq"].tolist() == list(range(ring.head))


def test_stop_is_prompt_at_low_rates(spawn: object) -> None:
    """At 1 Hz the sampler still notices STOP within its 50 ms sleep slice, not after 1 s."""
    with Ring(4096) as ring:
        child = start_pattern(spawn, ring, period_ns=1_000_000_000)
        time.sleep(0.05)
        ring.control(Control.STOP)
        assert child.wait(0.5) == 0


def test_writer_refuses_a_foreign_file(spawn: object) -> None:
    """A sampler handed something that is not a ring exits with EPROTO and writes nothing."""
    fd = os.memfd_create("not-a-ring", os.MFD_CLOEXEC)
    try:
        os.ftruncate(fd, 8192)
        child = spawn("tns_ring_pattern_main", kernel.sampler_args(3, 1, 0), [fd])  # type: ignore[operator]
        assert child.wait(5) == errno.EPROTO
        assert bytes(8192) == os.pread(fd, 8192, 0)
    finally:
        os.close(fd)


def test_writer_reports_a_bad_header(spawn: object) -> None:
    """Our magic with a capacity the file cannot hold: FAILED with EPROTO at the header stage."""
    with Ring(16) as ring:
        ring._hdr["capacity"] = 1 << 20
        child = spawn("tns_ring_pattern_main", kernel.sampler_args(3, 1, 0), [ring.fd])  # type: ignore[operator]
        assert child.wait(5) == errno.EPROTO
        assert (ring.status, ring.error) == (Status.FAILED, (errno.EPROTO, 2))


def _wait_for(cond: object, timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.001)


def test_reader_ignores_a_corrupted_header_capacity(spawn: object) -> None:
    """The reader addresses slots with its own capacity, not the one a sampler could scribble."""
    with Ring(64) as ring:
        assert start_pattern(spawn, ring, max_records=40).wait(5) == 0
        ring._hdr["capacity"] = 1 << 40
        got = ring.read()
        assert got["seq"].tolist() == list(range(40))
        assert pattern_ok(got).all()


def test_status_line_is_read_in_c_with_acquire(spawn: object, monkeypatch: pytest.MonkeyPatch) -> None:
    """status, error, clocks, pid, late and resolutions come from one tns_ring_status() call
    (an acquire load of status, then the fields the sampler published before it), never from
    plain numpy loads; the snapshot agrees with a second, direct reading of the header."""
    calls = []
    real = kernel.ring_status

    def counting(ptr: object) -> kernel.RingStatus:
        calls.append(1)
        return real(ptr)

    with Ring(4096) as ring:
        child = start_pattern(spawn, ring, period_ns=1_000_000, max_records=20)
        assert child.wait(5) == 0
        monkeypatch.setattr(kernel, "ring_status", counting)
        assert ring.status == Status.STOPPED
        assert ring.error == (0, 0)
        assert ring.clocks == ("monotonic", "boottime", "monotonic_raw", "monotonic_coarse",
                               "boottime_alarm")
        assert ring.pid == child.pid
        assert ring.late >= 0 and ring.resolution_ns
        assert len(calls) == 6
        snap = real(ring._ptr)
        hdr = ring._hdr
        assert (snap.status, snap.error, snap.error_stage, snap.pid, snap.clocks, snap.late,
                snap.period_ns, list(snap.res_ns), snap.head) == (
            int(hdr["status"]), int(hdr["error"]), int(hdr["error_stage"]), int(hdr["pid"]),
            int(hdr["clocks"]), int(hdr["late"]), int(hdr["period_ns"]),
            [int(x) for x in hdr["res_ns"]], int(hdr["head"]))
    with pytest.raises(ValueError, match="closed"):
        _ = ring.status


@pytest.mark.parametrize("arg", [b"", b"\x03", bytes(31), bytes(33), bytes(4096)])
def test_sampler_argument_must_be_its_struct(arg: bytes) -> None:
    """tns_sampler_main copies a whole struct tns_sampler_args from its argument: any other
    length is refused before a process starts (before: it read 32 bytes of whatever followed)."""
    import base64

    from timens_lab.engine._helper_ops import Ops
    from timens_lab.errors import InvalidArgumentError

    assert lib.tns_entry_arg_size(b"tns_sampler_main") == len(kernel.sampler_args(3, 1, 0)) == 32
    for fn in ("tns_sampler_main", "tns_ring_pattern_main"):
        with pytest.raises(InvalidArgumentError, match="reads 32 bytes"):
            kernel.check_entry_arg(fn, arg)
        with pytest.raises(InvalidArgumentError, match="reads 32 bytes"):
            Ops().op_start_c({"fn": fn, "arg": base64.b64encode(arg).decode()}, [])
    kernel.check_entry_arg("tns_sampler_main", kernel.sampler_args(3, 1, 0))
    kernel.check_entry_arg("tns_tut_clocks_main", arg)  # a string argument: any length
