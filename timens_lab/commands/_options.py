"""Options shared by several subcommands, spelled once."""

from __future__ import annotations

import argparse

from ..errors import InvalidOffsetError
from ..offsets import parse_duration


def add_rootless(p: argparse.ArgumentParser, *, plural: bool = False) -> None:
    """``--rootless`` / ``--no-rootless`` (default: decided by CAP_SYS_ADMIN, see Lab)."""
    what = "user namespaces too" if plural else "a user namespace too"
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--rootless", dest="rootless", action="store_true", default=None,
                      help=f"create {what} (default for non-root users)")
    mode.add_argument("--no-rootless", dest="rootless", action="store_false",
                      help="plain CLONE_NEWTIME (needs CAP_SYS_ADMIN; default for root)")


def add_sampling(p: argparse.ArgumentParser, *, rate: float, duration: float, verb: str) -> None:
    """``--ns`` (repeatable), ``--rate``, ``--duration``, ``--clocks`` for sample and record."""
    from ..source import SAMPLED_CLOCKS  # numpy: only for the commands that sample

    p.add_argument("--ns", action="append", default=[], metavar="SPEC",
                   help="a namespace to create: monotonic=OFFSET,boottime=OFFSET (repeatable)")
    p.add_argument("--pid", action="append", default=[], type=pid_arg, metavar="PID",
                   help="also sample the existing time namespace of process PID, e.g. a "
                        "container's (repeatable; see `timens-lab tree`)")
    p.add_argument("--ns-file", action="append", default=[], metavar="PATH",
                   help="also sample the existing time namespace behind an nsfs file: a bind "
                        "mount, /proc/PID/ns/time... (repeatable)")
    p.add_argument("--freeze", action="store_true",
                   help="enter a --ns-file namespace even when it is pending (nobody inside "
                        "yet), which fixes its offsets for good; refused without this")
    p.add_argument("--rate", type=rate_arg, default=rate, metavar="HZ",
                   help=f"records per second per sampler, or 'max' (default {rate:g})")
    p.add_argument("--duration", type=duration_arg, default=duration, metavar="S",
                   help=f"how long to {verb}, seconds or with a unit (default {duration:g})")
    p.add_argument("--clocks", type=clocks_arg, default=SAMPLED_CLOCKS, metavar="LIST",
                   help=f"comma-separated subset of {','.join(SAMPLED_CLOCKS)} (default all)")


def join_existing(lab: object, args: argparse.Namespace) -> list[object]:
    """Join every ``--pid`` and ``--ns-file`` namespace (foreign.join), in that order."""
    from ..session.foreign import join

    out: list[object] = [join(lab, pid=pid, freeze=args.freeze) for pid in args.pid]  # type: ignore[arg-type]
    out += [join(lab, path=path, freeze=args.freeze, name=f"file{i}")  # type: ignore[arg-type]
            for i, path in enumerate(args.ns_file, 1)]
    return out


def check_existing(args: argparse.Namespace) -> None:
    """Look at every ``--pid``/``--ns-file`` before anything starts: a missing process or file
    is bad input (NoSuchNamespaceError), like a bad offset."""
    from ..session.foreign import look

    for pid in args.pid:
        look(pid=pid)
    for path in args.ns_file:
        look(path=path)


# --- argument types

def pid_arg(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"not a process id: {text!r} (a whole number >= 1)")
    return int(text)


def rate_arg(text: str) -> float | None:
    if text.strip().lower() in ("max", "0"):
        return None
    try:
        rate = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a rate: {text!r} (Hz, e.g. 1000, or 'max')") from None
    from ..clocks.sampler import MAX_RATE_HZ

    if not 0 < rate <= MAX_RATE_HZ:
        raise argparse.ArgumentTypeError(f"rate must be in (0, {MAX_RATE_HZ:g}] Hz or 'max'")
    return rate


def duration_arg(text: str) -> float:
    try:
        ns = parse_duration(text)
    except InvalidOffsetError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    if ns <= 0:
        raise argparse.ArgumentTypeError(f"duration must be positive, not {text!r}")
    return ns / 1e9


def clocks_arg(text: str) -> tuple[str, ...]:
    from ..source import SAMPLED_CLOCKS

    names = tuple(dict.fromkeys(n.strip().lower() for n in text.split(",") if n.strip()))
    bad = [n for n in names if n not in SAMPLED_CLOCKS]
    if bad or not names:
        raise argparse.ArgumentTypeError(
            f"unknown clock {', '.join(bad) or text!r}; choose from {', '.join(SAMPLED_CLOCKS)} "
            "(REALTIME is always sampled)")
    return names
