"""record: sample clocks in time namespaces (new or existing) and save the session for replay anywhere."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from ..errors import RecordingError
from ._options import add_rootless, add_sampling
from .sample import _Progress

EPILOG = """\
examples:
  timens-lab record --out demo.tnsrec --ns monotonic=1h,boottime=2d
  timens-lab record --out two.tnsrec --ns monotonic=1h --ns monotonic=-5s
  timens-lab record --out long.tnsrec --ns boottime=1d --duration 10m
  timens-lab replay demo.tnsrec        # the report, as `sample` gives it

Records what `timens-lab sample` measures (every sample of every namespace and of the host),
plus the environment (probe verdict, kernel, host, date), the namespaces and their offsets, and
the namespace tree with its events (appeared, frozen, member_joined, member_left, vanished).
Ctrl-C stops early and still leaves a complete file. The file appears only when the recording
is complete (written as FILE.<random>.partial, renamed at the end); a killed recorder leaves the
.partial, which `timens-lab replay --partial` reads. Format: timens_lab/recording/format.py.
"""


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    about = __doc__.split(": ", 1)[1]
    p = sub.add_parser("record", help=about, description=about, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, metavar="FILE",
                   help="the recording to write (.tnsrec); replaced only when complete")
    add_sampling(p, rate=100.0, duration=10.0, verb="record")
    p.add_argument("--note", default="", help="free text stored with the recording")
    p.add_argument("--no-tree", dest="tree", action="store_false",
                   help="do not record the namespace tree and its events")
    p.add_argument("--scope", choices=("session", "all"), default="session",
                   help="tree and events of this session's namespaces only (default), or all "
                        "that are visible")
    add_rootless(p, plural=True)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import NoSuchNamespaceError, PendingNamespaceError
    from ..offsets import Offsets
    from ._options import check_existing

    specs = [Offsets.parse_spec(spec) for spec in args.ns]  # bad input fails before any process
    out = Path(args.out)
    try:
        _check_writable(out)
        check_existing(args)
    except (RecordingError, NoSuchNamespaceError) as err:  # bad --out, --pid: exit 2, as offsets
        from ..cli import EXIT_USAGE, report

        report(err)
        return EXIT_USAGE
    from ..clocks.sampler import SamplerSet
    from ..engine.lab import Lab
    from ..recording.tap import Recorder

    interrupted = False
    kw: dict[str, Any] = {"rate": args.rate, "clocks": args.clocks}
    with Lab(rootless=args.rootless) as lab:
        watcher = None
        if args.tree:
            from ..discovery.watch import Watcher

            watcher = Watcher()
        source = SamplerSet.start(lab, [], **kw)
        # META goes first into the file, so the scenario is what was asked for (None: inherit
        # the creator's offset); the channels carry the offsets the kernel then had.
        scenario: dict[str, Any] = {
            "name": out.stem, "command": ["timens-lab", *sys.argv[1:]], "rate_hz": args.rate,
            "duration_s": args.duration, "clocks": list(args.clocks),
            "namespaces": [{"name": f"ns{i}", "monotonic": mono, "boottime": boot,
                            "parent": None} for i, (mono, boot) in enumerate(specs, 1)],
            # existing namespaces sampled too (--pid, --ns-file): channels pid<N>, file<i>
            "joined": [f"pid {pid}" for pid in args.pid] + list(args.ns_file)}
        rec = Recorder(out, source, watcher=watcher, lab=lab, scope=args.scope,
                       scenario=scenario, note=args.note)
        sys.stderr.write(f"recording to {out} (in progress: {rec.partial_path.name})\n")
        progress = _Progress(sys.stderr, args.duration, rec)
        ended = "ok"
        try:
            _setup(rec, lab, source, scenario["namespaces"], kw)
            _join(rec, lab, source, args, kw)
        except PendingNamespaceError as err:
            rec.abort()            # nothing was sampled: leave no file behind
            source.close()
            from ..cli import EXIT_USAGE, report

            report(err)
            return EXIT_USAGE
        except BaseException:
            rec.abort()            # nothing was sampled: leave no file behind
            source.close()
            raise
        try:
            start = time.monotonic()
            while (elapsed := time.monotonic() - start) < args.duration:
                time.sleep(min(0.05, max(0.0, args.duration - elapsed)))
                rec.read()
                progress.update(time.monotonic() - start)
        except KeyboardInterrupt:
            interrupted, ended = True, "interrupted"
        except BaseException as err:
            ended = f"error: {err}"
            raise
        finally:
            progress.done()
            path = rec.close(ended)
    recording = summary(path)
    sys.stderr.write(recording + "\n")
    return 130 if interrupted else 0


def _setup(rec: Any, lab: Any, source: Any, namespaces: list[dict[str, Any]],
           kw: dict[str, Any]) -> None:
    """Create the namespaces one by one, recording each pending, then frozen by its sampler."""
    from ..clocks.sampler import Sampler

    for spec in namespaces:
        offsets = (spec["monotonic"], spec["boottime"])
        ns = lab.namespace(*(f"{v}ns" if v is not None else None for v in offsets),
                           name=spec["name"])
        if rec.watcher is not None:
            rec.poll_tree()          # the namespace, pending: offsets still writable
        source.add(Sampler.for_namespace(ns, **kw).start())
        if rec.watcher is not None:
            rec.poll_tree()          # frozen by the sampler's entry


def _join(rec: Any, lab: Any, source: Any, args: argparse.Namespace,
          kw: dict[str, Any]) -> None:
    """Join each --pid/--ns-file namespace and start its sampler (foreign.join)."""
    from ..clocks.sampler import Sampler
    from ._options import join_existing

    for ns in join_existing(lab, args):
        source.add(Sampler.for_namespace(ns, **kw).start())
        if rec.watcher is not None:
            rec.poll_tree()


def _check_writable(out: Path) -> None:
    parent = out.parent if str(out.parent) else Path(".")
    if out.is_dir():
        raise RecordingError(f"{out} is a directory", hint="give a file name, e.g. "
                             f"{out / 'session.tnsrec'}")
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        why = "does not exist" if not parent.exists() else "is not writable"
        raise RecordingError(f"cannot record to {out}: {parent} {why}",
                             hint="choose a directory that exists and that you can write to")


def summary(path: Path) -> str:
    """One line about a finished recording (also printed by scripts/make_recordings.py)."""
    from ..recording.format import load

    rec = load(path)
    n = sum(len(r) for r in rec.records.values())
    size = path.stat().st_size
    return (f"wrote {path}: {len(rec.channels)} channels, {n} records, {rec.duration_s:.1f} s, "
            f"{len(rec.events)} tree events, {size / 1024:.0f} KiB "
            f"({size / max(n, 1):.1f} bytes per 64-byte record)")
