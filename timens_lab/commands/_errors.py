"""Exit codes and the error type every command shares, and how an error is shown.

This module sits below both ``cli.py`` and the command modules: commands raise, and only
``cli.main`` (the one error boundary) catches, prints ``error: …`` and ``hint: …`` and picks the
exit code (:func:`exit_code`). Commands never import ``cli``.

Exit codes: 0 success; 1 the kernel or environment refused; 2 bad input; ``run``/``enter``
return the command's status, and 125 when timens-lab itself failed, 126 when the command cannot
run, 127 when it was not found (as timeout(1)).
"""

from __future__ import annotations

import argparse
import sys

from ..errors import InvalidArgumentError, InvalidOffsetError, OffsetRangeError, TimensError

EXIT_FAILURE = 1
EXIT_USAGE = 2
#: Our own failures under ``run``/``enter``, as timeout(1) and env(1) report theirs.
EXIT_OWN_FAILURE = 125


class UsageError(InvalidArgumentError):
    """Bad command-line input that argparse cannot see (a missing command, an unknown pid):
    exit 2, whatever the command's usual failure code."""

    hint = "timens-lab COMMAND --help shows its options and examples"

    @classmethod
    def of(cls, err: TimensError) -> UsageError:
        """``err`` shown the same (message, hint), but as bad input: exit 2."""
        return cls(err.message, hint=err.hint, errno=err.errno, **err.context)


def report(err: TimensError) -> None:
    """Print a typed error the way every command does: one ``error:`` and one ``hint:`` line."""
    sys.stderr.write(f"error: {err}\n")
    if err.hint:
        sys.stderr.write(f"hint: {err.hint}\n")


def exit_code(err: TimensError, args: argparse.Namespace) -> int:
    """The exit code for ``err`` under the command ``args`` ran: the error's own (a command
    that cannot run: 126, not found: 127), else 2 for bad input, else the command's failure
    code (``set_defaults(failure_exit=...)``; 1 unless the command says otherwise)."""
    own = getattr(err, "exit_status", None) or err.context.get("exit_status")  # class or instance
    if isinstance(own, int) and own:
        return own
    if isinstance(err, UsageError | InvalidOffsetError | OffsetRangeError):
        return EXIT_USAGE
    return int(getattr(args, "failure_exit", EXIT_FAILURE))
