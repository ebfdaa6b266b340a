"""enter: run a command in an existing time namespace (like `nsenter --time`)."""

from __future__ import annotations

import argparse

from ._errors import UsageError
from ._job import run_job, set_job_defaults, shell_environ

_HINT = "timens-lab enter --help shows examples"

EPILOG = """\
examples:
  timens-lab enter 1234 -- cat /proc/uptime   # pid 1234's time namespace
  timens-lab enter -t 1234 -- date            # as nsenter spells it
  timens-lab enter --ns-file /run/ns/x -- date   # a bind mount

PID means the namespace that process runs in (/proc/PID/ns/time). Works for rootless
namespaces you own: the owning user namespace is joined first, as nsenter -U would.
"""


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("enter", help=__doc__.split(": ", 1)[1], description=__doc__.split(": ", 1)[1],
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = p.add_mutually_exclusive_group()
    where.add_argument("-t", "--target", dest="pid_opt", type=int, metavar="PID",
                       help="target process to get the time namespace from (as nsenter -t)")
    where.add_argument("--ns-file", metavar="PATH", help="an nsfs file: /proc/PID/ns/time, a bind mount")
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="[PID] -- COMMAND [ARG...]",
                   help="the target pid (unless -t or --ns-file), then the command")
    set_job_defaults(p, run)


def run(args: argparse.Namespace) -> int:
    rest = list(args.command)
    target: int | str | None = args.ns_file or args.pid_opt
    if target is None:
        if not rest or not rest[0].isdigit():
            raise UsageError("which namespace? timens-lab enter PID -- COMMAND "
                             "(or -t PID, --ns-file PATH)", hint=_HINT)
        target = int(rest.pop(0))
    argv = rest[1:] if rest[:1] == ["--"] else rest
    if not argv:
        raise UsageError("no command given: timens-lab enter PID -- COMMAND [ARG...]", hint=_HINT)
    return run_job(None, lambda lab: lab.enter(target).spawn(argv, env=shell_environ()))

