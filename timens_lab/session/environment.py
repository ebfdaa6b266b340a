"""Where and when a session runs: what a recording stores in its META ``environment``."""

from __future__ import annotations

import datetime
import os
import platform
import socket
from typing import Any

from .._version import __version__
from ..recording.tap import Environment


def capture(probe_result: Any = None) -> Environment:
    """Host, kernel, OS, clocksource, date, versions, and the probe's verdict (probed if not
    given: cached per process, see :func:`timens_lab.probe`)."""
    if probe_result is None:
        from ..probing.check import probe

        probe_result = probe()
    uname = os.uname()
    return Environment(
        host=socket.gethostname(), kernel=uname.release, machine=uname.machine, os=_os_name(),
        clocksource=_read("/sys/devices/system/clocksource/clocksource0/current_clocksource"),
        date=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        uid=os.geteuid(), python=platform.python_version(), timens_lab=__version__,
        probe=probe_result.to_dict() if hasattr(probe_result, "to_dict") else probe_result)


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _os_name() -> str | None:
    for line in (_read("/etc/os-release") or "").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip().strip('"')
    return None
