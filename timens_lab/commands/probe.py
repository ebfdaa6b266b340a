"""``timens-lab probe [--json]``: can this machine create time namespaces? If not, what fixes it?

Exit status 0 when time namespaces are usable (root or rootless), 1 when not.
``TIMENS_LAB_MODE=replay`` forces "unavailable" without trying anything.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import textwrap

from ..probing.check import Check, ProbeResult, probe

DESCRIPTION = """\
Check whether this machine can create time namespaces, as root and rootless, by trying both
for real in a throwaway child, and read the limits and policies that commonly get in the way.
Every failed check comes with a one-line fix."""

EPILOG = """\
examples:
  timens-lab probe                  # a table of checks, the verdict last
  timens-lab probe --json | jq .mode
  TIMENS_LAB_MODE=replay timens-lab probe   # unavailable: CI, Binder

Exit status 0 when time namespaces are usable (root or rootless), 1 when not.
"""

STATUS = {True: "ok", False: "FAIL", None: "n/a"}
OPTIONAL_STATUS = {True: "ok", False: "no", None: "n/a"}


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "probe", help="check whether time namespaces work here (and how to fix it if not)",
        description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true",
                        help="print the result as JSON: time_namespaces, mode, kernel, reason, "
                        "hint, checks [{name, ok, detail, hint, required}], elapsed_ms")
    parser.set_defaults(func=run)


def status(check: Check) -> str:
    return (STATUS if check.required else OPTIONAL_STATUS)[check.ok]


def format_table(result: ProbeResult, columns: int | None = None) -> str:
    """The human report: one row per check, hints under failures, the verdict last.

    With ``columns`` (a terminal's width) details wrap under their column, or, on a terminal too
    narrow for that (80 columns), on lines of their own under the check; without, every check
    stays on one line, which is what grep wants.
    """
    width = max(len(c.name) for c in result.checks)
    indent = " " * (width + 10)
    stacked = columns is not None and columns - len(indent) < 30
    if stacked:
        indent = " " * 4

    def cell(text: str, first: str = "", rest: str | None = None) -> list[str]:
        if columns is None:
            return [first + text]
        return textwrap.wrap(text, columns - 1, initial_indent=first or indent,
                             subsequent_indent=indent if rest is None else rest,
                             break_on_hyphens=False) or [first]

    lines = [f"{'CHECK':<{width}}  {'STATUS':<6}  DETAIL"]
    for check in result.checks:
        row = f"{check.name:<{width}}  {status(check):<6}  "
        if stacked:
            lines.append(row.rstrip())
            lines.extend(cell(check.detail))
        else:
            lines.extend(cell(check.detail, row))
        if check.ok is False and check.hint:
            lines.extend(cell(f"hint: {check.hint}", indent))
    lines.append("")
    if result.time_namespaces:
        lines.append(f"time namespaces: usable ({result.mode})")
    else:
        lines.extend(cell(result.reason, "unavailable: ", "  "))
        if result.hint:
            lines.extend(cell(result.hint, "hint: ", "  "))
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    result = probe()
    if args.json:
        sys.stdout.write(result.to_json(indent=2) + "\n")
    else:
        columns = shutil.get_terminal_size().columns if sys.stdout.isatty() else None
        sys.stdout.write(format_table(result, columns))
    return 0 if result.time_namespaces else 1
