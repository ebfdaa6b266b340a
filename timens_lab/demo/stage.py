"""The demo's stage: theme (page CSS, figure colours) and what the clock readouts show.

The page side is two small anywidgets (widgets.py). :func:`readout_data` builds what the
readouts show from the divergence plot's data model
(:class:`~timens_lab.views.divergence_feed.DivergenceFeed`): offsets as the samplers measured
them inside each namespace, never the configured ones.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..offsets import format_duration

DATA = Path(__file__).resolve().parent.parent / "data"
THEMES = ("light", "dark")
#: Okabe & Ito's colour-blind-safe palette, ordered for lines on white (yellow last: too light)
#: and on black (black dropped, white last).
OKABE_ITO = {
    "light": ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000",
              "#F0E442"),
    "dark": ("#56B4E9", "#E69F00", "#009E73", "#CC79A7", "#F0E442", "#D55E00", "#0072B2",
             "#FFFFFF"),
}
#: Samples per (namespace, clock) the readouts take the median of (~0.6 s at 100 Hz).
TAIL = 64
#: The clocks a readout shows, in its rows' order (uptime is BOOTTIME: /proc/uptime reads it).
READ_CLOCKS = ("monotonic", "boottime", "realtime")


def css() -> str:
    """The stage's stylesheet, as a ``<style>`` element for an HTML widget."""
    return f"<style>{(DATA / 'stage.css').read_text()}</style>"


def matplotlib_rc(theme: str) -> dict[str, Any]:
    """rcParams for figures on the stage: the theme's ink and paper, Okabe–Ito lines.

    The divergence plot takes its namespace colours from ``axes.prop_cycle``; the tree its
    label boxes from ``axes.facecolor``; every other text from ``text.color``.
    """
    from cycler import cycler

    ink, paper, grid = ("white", "black", "#5a5a5a") if theme == "dark" else (
        "black", "white", "#b8b8b8")
    return {
        "figure.facecolor": paper, "axes.facecolor": paper, "savefig.facecolor": paper,
        "text.color": ink, "axes.labelcolor": ink, "axes.edgecolor": ink,
        "xtick.color": ink, "ytick.color": ink, "grid.color": grid,
        "legend.labelcolor": ink, "font.family": "DejaVu Sans",
        "axes.prop_cycle": cycler(color=list(OKABE_ITO[theme])),
    }


def apply_theme(theme: str) -> None:
    """Set the figures' theme for this kernel (the demo owns its kernel); figures made from now
    on follow it.

    Raises:
        ValueError: not a theme name.
    """
    if theme not in THEMES:
        raise ValueError(f"theme must be one of {THEMES}, not {theme!r}")
    import matplotlib as mpl

    mpl.rcParams.update(matplotlib_rc(theme))  # type: ignore[arg-type]  # stubs: Literal keys


# --- what the readouts show

def host_clocks_ns() -> dict[str, int]:
    """This process's clocks; the demo's kernel runs in the namespace the host sampler reads."""
    return {"monotonic": time.clock_gettime_ns(time.CLOCK_MONOTONIC),
            "boottime": time.clock_gettime_ns(time.CLOCK_BOOTTIME),
            "realtime": time.clock_gettime_ns(time.CLOCK_REALTIME)}


def _median(values: Any) -> int | None:
    import numpy as np

    return int(np.median(values)) if len(values) else None


def measured(feed: Any, cid: str, clock: str) -> tuple[int | None, int | None, int | None]:
    """(offset, residual, error bound) in ns: medians over the last TAIL samples of one
    namespace's clock, or Nones before the first measurement."""
    trace = feed.traces.get((cid, clock))
    if trace is None or not len(trace.offset.view):
        return None, None, None
    offset = _median(trace.offset.view[-TAIL:])
    _, resid, err = trace.residual(max(len(trace.offset.view) - TAIL, 0))
    return offset, _median(resid), _median(err)


#: Offsets smaller than this are the sampling's noise (REALTIME's are a few hundred ns), not
#: a namespace ahead or behind.
NOISE_NS = 1_000_000


def _sign_class(ns: int | None) -> str:
    return "" if ns is None or abs(ns) < NOISE_NS else ("ahead" if ns > 0 else "behind")


def readout_data(feed: Any, host: Mapping[str, int], *, names: Mapping[str, str] | None = None,
                 paused: bool = False, note: str = "", built: float = 0.0) -> dict[str, Any]:
    """The Readouts' data: the host's clocks ``host`` (ns, read now) and, per namespace channel
    of ``feed``, the same clocks plus the offsets measured in it (medians of the last TAIL
    samples); a clock not measured yet is None ("…" on screen). ``built`` tells one build of
    a scenario from the next (the page keeps it as ``data-built``). ``feed`` None: the host
    alone (the stage while it starts)."""
    columns: list[dict[str, Any]] = [{
        "name": "host", "sub": "the machine itself", "kind": "host",
        "clocks": {"uptime": host["boottime"], **{c: host[c] for c in READ_CLOCKS}},
        "resid": "reference"}]
    for cid in feed.order if feed is not None else ():
        channel = feed.channels[cid]
        clocks: dict[str, int | None] = {}
        ahead: dict[str, str] = {}
        worst: tuple[int, int] | None = None
        for clock in READ_CLOCKS:
            offset, resid, err = measured(feed, cid, clock)
            clocks[clock] = None if offset is None else host[clock] + offset
            ahead[clock] = _sign_class(offset)
            if clock != "realtime" and resid is not None and err is not None and (
                    worst is None or abs(resid) > abs(worst[0])):
                worst = (resid, err)
        clocks["uptime"], ahead["uptime"] = clocks["boottime"], ahead["boottime"]
        sub = (f"MONOTONIC {_offset(channel.monotonic_ns)} · "
               f"BOOTTIME {_offset(channel.boottime_ns)}")
        columns.append({
            "name": (names or {}).get(cid, str(channel.id)), "sub": sub, "kind": "ns",
            "clocks": clocks, "ahead": ahead,
            "resid": "…" if worst is None else f"{worst[0]:+d} ns (± {worst[1]} ns)"})
    return {"columns": columns, "paused": paused, "note": note, "built": built}


def _offset(ns: int | None) -> str:
    return "?" if ns is None else format_duration(ns)
