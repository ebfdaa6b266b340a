"""`timens-lab sample` without a kernel: bad input, the report, and bounded memory."""

from __future__ import annotations

import json

import numpy as np
import pytest

from timens_lab import cli
from timens_lab.commands import sample
from timens_lab.source import HOST, MISSING, RECORD_DTYPE, SAMPLED_CLOCKS, Channel


@pytest.mark.parametrize("argv", [
    ["--rate", "-5"], ["--rate", "fast"], ["--rate", "2e6"], ["--rate", "nan"],
    ["--duration", "0"], ["--duration", "-1s"], ["--duration", "soon"],
    ["--clocks", "tai"], ["--clocks", ","],
    ["--ns", "realtime=5"], ["--ns", "monotonic"], ["--ns", "monotonic=1parsec"],
    ["--pid", "abc"], ["--pid", "0"], ["--pid", "-3"], ["--pid", "999999999"],
    ["--ns-file", "/nonexistent/ns"], ["--ns", "monotonic=1s", "--pid", "999999998"],
])
def test_bad_input_is_one_line_and_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Bad options fail with `error:` and `hint:` lines, exit 2, before any Lab is created."""
    import timens_lab.engine.lab

    def no_lab(*a: object, **k: object) -> None:
        raise AssertionError("a Lab was created for bad input")

    monkeypatch.setattr(timens_lab.engine.lab, "Lab", no_lab)
    try:
        code = cli.main(["sample", *argv])
    except SystemExit as exit_:  # argparse's own errors exit from inside
        code = exit_.code
    assert code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "Traceback" not in err
    assert [line.split(":")[0] for line in err.splitlines()[-2:]] == ["error", "hint"]


def _recs(n: int, offset: int, seq0: int = 0) -> np.ndarray:
    """Clocks read at sandwich midpoints; ``offset`` on the MONOTONIC clocks only."""
    t = 1_795_000_000_000_000_000 + np.arange(n, dtype=np.int64) * 1_000_000
    r = np.zeros(n, RECORD_DTYPE)
    r["seq"] = np.arange(seq0, seq0 + n)
    r["rt0"], r["rt1"] = t - 50, t + 50
    r["boottime"] = t - 1_794_000_000_000_000_000 + 5
    for name in ("monotonic", "monotonic_raw"):
        r[name] = t - 1_794_000_000_000_000_000 + offset
    r["monotonic_coarse"] = r["monotonic"] - r["monotonic"] % 4_000_000
    r["boottime_alarm"] = MISSING
    return r


def test_report_rows_per_namespace_and_clock() -> None:
    """The report names every clock, marks missing ones, and measures what it was given."""
    host_ch = Channel(HOST, "host", None, None, 1000.0, SAMPLED_CLOCKS[:4], 1, None, 10)
    ns_ch = Channel("ns1", "ns1 +1h", 3600 * 10**9, 0, 1000.0, SAMPLED_CLOCKS[:4], 2, None, 11)
    host = _recs(100, 0)
    ns = _recs(90, 3600 * 10**9)
    ns["rt0"] += 400_000
    ns["rt1"] += 400_000
    for name in ("monotonic", "boottime", "monotonic_raw", "monotonic_coarse"):
        ns[name] += 400_000
    report = sample.build_report(
        [host_ch, ns_ch], {HOST: host, "ns1": ns}, stats={HOST: (100, 0), "ns1": (90, 3)},
        late={HOST: 0, "ns1": 1}, resolution={HOST: {"monotonic_coarse": 4_000_000}},
        rate=1000.0, duration=0.1, clocks=SAMPLED_CLOCKS)
    json.dumps(report)  # plain data all the way down
    row = report["channels"][1]
    assert (row["samples"], row["drops"], row["late"]) == (90, 3, 1)
    assert set(row["offsets"]) == {"realtime", *SAMPLED_CLOCKS}
    assert row["offsets"]["boottime_alarm"]["missing"] is True
    assert row["offsets"]["monotonic"]["measured_ns"] == 3600 * 10**9
    assert row["offsets"]["boottime"]["deviation_ns"] == 0
    assert row["offsets"]["monotonic_coarse"]["err_p50_ns"] >= 4_000_000
    text = sample.format_text(report)
    assert "+3600.000000000 s" in text
    assert "boottime_alarm   MISSING" in text


def test_keeper_thins_by_seq_and_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Beyond MAX_KEEP, every channel keeps the same seqs (every 2^k-th), in order."""
    monkeypatch.setattr(sample, "MAX_KEEP", 1000)
    keep = sample._Keeper()
    for start in range(0, 10_000, 700):
        keep.add(_recs(700, 0, seq0=start))
    kept = keep.records()
    assert len(kept) <= 1000
    assert keep.stride == 16
    assert kept["seq"].tolist() == list(range(0, 10_500, 16))
