"""The ``timens-lab`` command: argparse subcommands and the one error boundary.

Each subcommand lives in ``timens_lab/commands/<name>.py`` with ``add_parser(subparsers)`` and
``run(args) -> int``; commands raise typed errors and never print them. Errors never reach the
user as tracebacks: :func:`main` is the one place that catches a :class:`TimensError`, prints
``error: …`` and ``hint: …`` and exits with the code ``commands/_errors.py`` documents.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from . import commands
from ._version import __version__
from .commands._errors import EXIT_FAILURE, EXIT_USAGE, exit_code, report
from .errors import TimensError

__all__ = ["EXIT_FAILURE", "EXIT_USAGE", "build_parser", "main", "report"]

DESCRIPTION = """\
Explore Linux time namespaces: run commands with shifted MONOTONIC and BOOTTIME clocks, as root
or rootless, watch every time namespace on the machine, sample and record their clocks, and
learn how they work in JupyterLab."""

EPILOG = """\
examples:
  timens-lab probe                           # can this machine, and how?
  timens-lab run --boottime 2d -- uptime     # "up 2 days"
  timens-lab enter 1234 -- cat /proc/uptime  # in pid 1234's time namespace
  timens-lab tree                            # all time namespaces
  timens-lab sample --ns monotonic=1h --duration 2
  timens-lab lab                             # the course in JupyterLab

Run 'timens-lab COMMAND --help' for a command's options and examples, and see
timens-lab(1). Exit status: 0 success, 1 the kernel or the environment refused,
2 bad input; run and enter exit with the command's status.
"""


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Wraps prose paragraphs of a description or epilog to the terminal's width and keeps
    indented lines (examples) and the "examples:" heading exactly as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        import textwrap

        out: list[str] = []
        prose: list[str] = []

        def flush() -> None:
            if prose:
                out.extend(textwrap.wrap(" ".join(prose), width, initial_indent=indent,
                                         subsequent_indent=indent, break_on_hyphens=False))
                prose.clear()

        lines = text.splitlines()
        for i, line in enumerate(lines):
            heading = line.endswith(":") and lines[i + 1:i + 2] and lines[i + 1].startswith(" ")
            if not line.strip() or line.startswith(" ") or heading:
                flush()
                out.append(indent + line if line.strip() else "")
            else:
                prose.append(line.strip())
        flush()
        return "\n".join(out)


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
    parser = _Parser(prog="timens-lab", description=DESCRIPTION, epilog=EPILOG,
                     formatter_class=HelpFormatter)
    parser.add_argument("--version", action="version", version=f"timens-lab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser,
                                title="commands")
    sub.required = True
    for name in command_names():
        if only is None or name == only:
            importlib.import_module(f"{commands.__name__}.{name}").add_parser(sub)
    for action in sub._choices_actions:  # one style for the command list: no final full stop
        action.help = (action.help or "").rstrip(".")
    for p in sub.choices.values():       # prose wraps to the terminal, examples stay as written
        p.formatter_class = HelpFormatter
    return parser


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


#: What a terminal without UTF-8 (LANG=C) shows instead of the characters our texts use; any
#: other non-ASCII character (a command name, a path) becomes "?", as ls(1) shows it there.
_ASCII = str.maketrans({
    "\u2212": "-", "\u2014": "-", "\u2013": "-", "\u2026": "...", "\u2265": ">=", "\u2264": "<=",
    "\u00b1": "+/-", "\u00b7": "-", "\u2192": "->", "\u2190": "<-", "\u00b5": "u", "\u00d7": "x",
    "\u00a7": "section ", "\u2714": "ok", "\u2718": "FAIL", "\u2514": "`", "\u251c": "|",
    "\u2502": "|", "\u2500": "-", "\u00e0": "a", "\u00e9": "e"})


def utf8_terminal(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the user's locale is UTF-8 (LC_ALL, else LC_CTYPE, else LANG, as setlocale(3)).

    Python coerces a C locale to C.UTF-8 for itself (PEP 538: it sets LC_CTYPE), so a
    LC_CTYPE of C.UTF-8 under LANG=C (or no LANG) is Python's doing, not the terminal's.
    """
    env = os.environ if environ is None else environ
    if env.get("LC_ALL"):
        locale = env["LC_ALL"]
    elif env.get("LC_CTYPE") and not (env["LC_CTYPE"] in ("C.UTF-8", "C.utf8", "UTF-8")
                                      and env.get("LANG", "C") in ("", "C", "POSIX")):
        locale = env["LC_CTYPE"]
    else:
        locale = env.get("LANG", "")
    return locale.upper().replace("-", "").endswith("UTF8")


class _AsciiText:
    """A text stream that writes what a LANG=C terminal can show (see :data:`_ASCII`)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(text.translate(_ASCII).encode("ascii", "replace").decode("ascii"))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def main(argv: Sequence[str] | None = None) -> int:
    if utf8_terminal():
        return _main(argv)
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _AsciiText(out), _AsciiText(err)  # type: ignore[assignment]
    try:
        return _main(argv)
    finally:
        sys.stdout, sys.stderr = out, err


def _main(argv: Sequence[str] | None = None) -> int:
    raw = list(sys.argv[1:] if argv is None else argv)
    first = raw[0] if raw else None
    args = build_parser(first if first in command_names() else None).parse_args(_join_signed(raw))
    try:
        return int(args.func(args) or 0)
    except TimensError as err:  # the one error boundary
        report(err)
        return exit_code(err, args)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    except BrokenPipeError:  # `timens-lab tree | head`: not an error worth a traceback
        return 0
