"""sample: sample clocks inside time namespaces, new or existing, and report their measured offsets."""

from __future__ import annotations

import argparse
import errno
import json
import math
import os
import shutil
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

import numpy as np

from ..clocks.divergence import divergence, summary
from ..offsets import Offsets, format_duration
from ..source import HOST, RECORD_DTYPE, Channel, configured_offset
from ._options import add_rootless, add_sampling

EPILOG = """\
examples:
  timens-lab sample --ns monotonic=1h,boottime=2d --ns monotonic=-5s
  timens-lab sample --ns monotonic=3600,boottime=7200 --duration 2 --json
  timens-lab sample --ns boottime=1d --rate 10000 --clocks boottime

One sampler process runs in each namespace and one on the host, reading REALTIME, the chosen
clocks, then REALTIME again at --rate. REALTIME is not virtualized, so it is the common
reference: each offset is measured against the host at the same REALTIME instant. "err" is a
per-sample bound (sandwich half-widths, interpolation, and a tick for MONOTONIC_COARSE);
"|dev|" is how far each sample is from the configured offset. Drops are records the reader
lost (counted exactly); "late" are ticks the sampler missed.
"""

#: Records kept per channel for the summary; beyond it every other record is dropped from
#: the statistics (by seq, so all channels thin out alike). Drop counts stay exact.
MAX_KEEP = 500_000
READ_INTERVAL_S = 0.02


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    about = __doc__.split(": ", 1)[1]
    p = sub.add_parser("sample", help=about, description=about, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_sampling(p, rate=1000.0, duration=2.0, verb="sample")
    p.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    add_rootless(p, plural=True)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    specs = [Offsets.parse_spec(spec) for spec in args.ns]  # bad input fails before any process
    from ..engine.lab import Lab
    from ..errors import NoSuchNamespaceError, PendingNamespaceError
    from ._options import check_existing, join_existing

    try:
        check_existing(args)
        with Lab(rootless=args.rootless) as lab:
            namespaces: list[Any] = [lab.namespace(offsets=spec) for spec in specs]
            namespaces += join_existing(lab, args)
            return _sample(args, lab, namespaces)
    except (NoSuchNamespaceError, PendingNamespaceError) as err:  # bad input: exit 2
        from ._errors import UsageError

        raise UsageError.of(err) from err


def _sample(args: argparse.Namespace, lab: Any, namespaces: list[Any]) -> int:
    from ..session.sampling import samplers as start_samplers

    interrupted = False
    with start_samplers(lab, namespaces, rate=args.rate, clocks=args.clocks) as source:
        keep = {ch.id: _Keeper() for ch in source.channels()}
        progress = _Progress(sys.stderr, args.duration, source)
        start = time.monotonic()
        try:
            while (elapsed := time.monotonic() - start) < args.duration:
                time.sleep(min(READ_INTERVAL_S, max(0.0, args.duration - elapsed)))
                for key, recs in source.read().items():
                    keep[key].add(recs)
                progress.update(time.monotonic() - start)
        except KeyboardInterrupt:
            interrupted = True
        elapsed = time.monotonic() - start
        source.stop()  # namespace samplers first, the host last: it brackets them
        for key, recs in source.read().items():
            keep[key].add(recs)
        progress.done()
        samplers = {HOST: source.host, **source.samplers}
        report = build_report(
            source.channels(), {k: v.records() for k, v in keep.items()},
            stats={k: (s.records, s.drops) for k, s in source.stats().items()},
            late={k: s.late for k, s in samplers.items()},
            resolution={k: s.resolution_ns for k, s in samplers.items()},
            rate=args.rate, duration=elapsed, clocks=args.clocks)
    report["interrupted"] = interrupted
    if args.json:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
    else:
        sys.stdout.write(format_text(report))
    return 130 if interrupted else 0


# --- the report


def build_report(channels: Sequence[Channel], records: Mapping[str, np.ndarray], *,
                 stats: Mapping[str, tuple[int, int]], late: Mapping[str, int],
                 resolution: Mapping[str, Mapping[str, int]], rate: float | None,
                 duration: float, clocks: Sequence[str]) -> dict[str, Any]:
    """Everything the text and JSON outputs show, as plain data."""
    host = records[HOST]
    out: dict[str, Any] = {"rate_hz": rate, "duration_s": round(duration, 6), "channels": []}
    for ch in channels:
        recs = records[ch.id]
        width = (recs["rt1"] - recs["rt0"]) if len(recs) else np.zeros(1)
        row: dict[str, Any] = {
            "id": ch.id, "label": ch.label, "ns_inode": ch.ns_inode, "pid": ch.pid,
            "samples": stats[ch.id][0], "drops": stats[ch.id][1], "late": late.get(ch.id, 0),
            "used": len(recs),
            "sandwich_ns": {"p50": float(np.percentile(width, 50)),
                            "p99": float(np.percentile(width, 99))},
            "resolution_ns": dict(resolution.get(ch.id, {})),
        }
        if ch.id != HOST:
            row["configured"] = {"monotonic_ns": ch.monotonic_ns, "boottime_ns": ch.boottime_ns}
            row["offsets"] = {clock: _offset_row(ch, clock, recs, host, resolution)
                              for clock in ("realtime", *clocks)}
        out["channels"].append(row)
    return out


def _offset_row(ch: Channel, clock: str, recs: np.ndarray, host: np.ndarray,
                resolution: Mapping[str, Mapping[str, int]]) -> dict[str, Any]:
    if clock != "realtime" and clock not in ch.clocks:
        return {"missing": True, "reason": _missing_reason(clock)}
    configured = configured_offset(ch, clock)
    res = max(resolution.get(ch.id, {}).get(clock, 0), resolution.get(HOST, {}).get(clock, 0))
    s = summary(divergence(recs, host, clock, resolution_ns=res or None), configured)
    return {"configured_ns": configured, "measured_ns": _num(s.median_ns),
            "deviation_ns": _num(s.median_ns - configured) if configured is not None else None,
            "err_p50_ns": _num(s.err_p50_ns), "err_p99_ns": _num(s.err_p99_ns),
            "abs_dev_p50_ns": _num(s.abs_err_p50_ns), "abs_dev_p99_ns": _num(s.abs_err_p99_ns),
            "within_bound": _num(s.within_bound), "n": s.n}


def _missing_reason(clock: str) -> str:
    from .. import kernel

    try:
        kernel.clock_gettime_ns(kernel.CLOCKS[clock])
    except OSError as err:
        name = errno.errorcode.get(err.errno or 0, str(err.errno))
        why = " (alarm clocks need an RTC; this machine has none)" if "alarm" in clock else ""
        return f"clock_gettime(CLOCK_{clock.upper()}) gives {name} here{why}"
    return f"the sampler could not read CLOCK_{clock.upper()}"


def _num(x: float) -> float | None:
    return None if math.isnan(x) else round(x, 3)


def format_text(report: Mapping[str, Any]) -> str:
    """The human report, at most 80 columns wide and plain ASCII (a LANG=C terminal shows it)."""
    import textwrap

    rate = f"{report['rate_hz']:g} Hz" if report["rate_hz"] else "as fast as possible"
    lines = [f"sampled {report['duration_s']:.2f} s at {rate}"
             + (" (interrupted)" if report.get("interrupted") else ""), ""]
    for ch in report["channels"]:
        lines.append(f"{ch['id']}  time:[{ch['ns_inode']}]  pid {ch['pid']}")
        lines.append(f"  {ch['samples']} samples, {ch['drops']} drops, {ch['late']} late; "
                     f"sandwich p50/p99 {ch['sandwich_ns']['p50']:.0f}/"
                     f"{ch['sandwich_ns']['p99']:.0f} ns")
        if ch.get("label") and ch["label"] != ch["id"] and not ch["id"].startswith("ns"):
            lines.append(f"  {ch['label']}")
        if "configured" not in ch:
            lines.append("  (the reference: every offset below is measured against it)")
            lines.append("")
            continue
        conf = ch["configured"]
        lines.append(f"  configured: monotonic {_fmt_conf(conf['monotonic_ns'])}, "
                     f"boottime {_fmt_conf(conf['boottime_ns'])}")
        # 2 + 17 + 20 + 11 + 15 + 15 = 80 columns
        lines.append(f"  {'clock':<17}{'measured offset':>20}{'vs conf':>11}"
                     f"{'err p50/p99':>15}{'|dev| p50/p99':>15}")
        for clock, row in ch["offsets"].items():
            if row.get("missing"):
                lines.extend(textwrap.wrap(f"MISSING: {row['reason']}", 80,
                                           initial_indent=f"  {clock:<17}",
                                           subsequent_indent=" " * 19, break_on_hyphens=False))
                continue
            if row["n"] == 0:
                lines.append(f"  {clock:<17}no samples overlap the host's")
                continue
            lines.append(f"  {clock:<17}{row['measured_ns'] / 1e9:>+18.9f} s"
                         f"{_ns(row['deviation_ns']):>11}"
                         f"{_pair(row['err_p50_ns'], row['err_p99_ns']):>15}"
                         f"{_pair(row['abs_dev_p50_ns'], row['abs_dev_p99_ns']):>15}")
        lines.append("")
    return "\n".join(lines)


def _fmt_conf(ns: int | None) -> str:
    return "?" if ns is None else format_duration(ns)


def _ns(x: float | None) -> str:
    if x is None:
        return "-"
    return "0 ns" if round(x) == 0 else f"{round(x):+d} ns"


def _pair(a: float | None, b: float | None) -> str:
    """``121/161 ns``, ``4.87/4.87 ms``, ``817.0us/2.66ms``: at most 14 columns."""
    if a is None or b is None:
        return "-"
    (x, xu), (y, yu) = _short(a), _short(b)
    return f"{x}/{y} {xu}" if xu == yu else f"{x}{xu}/{y}{yu}"


def _short(ns: float) -> tuple[str, str]:
    if ns >= 1e6:
        return f"{ns / 1e6:.2f}", "ms"
    if ns >= 1e4:
        return f"{ns / 1e3:.1f}", "us"
    return f"{ns:.0f}", "ns"


# --- collecting


class _Keeper:
    """Accumulates one channel's records, thinning by seq beyond MAX_KEEP."""

    def __init__(self) -> None:
        self.chunks: list[np.ndarray] = []
        self.kept = 0
        self.stride = 1

    def add(self, recs: np.ndarray) -> None:
        if self.stride > 1:
            recs = recs[recs["seq"] % self.stride == 0]
        if len(recs):
            self.chunks.append(recs)
            self.kept += len(recs)
        while self.kept > MAX_KEEP:
            self.stride *= 2
            self.chunks = [c[c["seq"] % self.stride == 0] for c in self.chunks]
            self.kept = sum(len(c) for c in self.chunks)

    def records(self) -> np.ndarray:
        return np.concatenate(self.chunks) if self.chunks else np.empty(0, RECORD_DTYPE)


class _Progress:
    """One status line on stderr: rewritten in place on a terminal, once a second otherwise."""

    def __init__(self, stream: TextIO, duration: float, source: Any) -> None:
        self.stream, self.duration, self.source = stream, duration, source
        # \r and erase-to-end (ECMA-48 EL) rewrite the line in place; a dumb terminal has no EL
        self.tty = stream.isatty() and os.environ.get("TERM") != "dumb"
        self.width = shutil.get_terminal_size().columns - 1
        self.last = -math.inf

    def update(self, elapsed: float) -> None:
        every = 0.25 if self.tty else 1.0
        if elapsed - self.last < every:
            return
        self.last = elapsed
        parts = [f"{k} {s.records}" + (f" ({s.drops} drops)" if s.drops else "")
                 for k, s in self.source.stats().items()]
        line = f"sampling {elapsed:.1f}/{self.duration:g} s: " + ", ".join(parts)
        # On a terminal the line must not wrap, or \r would rewrite only its last row.
        self.stream.write(f"\r{line[:self.width]}\x1b[K" if self.tty else line + "\n")
        self.stream.flush()

    def done(self) -> None:
        if self.tty:
            self.stream.write("\r\x1b[K")
            self.stream.flush()

