"""run: run a command in a fresh time namespace (like `unshare --time --fork`, with units)."""

from __future__ import annotations

import argparse

from ..offsets import parse_duration
from ._errors import UsageError
from ._job import run_job, set_job_defaults, shell_environ
from ._options import add_rootless

EPILOG = """\
examples:
  timens-lab run --monotonic 1h --boottime 2d -- cat /proc/uptime
  timens-lab run --boottime 300000 -- uptime  # "up 3 days"
  timens-lab run --monotonic -5s -- python3 app.py

Offsets take units (ns us ms s m h d w y) and signs; a bare number is seconds.
The command exits with its own status (128+N if killed by signal N); timens-lab's own
failures exit 125, 126 (cannot run) or 127 (not found).
"""


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("run", help=__doc__.split(": ", 1)[1], description=__doc__.split(": ", 1)[1],
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--monotonic", metavar="OFFSET", type=str,
                   help="offset of CLOCK_MONOTONIC (and _RAW, _COARSE), e.g. 1h, -5s")
    p.add_argument("--boottime", metavar="OFFSET", type=str,
                   help="offset of CLOCK_BOOTTIME (and /proc/uptime), e.g. 2d")
    add_rootless(p)
    p.add_argument("-r", "--map-root-user", action="store_true",
                   help="map the current user to root (implies --rootless; as unshare -r)")
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="-- COMMAND [ARG...]")
    set_job_defaults(p, run)


def run(args: argparse.Namespace) -> int:
    argv = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not argv:
        raise UsageError("no command given: timens-lab run [OPTIONS] -- COMMAND [ARG...]",
                         hint="timens-lab run --help shows examples")
    for value in (args.monotonic, args.boottime):  # bad offsets fail before any process starts
        if value is not None:
            parse_duration(value)
    rootless = True if args.map_root_user and args.rootless is None else args.rootless
    return run_job(rootless, lambda lab: lab.run(argv, args.monotonic, args.boottime,
                                                 env=shell_environ(), map_root=args.map_root_user))

