"""replay: play a recording back and report it as `timens-lab sample` would have."""

from __future__ import annotations

import argparse
import json
import math
import sys
import textwrap
import time
from typing import Any

from ._errors import EXIT_USAGE

EPILOG = """\
examples:
  timens-lab replay demo.tnsrec         # the report, at once
  timens-lab replay tour --speed 4      # a shipped recording, 4x real time
  timens-lab replay demo.tnsrec --json
  timens-lab replay --list              # the recordings shipped
  timens-lab replay --partial demo.tnsrec.1a2b3c4d.partial

FILE is a .tnsrec file (`timens-lab record`) or the name of a shipped recording. The report is
computed from the recorded samples exactly as `timens-lab sample` computes it live; the header
says where and when they were recorded.
"""


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    about = __doc__.split(": ", 1)[1]
    p = sub.add_parser("replay", help=about, description=about, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file", nargs="?", metavar="FILE",
                   help="a .tnsrec recording, or a shipped recording's name")
    p.add_argument("--speed", type=_speed, default=math.inf, metavar="X",
                   help="replay at X times real time with a progress line; 'max' (default) "
                        "computes the report at once")
    p.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    p.add_argument("--partial", action="store_true",
                   help="replay the intact part of a truncated recording")
    p.add_argument("--list", action="store_true", help="list the shipped recordings")
    p.set_defaults(func=run, failure_exit=EXIT_USAGE)


def run(args: argparse.Namespace) -> int:
    from ..recording.replay import Replay

    if args.list:
        return _list(args.json)
    if args.file is None:
        from ..errors import RecordingError

        raise RecordingError("no recording given", hint="timens-lab replay FILE, or "
                             "timens-lab replay --list for the shipped ones")
    replay = Replay(args.file, args.speed, partial=args.partial)
    interrupted = False
    try:
        keep = _collect(replay)
    except KeyboardInterrupt:
        interrupted = True
        keep = None
    report = build_replay_report(replay, keep)
    report["interrupted"] = interrupted
    if args.json:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
    else:
        from .sample import format_text

        sys.stdout.write(_header(report["recording"]) + "\n\n" + format_text(report))
    return 130 if interrupted else 0


def _collect(replay: Any) -> dict[str, Any]:
    from .sample import _Keeper, _Progress

    keep: dict[str, Any] = {}
    progress = _Progress(sys.stderr, replay.duration, replay)
    try:
        while True:
            for key, recs in replay.read().items():
                keep.setdefault(key, _Keeper()).add(recs)
            if replay.done:
                return keep
            progress.update(replay.position)
            time.sleep(0.02)
    finally:
        progress.done()


def build_replay_report(replay: Any, keep: dict[str, Any] | None = None) -> dict[str, Any]:
    """The `sample` report (commands/sample.py ``build_report``) of what ``replay`` delivered,
    plus a ``recording`` section: where, when and how it was made."""
    import numpy as np

    from ..source import RECORD_DTYPE, SAMPLED_CLOCKS
    from .sample import build_report

    keep = keep or {}
    channels = replay.channels()
    records = {ch.id: keep[ch.id].records() if ch.id in keep else np.empty(0, RECORD_DTYPE)
               for ch in channels}
    late, resolution = replay.sampler_facts()
    rate = next((ch.rate_hz for ch in channels if ch.rate_hz), None)
    sampled = {c for ch in channels for c in ch.clocks}
    report = build_report(channels, records,
                          stats={k: (s.records, s.drops) for k, s in replay.stats().items()},
                          late=late, resolution=resolution, rate=rate,
                          duration=replay.position, clocks=[c for c in SAMPLED_CLOCKS
                                                            if c in sampled])
    rec = replay.recording
    env = rec.meta.get("environment") or {}
    probe = env.get("probe") or {}
    report["recording"] = {
        "file": rec.name, "format": list(rec.version), "complete": rec.complete,
        "problem": rec.problem, "duration_s": round(rec.duration_s, 6),
        "host": env.get("host"), "kernel": env.get("kernel"), "os": env.get("os"),
        "date": env.get("date"), "mode": probe.get("mode"), "note": rec.meta.get("note", ""),
        "scenario": rec.meta.get("scenario") or {}, "tree_events": len(rec.events),
    }
    return report


def _header(info: dict[str, Any]) -> str:
    """A few lines, each at most 80 columns (long paths and notes wrap)."""
    parts = [f"replay of {info['file']}:",
             f"recorded {info['date']} on {info['host']} (Linux {info['kernel']}, "
             f"{info['mode']}), {info['tree_events']} tree events"]
    if info["note"]:
        parts.append(f"note: {info['note']}")
    if not info["complete"]:
        parts.append(f"INCOMPLETE: {info['problem']}")
    return "\n".join(line for part in parts
                     for line in textwrap.wrap(part, 80, subsequent_indent="  ",
                                               break_on_hyphens=False, break_long_words=False))


def _list(as_json: bool) -> int:
    from ..errors import RecordingError
    from ..recording.format import read_meta
    from ..recording.replay import shipped

    rows: list[dict[str, Any]] = []
    for name, path in shipped().items():
        try:
            meta = read_meta(path)
        except RecordingError as err:
            rows.append({"name": name, "path": str(path), "error": str(err)})
            continue
        env, scen = meta.get("environment") or {}, meta.get("scenario") or {}
        rows.append({"name": name, "path": str(path), "date": env.get("date"),
                     "kernel": env.get("kernel"), "namespaces": len(scen.get("namespaces", [])),
                     "rate_hz": scen.get("rate_hz"), "duration_s": scen.get("duration_s"),
                     "note": meta.get("note", "")})
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return 0
    if not rows:
        sys.stdout.write("no recordings shipped (make recordings creates them)\n")
    for r in rows:
        if "error" in r:
            sys.stdout.write(f"{r['name']:<12} {r['error']}\n")
            continue
        duration = f", {r['duration_s']} s" if r["duration_s"] is not None else ""
        head = (f"{r['namespaces']} namespaces, {r['rate_hz']} Hz{duration}, "
                f"Linux {r['kernel']}")
        lines = textwrap.wrap(head, 67) + textwrap.wrap(f"{r['date']}. {r['note']}", 67)
        if len(r["name"]) > 12:     # a long name gets a line of its own: 80 columns hold
            sys.stdout.write(f"{r['name']}\n")
            sys.stdout.write("".join(f"{'':<12} {line}\n" for line in lines))
        else:
            sys.stdout.write(f"{r['name']:<12} {lines[0]}\n"
                             + "".join(f"{'':<12} {line}\n" for line in lines[1:]))
    return 0


def _speed(text: str) -> float:
    if text.strip().lower() in ("max", "inf"):
        return math.inf
    try:
        speed = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a speed: {text!r} (e.g. 1, 4, 0.5 or 'max')"
                                         ) from None
    if not speed > 0 or math.isnan(speed):
        raise argparse.ArgumentTypeError(f"speed must be > 0, not {text!r}")
    return speed
