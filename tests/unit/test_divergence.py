"""The divergence estimator on synthetic records whose true offsets and read instants we know.

The model: REALTIME ``t`` is true time. The host's MONOTONIC is ``t − BOOT_RT``, its BOOTTIME
5 s more (one suspend), its MONOTONIC_RAW drifts by DRIFT_PPM against them, and its
MONOTONIC_COARSE is MONOTONIC held at the last 4 ms tick. A namespace adds its offsets.
Each clock of a record is read at its own instant inside ``[rt0, rt1]``, as the C loop does.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from timens_lab.clocks.divergence import Divergence, divergence, divergences, estimate_resolution, summary
from timens_lab.source import MISSING, RECORD_DTYPE

RT_START = 1_795_000_000_000_000_000          # REALTIME around late 2026, ns
BOOT_RT = RT_START - 1_000_000_000_000        # booted 1000 s before the run
SUSPEND = 5_000_000_000
DRIFT_PPM = 50.0
TICK = 4_000_000
HOURS = 3_600_000_000_000


def host_clock(name: str, t: np.ndarray) -> np.ndarray:
    mono = t - BOOT_RT
    if name == "monotonic":
        return mono
    if name == "boottime":
        return mono + SUSPEND
    if name == "monotonic_raw":
        return mono - np.round(mono * DRIFT_PPM * 1e-6).astype(np.int64)
    if name == "monotonic_coarse":
        return mono - (mono - 1_234_567) % TICK
    raise AssertionError(name)


def records(t: np.ndarray, width: np.ndarray, rng: np.random.Generator, *,
            mono_off: int = 0, boot_off: int = 0, step_at: int | None = None,
            step: int = 0) -> np.ndarray:
    """Sandwiches of ``width`` ns whose clocks are read at random instants inside them.

    ``step`` moves REALTIME by that much from true time ``step_at`` on (settimeofday).
    """
    out = np.zeros(len(t), RECORD_DTYPE)
    out["seq"] = np.arange(len(t))
    start = t - width
    shift = (lambda x: x + step * (x >= step_at)) if step_at is not None else (lambda x: x)
    out["rt0"], out["rt1"] = shift(start), shift(t)
    for name in ("monotonic", "boottime", "monotonic_raw", "monotonic_coarse"):
        at = start + (rng.random(len(t)) * width).astype(np.int64)
        off = boot_off if name == "boottime" else mono_off
        out[name] = host_clock(name, at) + off
    out["boottime_alarm"] = MISSING
    return out


def series(n: int, period: int, rng: np.random.Generator, jitter: int = 0,
           first: int = 0) -> np.ndarray:
    t = RT_START + first + np.arange(n, dtype=np.int64) * period
    if jitter:
        t += rng.integers(0, jitter, n)
    return t


def widths(n: int, rng: np.random.Generator, lo: int = 40, hi: int = 200) -> np.ndarray:
    return rng.integers(lo, hi, n).astype(np.int64)


def test_constant_offsets_recovered_within_the_bound() -> None:
    """MONOTONIC/BOOTTIME/RAW offsets come back within err for every sample, and close."""
    rng = np.random.default_rng(1)
    host = records(series(2000, 1_000_000, rng), widths(2000, rng), rng)
    t = series(1900, 1_050_000, rng, jitter=20_000, first=300_000)
    ns = records(t, widths(1900, rng), rng, mono_off=HOURS, boot_off=2 * HOURS)
    for clock, want in (("monotonic", HOURS), ("boottime", 2 * HOURS),
                        ("monotonic_raw", HOURS)):
        div = divergence(ns, host, clock)
        assert len(div.offset_ns) == 1900
        assert (np.abs(div.offset_ns - want) <= div.err_ns).all()
        assert abs(np.median(div.offset_ns) - want) < 20
        assert (div.err_ns < 400).all()  # 2 × 200 ns half-widths at most, no bends


def test_err_is_the_sum_of_half_widths_when_nothing_bends() -> None:
    """With fixed widths and a constant series, err is exactly w + v."""
    rng = np.random.default_rng(2)
    host = records(series(100, 1_000_000, rng), np.full(100, 80), rng)
    ns = records(series(50, 1_000_000, rng, first=500_000), np.full(50, 120), rng,
                 mono_off=7)
    div = divergence(ns, host, "monotonic")
    np.testing.assert_allclose(div.err_ns, 60 + 40)


def test_reads_at_the_midpoint_give_the_exact_offset() -> None:
    """When every clock is read at its sandwich midpoint, the estimate is exact."""
    t = RT_START + np.arange(10, dtype=np.int64) * 1_000_000
    host = np.zeros(10, RECORD_DTYPE)
    host["rt0"], host["rt1"] = t - 50, t + 50
    host["monotonic"] = t - BOOT_RT
    ns = host[2:8].copy()
    ns["rt0"] += 400_000
    ns["rt1"] += 400_000
    ns["monotonic"] += 400_000 + 123_456_789
    div = divergence(ns, host, "monotonic")
    np.testing.assert_array_equal(div.offset_ns, 123_456_789.0)
    np.testing.assert_array_equal(div.t_ns, ns["rt0"] + 50)


def test_realtime_divergence_is_zero_within_its_bound() -> None:
    """REALTIME is the reference: its divergence is ~0, and within err."""
    rng = np.random.default_rng(3)
    host = records(series(500, 1_000_000, rng), widths(500, rng), rng)
    ns = records(series(400, 1_000_000, rng, first=77_000), widths(400, rng), rng,
                 mono_off=HOURS)
    div = divergence(ns, host, "realtime")
    assert (np.abs(div.offset_ns) <= div.err_ns).all()
    assert abs(np.median(div.offset_ns)) < 50


def test_samples_outside_the_host_span_and_missing_values_are_left_out() -> None:
    """Namespace samples before/after the host series, or with MISSING, are not estimated."""
    rng = np.random.default_rng(4)
    host = records(series(100, 1_000_000, rng, first=10_000_000), widths(100, rng), rng)
    ns = records(series(200, 1_000_000, rng), widths(200, rng), rng, mono_off=5)
    ns["monotonic"][50] = MISSING
    div = divergence(ns, host, "monotonic")
    mids = ns["rt0"] + (ns["rt1"] - ns["rt0"]) // 2
    hmid = host["rt0"] + (host["rt1"] - host["rt0"]) // 2
    inside = (mids >= hmid[0]) & (mids <= hmid[-1])
    inside[50] = False
    np.testing.assert_array_equal(div.t_ns, mids[inside])
    assert len(divergence(ns, host, "boottime_alarm").t_ns) == 0  # all MISSING


def test_linear_drift_is_interpolated_away() -> None:
    """MONOTONIC_RAW drifts 50 ppm against REALTIME; sparse host samples still give ~0 error."""
    rng = np.random.default_rng(5)
    host = records(series(50, 100_000_000, rng), np.full(50, 60), rng)     # 10 Hz
    ns = records(series(4000, 1_000_000, rng, first=3), np.full(4000, 60), rng, mono_off=-HOURS)
    div = divergence(ns, host, "monotonic_raw")
    assert (np.abs(div.offset_ns + HOURS) <= div.err_ns).all()
    # 100 ms between host samples is 5 µs of drift: interpolation must take it out.
    assert np.max(np.abs(div.offset_ns + HOURS)) < 100


def test_a_realtime_step_is_covered_by_the_bound() -> None:
    """REALTIME set forward by 1 ms mid-run: the samples around it get a bound that covers it."""
    rng = np.random.default_rng(6)
    step_at = RT_START + 50_500_000
    host = records(series(100, 1_000_000, rng), widths(100, rng), rng,
                   step_at=step_at, step=1_000_000)
    ns = records(series(95, 1_000_000, rng, first=321_000), widths(95, rng), rng,
                 mono_off=HOURS, step_at=step_at, step=1_000_000)
    div = divergence(ns, host, "monotonic")
    dev = np.abs(div.offset_ns - HOURS)
    assert (dev <= div.err_ns).all()
    assert dev.max() > 100_000          # the step did hurt some samples ...
    assert np.median(div.err_ns) < 400  # ... but only those next to it pay in the bound


def test_a_preempted_host_sandwich_does_not_poison_its_neighbours() -> None:
    """One host sandwich stretched to 5 ms: the dense namespace samples around it keep ~100 ns
    bounds (its neighbours bracket them), and every bound still holds."""
    rng = np.random.default_rng(14)
    host = records(series(200, 100_000, rng), widths(200, rng), rng)
    host["rt0"][100] -= 5_000_000
    host["monotonic"][100] = host["rt0"][100] + 200 - BOOT_RT   # read early in the long wait
    ns = records(series(20_000, 1_000, rng, first=50_000), widths(20_000, rng), rng,
                 mono_off=HOURS)
    div = divergence(ns, host, "monotonic")
    dev = np.abs(div.offset_ns - HOURS)
    assert (dev <= div.err_ns).all()
    assert np.percentile(div.err_ns, 99.9) < 500
    assert dev.max() < 500


def test_a_backwards_step_inside_a_sandwich_is_dropped() -> None:
    """A sandwich with rt1 < rt0 (REALTIME set back while reading) is not used."""
    rng = np.random.default_rng(7)
    host = records(series(100, 1_000_000, rng), widths(100, rng), rng)
    ns = records(series(50, 1_000_000, rng, first=500_000), widths(50, rng), rng)
    ns["rt1"][10] = ns["rt0"][10] - 1_000
    div = divergence(ns, host, "monotonic")
    assert len(div.t_ns) == 49
    assert (np.abs(div.offset_ns) <= div.err_ns).all()


def test_coarse_clock_bound_is_a_tick() -> None:
    """MONOTONIC_COARSE is off by up to a tick; the bound says so (getres or estimated)."""
    rng = np.random.default_rng(8)
    host = records(series(2000, 1_000_000, rng), widths(2000, rng), rng)
    ns = records(series(2000, 1_000_000, rng, jitter=900_000), widths(2000, rng), rng,
                 mono_off=HOURS)
    assert estimate_resolution(ns, host, "monotonic_coarse") == TICK
    assert estimate_resolution(ns, host, "monotonic") == 1
    for res in (None, TICK):
        div = divergence(ns, host, "monotonic_coarse", resolution_ns=res)
        dev = np.abs(div.offset_ns - HOURS)
        assert (dev <= div.err_ns).all()
        assert dev.max() > TICK / 2          # it really is that coarse
        assert (div.err_ns < TICK + 400).all()


def test_coarse_resolution_takes_a_late_tick_into_account() -> None:
    """A tick 0.9 ms late (seen as a longer lag) widens the bound beyond clock_getres."""
    rng = np.random.default_rng(9)
    host = records(series(200, 1_000_000, rng), widths(200, rng), rng)
    host["monotonic_coarse"][100] = host["monotonic"][100] - 4_900_000
    ns = records(series(150, 1_000_000, rng, first=10_000_000), widths(150, rng), rng)
    div = divergence(ns, host, "monotonic_coarse", resolution_ns=TICK)
    assert div.err_ns.min() >= 4_900_000


def test_coarse_resolution_without_monotonic_assumes_hz_100() -> None:
    """Records without MONOTONIC give no lag to measure: the longest Linux tick is assumed."""
    rng = np.random.default_rng(10)
    host = records(series(20, 1_000_000, rng), widths(20, rng), rng)
    host["monotonic"] = MISSING
    assert estimate_resolution(host[:0], host, "monotonic_coarse") == 10_000_000


def test_huge_offsets_keep_their_precision() -> None:
    """±100 years of offset, on top of a 1.8e18 REALTIME, lose nothing to int64/float64 overflow."""
    rng = np.random.default_rng(11)
    host = records(series(100, 1_000_000, rng), np.full(100, 100), rng)
    big = 100 * 365 * 86400 * 1_000_000_000
    ns = records(series(90, 1_000_000, rng, first=400_000), np.full(90, 100), rng, mono_off=big)
    div = divergence(ns, host, "monotonic")
    assert np.max(np.abs(div.offset_ns - big)) < 1_000   # float64 spacing at 3e18 is 512 ns
    hmm = records(series(90, 1_000_000, rng, first=400_000), np.full(90, 100), rng,
                  mono_off=-(RT_START - BOOT_RT) + 1)    # monotonic just above 0
    assert np.max(np.abs(divergence(hmm, host, "monotonic").offset_ns
                         + (RT_START - BOOT_RT) - 1)) < 200


def test_unsorted_host_series_is_put_in_time_order() -> None:
    """A host series given out of order gives the same answer as the sorted one."""
    rng = np.random.default_rng(12)
    host = records(series(300, 1_000_000, rng), widths(300, rng), rng)
    ns = records(series(200, 1_000_000, rng, first=50_000), widths(200, rng), rng, mono_off=9)
    shuffled = host[rng.permutation(len(host))]
    a, b = divergence(ns, host, "monotonic"), divergence(ns, shuffled, "monotonic")
    np.testing.assert_array_equal(a.offset_ns, b.offset_ns)
    np.testing.assert_array_equal(a.err_ns, b.err_ns)


def test_bad_input_is_refused() -> None:
    """Unknown clocks and foreign dtypes are ValueErrors, not silent garbage."""
    recs = np.zeros(3, RECORD_DTYPE)
    with pytest.raises(ValueError, match="unknown clock"):
        divergence(recs, recs, "tai")
    with pytest.raises(ValueError, match="RECORD_DTYPE"):
        divergence(np.zeros(3, np.int64), recs, "monotonic")


def test_too_little_data_gives_empty_results() -> None:
    """Fewer than two host samples or no namespace samples: empty arrays, NaN summary."""
    rng = np.random.default_rng(13)
    host = records(series(1, 1_000_000, rng), widths(1, rng), rng)
    div = divergence(host, host, "monotonic")
    assert (len(div.t_ns), len(div.offset_ns), len(div.err_ns)) == (0, 0, 0)
    assert div.t_ns.dtype == np.int64
    s = summary(div, 0)
    assert s.n == 0
    assert all(math.isnan(x) for x in s[1:])


def test_summary_statistics() -> None:
    """Median, p50/p99 of |measured − configured| and of err, and the in-bound fraction."""
    offsets = np.array([10.0, 12.0, 8.0, 30.0, 10.0])
    err = np.array([5.0, 5.0, 5.0, 5.0, 1.0])
    s = summary(Divergence(np.arange(5), offsets, err), configured_ns=10)
    dev = np.abs(offsets - 10)
    assert s.n == 5
    assert s.median_ns == 10.0
    assert (s.abs_err_p50_ns, s.abs_err_p99_ns) == tuple(np.percentile(dev, [50, 99]))
    assert (s.err_p50_ns, s.err_p99_ns) == tuple(np.percentile(err, [50, 99]))
    assert s.within_bound == 0.8
    unknown = summary(Divergence(np.arange(5), offsets, err))
    assert math.isnan(unknown.abs_err_p50_ns)
    assert unknown.median_ns == 10.0


@settings(max_examples=60, deadline=None, database=None)  # no writes into the checkout
@given(seed=st.integers(0, 2**32 - 1),
       host_period=st.integers(10_000, 50_000_000),
       ns_period=st.integers(10_000, 50_000_000),
       lo=st.integers(1, 500), span=st.integers(1, 5_000),
       offset=st.integers(-10**15, 10**15))
def test_bound_always_holds(seed: int, host_period: int, ns_period: int, lo: int, span: int,
                            offset: int) -> None:
    """For any rates, sandwich widths, read instants and offsets, |error| <= err."""
    rng = np.random.default_rng(seed)
    n_host = 200
    host_t = series(n_host, host_period, rng, jitter=host_period // 3)
    n_ns = max(2, (n_host * host_period) // ns_period)
    ns_t = series(min(n_ns, 2000), ns_period, rng, jitter=ns_period // 3, first=host_period)
    host = records(np.sort(host_t), widths(n_host, rng, lo, lo + span), rng)
    ns = records(np.sort(ns_t), widths(len(ns_t), rng, lo, lo + span), rng,
                 mono_off=offset, boot_off=-offset // 3)
    for clock, want in (("monotonic", offset), ("boottime", -offset // 3),
                        ("monotonic_raw", offset), ("monotonic_coarse", offset),
                        ("realtime", 0)):
        div = divergence(ns, host, clock)
        dev = np.abs(div.offset_ns - want)
        # float64 rounding of a 1e15 offset is below 0.25 ns
        assert (dev <= div.err_ns + 1e-3).all(), (clock, float((dev - div.err_ns).max()))


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), step=st.booleans(), missing=st.floats(0.0, 1.0),
       host_missing=st.sampled_from([0.0, 0.3, 1.0]), wide=st.booleans())
def test_all_clocks_at_once_equal_one_clock_at_a_time(seed: int, step: bool, missing: float,
                                                      host_missing: float, wide: bool) -> None:
    """divergences() computes what only the sandwiches decide once for every clock that shares
    the host's samples: each clock's row equals divergence() for that clock alone, NaN where
    it leaves a record out, whatever is MISSING on either side (a host lacking a clock in some
    records puts that clock in a group of its own), with a REALTIME step and preempted host
    sandwiches."""
    rng = np.random.default_rng(seed)
    host = records(series(40, 1_000_000, rng, jitter=3000), widths(40, rng), rng,
                   step_at=RT_START + 20_000_000 if step else None, step=-5_000_000)
    ns = records(series(90, 450_000, rng, jitter=2000, first=-2_000_000), widths(90, rng), rng,
                 mono_off=5 * 10**9, boot_off=7 * 10**9)
    if wide:
        host["rt0"][::7] -= 200_000
    ns["boottime"][rng.random(90) < missing] = MISSING
    host["monotonic_raw"][rng.random(40) < host_missing] = MISSING
    ns["rt1"][::11] = ns["rt0"][::11] - 1        # straddles a backwards step: dropped
    clocks = ("monotonic", "boottime", "realtime", "monotonic_raw", "monotonic_coarse",
              "boottime_alarm")
    many = divergences(ns, host, clocks, resolution_ns={"monotonic_coarse": TICK})
    assert np.all(ns["rt1"][many.used] >= ns["rt0"][many.used])
    for k, clock in enumerate(clocks):
        one = divergence(ns, host, clock, resolution_ns=TICK if clock == "monotonic_coarse" else None)
        kept = np.isfinite(many.offset_ns[k])
        assert np.array_equal(many.t_ns[kept], one.t_ns), clock
        assert np.array_equal(many.offset_ns[k][kept], one.offset_ns), clock
        assert np.array_equal(many.err_ns[k][kept], one.err_ns), clock
        assert np.array_equal(np.isnan(many.err_ns[k]), ~kept), clock
