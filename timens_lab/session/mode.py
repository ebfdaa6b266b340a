"""Live or replay: the probe's verdict decides, and a replay's banner says why.

>>> source = open_source(recording="tour")     # live where the kernel allows, else the replay
>>> source.mode, source.banner                 # "replay", "REPLAY · recorded ... Live mode is off: ..."
>>> view = LiveView([DivergencePlot(source), LiveTree(TreePlot(), source.tree)])

:func:`open_source` is what notebooks call: a live :class:`~timens_lab.session.scenario.LiveSession`
(a SamplerSet that also serves trees) when the probe says time namespaces work, else a
:class:`~timens_lab.recording.replay.Replay` of a recording shipped in ``timens_lab/data`` (made
by ``make recordings``) whose banner says why live mode is off, with the probe's hint.
``TIMENS_LAB_MODE=replay`` forces the replay, ``live`` forces live mode.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable
from typing import Any, Literal

from ..recording.format import read_meta
from ..recording.replay import Replay, recording_path
from ..source import Source

MODE_ENV = "TIMENS_LAB_MODE"
MODES = ("auto", "live", "replay")


@dataclasses.dataclass(frozen=True)
class Choice:
    """Live or replay, and for a replay why live mode is off and what would turn it on."""

    mode: Literal["live", "replay"]
    reason: str | None = None
    hint: str | None = None


def choose(mode: str | None = None) -> Choice:
    """``mode`` (``"auto"``, ``"live"``, ``"replay"``; None reads ``TIMENS_LAB_MODE``) against
    the probe's verdict.

    Raises:
        ValueError: an unknown mode.
    """
    from ..probing.check import probe

    env_mode = os.environ.get(MODE_ENV, "").strip().lower()
    chosen = (mode or env_mode or "auto").strip().lower()
    if chosen not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {chosen!r}")
    if chosen == "live":
        return Choice("live")
    result = probe()   # cached; forced by TIMENS_LAB_MODE=replay, it says so itself
    if chosen == "auto":
        return (Choice("live") if result.time_namespaces
                else Choice("replay", result.reason, result.hint))
    if not result.time_namespaces:
        return Choice("replay", result.reason, result.hint)
    return Choice("replay", "a replay was asked for (open_source(mode='replay'))",
                  "open_source(mode='auto') uses live namespaces where the kernel allows them")


def open_source(namespaces: Iterable[Any] | None = None, *,
                recording: str | os.PathLike[str] | None = None, lab: Any = None,
                rate: float | None = None, speed: float = 1.0,
                mode: str | None = None) -> Source:
    """Live samplers where time namespaces work, else a replay that says why.

    Args:
        namespaces: for live mode: TimeNamespace objects (of ``lab``) or specs such as
            ``"monotonic=1h,boottime=2d"``; None: the namespaces of ``recording``'s scenario.
        recording: the recording to replay (a shipped name or a path; None: the default), and
            in live mode the scenario to recreate when ``namespaces`` is None.
        lab: the Lab for live mode (None: one is made, and closed with the source).
        rate: samples per second per namespace in live mode (None: the scenario's, or 100).
        speed: replay speed (``math.inf``: all at once).
        mode: ``"auto"`` (probe), ``"live"`` or ``"replay"``; None reads ``TIMENS_LAB_MODE``.

    Raises:
        ValueError: an unknown mode.
        TimensError: live mode was forced and the kernel refused (with its hint).
    """
    choice = choose(mode)
    if choice.mode == "replay":
        return Replay(recording, speed, reason=choice.reason, hint=choice.hint)
    from .scenario import start_live

    scenario = None
    if namespaces is None:
        scenario = read_meta(recording_path(recording)).get("scenario")
    return start_live(namespaces, lab=lab, scenario=scenario, rate=rate)
