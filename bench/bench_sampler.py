"""The clock sampler: loop cost, reader throughput and offset error, side by side in one run.

Issue 4's goals, each printed with its ratio to an anchor measured in the same run:

* cost per record of the sampler loop (``tns_sampler_main``: REALTIME, MONOTONIC, BOOTTIME,
  MONOTONIC_RAW, MONOTONIC_COARSE, REALTIME, then a 64-byte ring write) against a plain C loop
  reading the same clocks (``tns_clock_ref_loop``): goal ≤ 1.3×. A Python loop of
  ``time.clock_gettime_ns`` over the same clocks is the naive anchor. The sampler runs once in
  this process (exact wall time) and once in a child inside a time namespace (its own REALTIME
  stamps: mean spacing of consecutive records);
* reader throughput, records/s copied into numpy by ``Ring.read`` (seqlock checks included):
  from a full ring, and live from two free-running samplers: goal ≥ 5 M/s aggregate;
* offset error: |measured − configured| p99 of MONOTONIC, BOOTTIME and MONOTONIC_RAW for a
  namespace sampled at 1 kHz against the host: goal ≤ 100 ns; the stated bound ``err`` too.

The machine is a shared 2-core VM: loop costs are the best of several interleaved rounds
(what the loop costs when nothing else runs); the mean spacing in the namespace child also
shows what preemption adds.
Run: ``python -m bench sampler`` or ``python -m bench.bench_sampler``.
"""

from __future__ import annotations

import time

import numpy as np

from bench._util import table
from timens_lab import kernel
from timens_lab.clocks.divergence import divergence, summary
from timens_lab.clocks.ring import Ring
from timens_lab.clocks.sampler import SamplerSet, clock_mask
from timens_lab.engine.lab import Lab
from timens_lab.source import SAMPLED_CLOCKS

CLOCKS = SAMPLED_CLOCKS[:4]                 # BOOTTIME_ALARM is EINVAL without an RTC
MASK = clock_mask(CLOCKS)
N_C = 2_000_000
N_PY = 200_000
ROUNDS = 5
GOAL_RATIO, GOAL_READ, GOAL_P99 = 1.3, 5e6, 100.0


def python_loop(n: int) -> float:
    """ns per record: the naive anchor, one tuple per record."""
    g = time.clock_gettime_ns
    rt, mono, boot, raw, coarse = (time.CLOCK_REALTIME, time.CLOCK_MONOTONIC,
                                   time.CLOCK_BOOTTIME, time.CLOCK_MONOTONIC_RAW, 6)
    out = []
    t = time.perf_counter_ns()
    for _ in range(n):
        out.append((g(rt), g(mono), g(boot), g(raw), g(coarse), g(rt)))
    return (time.perf_counter_ns() - t) / n


def sampler_inline(ring: Ring, n: int) -> float:
    """ns per record of tns_sampler_main itself, free-running into a 4 MiB ring, here."""
    args = kernel.sampler_args(ring.fd, MASK, 0, ring.head + n)
    t = time.perf_counter_ns()
    assert kernel.run_c_inline("tns_sampler_main", args) == 0
    return (time.perf_counter_ns() - t) / n


def sampler_in_namespace(lab: Lab) -> tuple[float, float]:
    """(mean, median) ns between consecutive records of a free-running sampler in a namespace.

    1M records through a 4 MiB ring; the last lap (65535 records, the ring's pages long since
    faulted in) is what gets measured, from the records' own REALTIME stamps.
    """
    ns = lab.namespace(monotonic="1h", boottime="2d")
    means, medians = [], []
    for _ in range(ROUNDS):
        with Ring(1 << 16) as ring:
            child = ns.start_c("tns_sampler_main",
                               kernel.sampler_args(3, MASK, 0, 1_000_000), [ring.fd])
            child.wait(30)
            d = np.diff(ring.read()["rt0"])
        means.append(float(d.mean()))
        medians.append(float(np.median(d)))
    return min(means), min(medians)


def reader_full_ring(cap: int = 1 << 20, batch: int = 1 << 16) -> float:
    """records/s through Ring.read() draining a full ring in 64 Ki-record batches (4 MiB each,
    as a reader a few frames behind a free-running sampler would); the writer is done, so this
    is the reader's own cost: copy, seqlock re-check, seq check, a fresh numpy array per call."""
    with Ring(cap) as ring:
        kernel.run_c_inline("tns_ring_pattern_main", kernel.sampler_args(ring.fd, 0, 0, cap))
        rates = []
        for _ in range(ROUNDS):
            ring._state[0] = 1  # re-read the whole lap (seq 0 is conservatively dropped)
            got = 0
            t = time.perf_counter_ns()
            while n := len(ring.read(batch)):
                got += n
            rates.append(got / (time.perf_counter_ns() - t) * 1e9)
        return max(rates)


