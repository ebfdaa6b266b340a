"""Shared by ``run`` and ``enter``: wait for the command, pass signals on, map its status."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

from ..cli import report
from ..engine.child import Child
from ..engine.lab import Lab
from ..errors import InvalidOffsetError, OffsetRangeError, SpawnError, TimensError

#: Our own failures, as timeout(1) and env(1) report theirs.
EXIT_OWN_FAILURE = 125


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
    try:
        with Lab(rootless=lab_rootless) as lab:
            try:
                child = start(lab)
            except SpawnError as err:
                report(err)
                return int(err.context.get("exit_status", EXIT_OWN_FAILURE))
            old = {s: signal.signal(s, lambda sig, _f: child.send_signal(sig))
                   for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)}
            old[signal.SIGINT] = signal.signal(signal.SIGINT, signal.SIG_IGN)
            try:
                return exit_status(child.wait())
            finally:
                for sig, handler in old.items():
                    signal.signal(sig, handler)
    except (InvalidOffsetError, OffsetRangeError) as err:
        report(err)
        return 2  # bad input, as everywhere in the CLI
    except TimensError as err:
        report(err)
        return EXIT_OWN_FAILURE
