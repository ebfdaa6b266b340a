"""Shared by ``run`` and ``enter``: wait for the command, pass signals on, map its status.

Errors are not caught here: ``cli.main`` reports them, with ``failure_exit`` = 125 (set by
:func:`set_job_defaults`) for timens-lab's own failures and the error's own 126/127.
"""

from __future__ import annotations

import argparse
import os
import signal
from collections.abc import Callable

from ..engine.child import Child
from ..engine.lab import Lab
from ._errors import EXIT_OWN_FAILURE


def set_job_defaults(parser: argparse.ArgumentParser, run: Callable[[argparse.Namespace], int]) -> None:
    """``run`` and ``enter`` exit 125 for timens-lab's own failures (cli.main reads it)."""
    parser.set_defaults(func=run, failure_exit=EXIT_OWN_FAILURE)


def exit_status(returncode: int) -> int:
    """The shell's convention: 128+N for a command killed by signal N."""
    return 128 - returncode if returncode < 0 else returncode


def shell_environ() -> dict[bytes, bytes]:
    """The environment our shell gave us, as the kernel keeps it (/proc/self/environ, proc(5)).

    Not os.environ: at start-up CPython itself may add LC_CTYPE=C.UTF-8 (PEP 538 locale
    coercion), and `timens-lab run -- CMD` must give CMD exactly what `unshare --time CMD` would.
    """
    try:
        with open("/proc/self/environ", "rb") as f:
            raw = f.read()
    except OSError:
        return dict(os.environb)
    return dict(item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)


def run_job(lab_rootless: bool | None, start: Callable[[Lab], Child]) -> int:
    """Start the command with ``start(lab)``, wait, and exit with its status.

    The command stays in our process group, so a terminal's Ctrl-C reaches it directly; we
    ignore SIGINT ourselves and forward SIGTERM/SIGHUP/SIGQUIT. If we are SIGKILLed, the helper
    sees its owner die and kills the command (lab.py).
    """
    with Lab(rootless=lab_rootless) as lab:
        child = start(lab)
        old = {s: signal.signal(s, lambda sig, _f: child.send_signal(sig))
               for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)}
        old[signal.SIGINT] = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            return exit_status(child.wait())
        finally:
            for sig, handler in old.items():
                signal.signal(sig, handler)
