"""The ``timens-lab`` command: argparse subcommands and the one error boundary.

Each subcommand lives in ``timens_lab/commands/<name>.py`` with ``add_parser(subparsers)`` and
``run(args) -> int``. Errors never reach the user as tracebacks: a :class:`TimensError` prints
``error: …`` and ``hint: …``.

Exit codes: 0 success; 1 the kernel or environment refused; 2 bad input (usage, offsets);
``run``/``enter`` return the command's status (128+N for signal N), and 125 when timens-lab
itself failed, 126 when the command cannot run, 127 when it was not found (as timeout(1)).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from . import __version__, commands
from .errors import InvalidOffsetError, OffsetRangeError, TimensError

EXIT_FAILURE = 1
EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        sys.stderr.write(f"error: {message}\nhint: {self.prog} --help shows every option\n")
        raise SystemExit(EXIT_USAGE)


def command_names() -> list[str]:
    """Subcommands, from the module names in commands/ (nothing is imported)."""
    return sorted(m.name for m in pkgutil.iter_modules(commands.__path__)
                  if not m.name.startswith("_"))


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser with every subcommand, or just ``only``: importing one command module must
    not make every other command pay for it (`sample` pulls in numpy; `run` should not)."""
    parser = _Parser(prog="timens-lab", description=__doc__.split("\n\n")[0],
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"timens-lab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in command_names():
        if only is None or name == only:
            importlib.import_module(f"{commands.__name__}.{name}").add_parser(sub)
    return parser


def report(err: TimensError) -> None:
    """Print a typed error the way every command does."""
    sys.stderr.write(f"error: {err}\n")
    if err.hint:
        sys.stderr.write(f"hint: {err.hint}\n")


#: Options whose value may start with "-" (a negative offset such as "-5s"): argparse would take
#: "-5s" for an option, so "--monotonic -5s" is rewritten to "--monotonic=-5s".
SIGNED_OPTIONS = frozenset({"--monotonic", "--boottime", "--ns"})


def _join_signed(argv: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            return out + argv[i:]
        if arg in SIGNED_OPTIONS and i + 1 < len(argv) and argv[i + 1][:1] in "-\u2212" \
                and argv[i + 1] != "--":
            out.append(f"{arg}={argv[i + 1]}")
            i += 2
            continue
        out.append(arg)
        i += 1
    return out


def main(argv: Sequence[str] | None = None) -> int:
    raw = list(sys.argv[1:] if argv is None else argv)
    first = raw[0] if raw else None
    args = build_parser(first if first in command_names() else None).parse_args(_join_signed(raw))
    try:
        return int(args.func(args) or 0)
    except (InvalidOffsetError, OffsetRangeError) as err:
        report(err)
        return getattr(args, "usage_exit", EXIT_USAGE)
    except TimensError as err:
        report(err)
        return getattr(args, "failure_exit", EXIT_FAILURE)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    except BrokenPipeError:  # `timens-lab tree | head`: not an error worth a traceback
        return 0