def reader_live(lab: Lab, seconds: float = 1.0) -> tuple[float, int, int]:
    """(records/s delivered, drops, written) from a host + a namespace sampler running free."""
    ns = lab.namespace(monotonic="1h")
    with SamplerSet.start(lab, [ns], rate=None, clocks=CLOCKS) as src:
        delivered = 0
        t = time.perf_counter()
        while (elapsed := time.perf_counter() - t) < seconds:
            delivered += sum(len(r) for r in src.read().values())
            time.sleep(0.002)
        stats = src.stats()
        written = sum(s.ring.head for s in (src.host, *src.samplers.values()) if s.ring)
    return delivered / elapsed, sum(s.drops for s in stats.values()), written


def offset_errors(lab: Lab, seconds: float = 2.0) -> list[list[object]]:
    ns = lab.namespace(monotonic="1h", boottime="2d")
    with SamplerSet.start(lab, [ns], rate=1000.0, clocks=CLOCKS) as src:
        chunks: dict[str, list[np.ndarray]] = {ch.id: [] for ch in src.channels()}
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            time.sleep(0.02)
            for k, r in src.read().items():
                chunks[k].append(r)
        src.stop()
        for k, r in src.read().items():
            chunks[k].append(r)
    recs = {k: np.concatenate(v) for k, v in chunks.items()}
    rows = []
    for clock, want in (("monotonic", 3600 * 10**9), ("boottime", 2 * 86400 * 10**9),
                        ("monotonic_raw", 3600 * 10**9), ("realtime", 0)):
        s = summary(divergence(recs[ns.name], recs["host"], clock), want)
        rows.append([clock, s.n, f"{s.median_ns - want:+.1f}", f"{s.abs_err_p50_ns:.1f}",
                     f"{s.abs_err_p99_ns:.1f}", f"{s.abs_err_p99_ns / GOAL_P99:.2f}",
                     f"{s.err_p50_ns:.0f}", f"{s.err_p99_ns:.0f}", f"{s.within_bound:.4f}"])
    return rows


def main() -> None:
    py = min(python_loop(N_PY) for _ in range(3))
    # Anchor and sampler rounds interleaved, best of each (as timeit): on a shared VM the
    # minimum is the cost, everything above it is someone else's load.
    refs, inlines = [], []
    with Ring(1 << 16) as ring:
        sampler_inline(ring, N_C // 4)  # warm the ring's pages
        for _ in range(ROUNDS):
            refs.append(kernel.clock_ref_loop(N_C, MASK) / N_C)
            inlines.append(sampler_inline(ring, N_C))
    ref, inline = min(refs), min(inlines)
    with Lab() as lab:
        ns_mean, ns_median = sampler_in_namespace(lab)
        live_rate, live_drops, live_written = reader_live(lab)
        errors = offset_errors(lab)
    full = reader_full_ring()

    print(f"\ncost per record ({', '.join(CLOCKS)} between two REALTIME reads; "
          f"ratio to the plain C loop, goal <= {GOAL_RATIO}):")
    table([["Python time.clock_gettime_ns loop (naive anchor)", f"{py:.1f}", f"{py / ref:.2f}"],
           ["plain C loop, same clocks (anchor)", f"{ref:.1f}", "1.00"],
           ["sampler loop + ring write, in this process", f"{inline:.1f}", f"{inline / ref:.2f}"],
           ["sampler loop in a time namespace (child; mean)", f"{ns_mean:.1f}",
            f"{ns_mean / ref:.2f}"],
           ["  same, median spacing", f"{ns_median:.1f}", f"{ns_median / ref:.2f}"]],
          ["loop", "ns/record", "x plain C"])
    print(f"\nreader throughput into numpy (goal >= {GOAL_READ / 1e6:g} M records/s):")
    table([["Ring.read(65536) draining a full 2^20 ring", f"{full / 1e6:.1f}",
            f"{full / GOAL_READ:.1f}", "-"],
           ["live: host + 1 namespace sampler, free-running, 2 cores",
            f"{live_rate / 1e6:.1f}", f"{live_rate / GOAL_READ:.1f}",
            f"{live_drops} of {live_written}"]],
          ["reader", "M records/s", "x goal", "drops"])
    print(f"\noffset error at 1 kHz, 2 s, namespace +1h/+2d vs host (ns; goal p99 <= {GOAL_P99:g}):")
    table(errors, ["clock", "n", "median-conf", "|dev| p50", "|dev| p99", "x goal",
                   "err p50", "err p99", "in bound"])


if __name__ == "__main__":
    main()


