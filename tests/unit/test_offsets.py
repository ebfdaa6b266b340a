"""Offsets and durations: parsing, formatting and the timens_offsets grammar (no privilege)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from timens_lab.errors import InvalidOffsetError, OffsetRangeError
from timens_lab.offsets import (
    KTIME_SEC_MAX,
    NSEC,
    RANGE_MAX_SEC,
    Offsets,
    format_duration,
    parse_duration,
)

# The kernel's own parse of a line (proc_timens_set_offset, fs/proc/base.c): what from_proc must accept.
PROC_LINE = re.compile(r"^(monotonic|boottime)\s+(-?\d+)\s+(\d+)$")


@pytest.mark.parametrize(("text", "ns"), [
    ("3600", 3600 * NSEC), ("-1.5h", -5400 * NSEC), ("90ms", 90_000_000), ("2d3h", 183600 * NSEC),
    ("1e-6s", 1000), ("+1h", 3600 * NSEC), ("1h 30m", 5400 * NSEC), ("1.5", 1_500_000_000),
    ("250us", 250_000), ("7ns", 7), ("1w", 7 * 86400 * NSEC), ("1y", 365 * 86400 * NSEC),
    ("\u22125s", -5 * NSEC), (3600, 3600 * NSEC), (-2.5, -2_500_000_000), ("0", 0),
])
def test_parse_duration(text: str | int | float, ns: int) -> None:
    assert ns == parse_duration(text)


@pytest.mark.parametrize("text", ["abc", "", "h", "1h2", "--1", "1.5ns", "nan", "inf", "1 2", "0x10",
                                  "1e-10s", "realtime=5", True])
def test_bad_durations_are_invalid(text: object) -> None:
    with pytest.raises(InvalidOffsetError):
        parse_duration(text)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["1e30s", "1e999999999s", f"{KTIME_SEC_MAX + 1}", "300y"])
def test_durations_beyond_the_kernel_are_range_errors(text: str) -> None:
    with pytest.raises(OffsetRangeError):
        parse_duration(text)


@given(st.integers(min_value=-KTIME_SEC_MAX * NSEC, max_value=KTIME_SEC_MAX * NSEC))
def test_format_then_parse_round_trips(ns: int) -> None:
    """Every label we print parses back to the same nanoseconds."""
    assert ns == parse_duration(format_duration(ns).replace("\u2212", "-"))


@given(st.integers(-KTIME_SEC_MAX * NSEC, KTIME_SEC_MAX * NSEC),
       st.integers(-KTIME_SEC_MAX * NSEC, KTIME_SEC_MAX * NSEC))
def test_to_proc_is_the_kernel_grammar_and_round_trips(mono: int, boot: int) -> None:
    """Signed seconds, unsigned nanoseconds below 1e9, two lines; from_proc inverts it."""
    off = Offsets(mono, boot)
    text = off.to_proc()
    lines = text.splitlines()
    assert len(lines) == 2
    for line, clock in zip(lines, ("monotonic", "boottime"), strict=True):
        m = PROC_LINE.match(line)
        assert m is not None
        assert m.group(1) == clock
        assert 0 <= int(m.group(3)) < NSEC
    assert off == Offsets.from_proc(text)


def test_from_proc_reads_the_kernels_exact_bytes() -> None:
    """The bytes Linux 6.18 printed for `monotonic -10 500000000 / boottime 12345 6` (B10)."""
    text = "monotonic         -10 500000000\nboottime        12345         6\n"
    assert Offsets(-9_500_000_000, 12345 * NSEC + 6) == Offsets.from_proc(text)
    assert Offsets(-9_500_000_000).to_proc() == "monotonic -10 500000000\nboottime 0 0\n"


def test_only_selected_clocks_are_written() -> None:
    assert Offsets(NSEC, 2 * NSEC).to_proc(("boottime",)) == "boottime 2 0\n"


@pytest.mark.parametrize(("spec", "expected"), [
    ("monotonic=1h,boottime=2d", (3600 * NSEC, 172800 * NSEC)),
    ("boottime=-5s", (None, -5 * NSEC)),
    ("MONOTONIC=1", (NSEC, None)),
])
def test_parse_spec(spec: str, expected: tuple[int | None, int | None]) -> None:
    assert expected == Offsets.parse_spec(spec)


@pytest.mark.parametrize("spec", ["realtime=5", "monotonic", "tai=1s", "monotonic=abc"])
def test_bad_specs(spec: str) -> None:
    with pytest.raises(InvalidOffsetError) as info:
        Offsets.parse_spec(spec)
    assert info.value.hint


def test_range_check_mirrors_the_kernel_rule() -> None:
    """host + offset must stay in [0, KTIME_SEC_MAX/2] (kernel/time/namespace.c)."""
    host = 500 * NSEC
    Offsets(-500 * NSEC).check_range(host, host)
    with pytest.raises(OffsetRangeError, match="before zero"):
        Offsets(-500 * NSEC - 1).check_range(host, host)
    Offsets(0, (RANGE_MAX_SEC - 500) * NSEC + NSEC - 1).check_range(host, host)
    with pytest.raises(OffsetRangeError, match="KTIME_SEC_MAX"):
        Offsets(0, (RANGE_MAX_SEC - 499) * NSEC).check_range(host, host)
    # Only the clocks being written are checked.
    Offsets(-10**6 * NSEC, 0).check_range(host, host, clocks=("boottime",))


@pytest.mark.parametrize(("ns", "label"), [
    (3600 * NSEC, "+1h"), (-5 * NSEC, "\u22125s"), (183600 * NSEC, "+2d3h"), (90_000_000, "+90ms"),
    (1_500_000_000, "+1.5s"), (0, "0"), (1, "+1ns"), (365 * 86400 * NSEC, "+1y"),
])
def test_format_duration(ns: int, label: str) -> None:
    assert label == format_duration(ns)


# --- Offsets are checked at construction (issue 14, item 11)

@pytest.mark.parametrize(("value", "ns"), [
    (5, 5), (-7, -7), ("1h", 3600 * NSEC), ("-90ms", -90_000_000), ("1.5s", 1_500_000_000),
    ("12ns", 12), (KTIME_SEC_MAX * NSEC, KTIME_SEC_MAX * NSEC),
])
def test_offsets_take_integer_ns_or_durations_with_a_unit(value: object, ns: int) -> None:
    off = Offsets(value, value)  # type: ignore[arg-type]
    assert (off.monotonic_ns, off.boottime_ns) == (ns, ns)
    assert type(off.monotonic_ns) is int


def test_offsets_take_numpy_integers() -> None:
    np = pytest.importorskip("numpy")
    off = Offsets(np.int64(3), np.int32(-4))
    assert (off, type(off.monotonic_ns)) == (Offsets(3, -4), int)


@pytest.mark.parametrize("value", [1.9, 1.0, True, False, float("nan"), float("inf"), None,
                                   [1], b"1h", object()])
def test_offsets_refuse_what_is_not_integer_ns(value: object) -> None:
    """No truncation (1.9 was 1 ns), no bool (True was 1 ns), no nan/inf reaching the helper:
    an OffsetTypeError, which is a TypeError and an InvalidOffsetError with a hint."""
    from timens_lab.errors import OffsetTypeError

    for args in ((value, 0), (0, value)):
        with pytest.raises(OffsetTypeError) as info:
            Offsets(*args)  # type: ignore[arg-type]
        assert isinstance(info.value, TypeError) and isinstance(info.value, InvalidOffsetError)
        assert info.value.hint


@pytest.mark.parametrize("value", ["3600", "1.5", "abc", "", "nan", "1 parsec"])
def test_offsets_refuse_strings_without_a_unit_or_meaning(value: str) -> None:
    """A bare number in a string is ambiguous in an ns field (parse_duration reads seconds)."""
    with pytest.raises(InvalidOffsetError) as info:
        Offsets(value, 0)
    assert info.value.hint


@pytest.mark.parametrize("value", [10**30, -(10**30), (KTIME_SEC_MAX + 1) * NSEC, "1e12y"])
def test_offsets_beyond_the_kernel_are_range_errors(value: object) -> None:
    with pytest.raises(OffsetRangeError):
        Offsets(value, 0)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), True, None, [],
                                   object(), b"1h"])
def test_parse_duration_refuses_non_durations(value: object) -> None:
    """lab.namespace(monotonic=nan) and friends: typed, before the helper is asked."""
    with pytest.raises(InvalidOffsetError) as info:
        parse_duration(value)  # type: ignore[arg-type]
    assert info.value.hint


def test_parse_duration_reads_numpy_integers_as_seconds() -> None:
    np = pytest.importorskip("numpy")
    assert parse_duration(np.int64(2)) == 2 * NSEC


class TestLabOffsetsArgument:
    """Lab.namespace(offsets=...): exact nanoseconds, checked before anything is sent."""

    def test_offsets_and_pairs_are_nanoseconds(self) -> None:
        """An Offsets gives both clocks; a pair keeps None (inherit); durations stay seconds."""
        from timens_lab.engine._args import offsets_ns

        assert offsets_ns(None, None, Offsets(5, -7)) == (5, -7)
        assert offsets_ns(None, None, (None, 9)) == (None, 9)
        assert offsets_ns(3, None, None) == (3 * NSEC, None)

    @pytest.mark.parametrize("bad", [(True, 0), (1.5, None), (1, 2, 3), "1h", 5])
    def test_bad_values_are_typed_errors(self, bad: object) -> None:
        """A bool, a float, a wrong-sized pair or a non-pair is an OffsetTypeError."""
        from timens_lab.engine._args import offsets_ns
        from timens_lab.errors import OffsetTypeError

        with pytest.raises(OffsetTypeError):
            offsets_ns(None, None, bad)  # type: ignore[arg-type]

    def test_not_both_ways(self) -> None:
        """offsets= with monotonic= is refused rather than one silently winning."""
        from timens_lab.engine._args import offsets_ns
        from timens_lab.errors import InvalidArgumentError

        with pytest.raises(InvalidArgumentError):
            offsets_ns("1h", None, Offsets(1, 1))
