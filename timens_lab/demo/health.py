"""What is wrong with a running demo stage, in a few words: the watchdog's question.

DemoApp's watchdog (app.py) asks this every few seconds and rebuilds the scenario when the
answer is not None: the render loop raised or ended, the Lab's helper is gone, or the host's
sampler exited. A replay has no Lab and no samplers, so only its render loop counts.
"""

from __future__ import annotations

import os
import traceback
from typing import Any


def problem(dash: Any, lab: Any, *, live: bool) -> str | None:
    """None when everything runs; else what is wrong, in a few words."""
    if dash is None:
        return "no dashboard"
    if dash.view.error is not None:
        return f"render loop: {_where(dash.view.error)}"
    if not dash.view.running:
        return "render loop ended"
    if not live:
        return None
    if lab is None or lab.closed:
        return "helper: the Lab is closed"
    try:
        if dash.source.host.child is not None and dash.source.host.child.poll() is not None:
            return "host sampler exited"
    except Exception as err:
        return f"helper: {err}"
    return None


def _where(err: BaseException) -> str:
    """The error and the line that raised it, for the stage log (a recovery should say what)."""
    tb = traceback.extract_tb(err.__traceback__)
    at = f" (at {os.path.basename(tb[-1].filename)}:{tb[-1].lineno} in {tb[-1].name})" if tb else ""
    return f"{type(err).__name__}: {err}{at}"
