"""Helpers for the tutorial notebooks: the mode banner, checked claims, and the experiments.

Every notebook starts and ends the same way::

    from timens_lab import tutorial as T
    lab = T.begin("01-first-namespace")     # banner: root, rootless or replay (and why)
    ...
    T.claim("MONOTONIC runs one hour ahead", abs(r.offset_s("monotonic") - 3600) < 0.05,
            f"{r.offset_s('monotonic'):.6f} s")
    T.end()                                  # closes the Lab, sums up the claims

A claim that does not hold raises :class:`ClaimFailed` (an AssertionError), so a notebook whose
kernel claims are wrong on this machine fails when run headless. Where the kernel cannot create
time namespaces (or ``TIMENS_LAB_MODE=replay``), ``begin`` returns a stand-in Lab that answers
from the notebook's recording (_tape.py) and the banner says so: the claims are then
checked against what was recorded on a real kernel.
"""

from __future__ import annotations

import dataclasses
import datetime
import html
import os
import platform
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import __version__
from ._exp import (
    ClockReading,
    Cost,
    Nested,
    Timers,
    Unsharer,
    clocks,
    cost,
    dumpable,
    enospc,
    errno_name,
    host_clock_ns,
    nested,
    timerfd_left_here,
    timers,
    unsharer,
)
from ._obs import (
    Measured,
    Segment,
    Survey,
    Tee,
    inode_reuse,
    lsns,
    lsns_owner_tree,
    measure,
    measured_html,
    restore_offsets,
    survey,
    workload,
)
from ._proc import (
    Command,
    ProcTimes,
    RawWrite,
    Tools,
    clock_syscalls,
    command,
    have_strace,
    ns_ioctls,
    proc_times,
    read_offsets_raw,
    setns_here,
    subprocess_after_unshare,
    tools,
    util_linux_verdict,
    write_offsets_raw,
)
from ._tape import Proxy, Tape, TapeMismatch, activate, active, tape_path, taped

__all__ = [
    "ClaimFailed", "ClockReading", "Command", "Cost", "Measured", "Nested", "ProcTimes",
    "RawWrite", "Segment", "Survey", "TapeMismatch", "Tee", "Timers", "Tools", "Unsharer",
    "as_root", "begin", "claim", "claim_near", "clock_syscalls", "clocks", "command", "cost",
    "dumpable", "end", "enospc", "errno_name", "have_strace", "host_clock_ns", "inode_reuse",
    "live_source", "lsns", "lsns_owner_tree", "measure", "mode", "mode_banner", "nested",
    "notebooks", "ns_ioctls", "plot_cost", "plot_migration", "proc_times", "read_offsets_raw",
    "recorded_mode", "restore_offsets", "setns_here", "show", "show_measured", "show_probe",
    "show_tree", "subprocess_after_unshare", "survey", "timerfd_left_here", "timers", "tools",
    "unsharer", "util_linux_verdict", "workload", "write_offsets_raw",
]

#: ``TIMENS_LAB_TAPE=record`` records this run into the notebook's tape (a live kernel needed).
TAPE_ENV = "TIMENS_LAB_TAPE"
NOTEBOOK_DIR = Path(__file__).resolve().parents[2] / "notebooks"


class ClaimFailed(AssertionError):
    """A kernel claim the notebook makes did not hold on this machine."""


@dataclasses.dataclass
class _Session:
    name: str
    mode: str                      # root / rootless / replay
    tape: Tape | None
    lab: Any = None
    claims: list[tuple[str, bool, str]] = dataclasses.field(default_factory=list)


class _Current:
    """The running notebook's session (one per kernel: a notebook is one process)."""

    session: _Session | None = None


# --- begin / end ---------------------------------------------------------------------------------

def begin(name: str, *, lab: bool = True) -> Any:
    """Show the mode banner and return a Lab (live), or its stand-in (replay); None if not ``lab``.

    Raises:
        TapeMismatch: replay mode, and this notebook has no recording.
    """
    from ..probing.check import probe

    if _Current.session is not None:
        end(quiet=True)
    result = probe()
    if result.time_namespaces:
        mode = result.mode
        tape = Tape(name, "record", meta=_meta(name, mode)) if os.environ.get(
            TAPE_ENV, "").strip().lower() == "record" else None
    else:
        mode, tape = "replay", Tape.load(name)
    activate(tape)
    session = _Current.session = _Session(name, mode, tape)
    mode_banner(result)
    if not lab:
        return None
    if tape is not None and tape.mode == "replay":
        session.lab = Proxy(tape, "lab", None)
    else:
        from ..engine.lab import Lab

        real = Lab()
        session.lab = Proxy(tape, tape.name_for(real), real) if tape is not None else real
    return session.lab


def end(*, quiet: bool = False) -> None:
    """Close the Lab, check a replay used its whole recording, save a recording, sum up."""
    session, _Current.session = _Current.session, None
    if session is None:
        return
    lab = session.lab
    real = lab._real if isinstance(lab, Proxy) else lab
    if real is not None:
        real.close()
    tape = session.tape
    activate(None)
    if tape is not None and tape.mode == "record" and not quiet:
        path = tape.save()
        _say(f"recorded {len(tape.events)} events into {path.name}")
    if tape is not None and tape.mode == "replay" and not quiet and not tape.finished:
        raise TapeMismatch(f"the recording has {len(tape.events) - tape.pos} more events than "
                           "this run used: the notebook changed since it was recorded")
    if quiet:
        return
    held = sum(ok for _, ok, _ in session.claims)
    where = "against the recording" if session.mode == "replay" else f"live ({session.mode})"
    _show(f"<p><b>{held} claims checked {where}; all held.</b></p>",
          f"{held} claims checked {where}; all held.")


def mode() -> str:
    """``root``, ``rootless`` or ``replay`` for the running notebook (the probe's, before begin)."""
    if _Current.session is not None:
        return _Current.session.mode
    from ..probing.check import probe

    result = probe()
    return result.mode if result.time_namespaces else "replay"


def recorded_mode() -> str:
    """root or rootless: this run's mode, or in replay the mode the recording was made in."""
    current = mode()
    if current == "replay":
        tape = active()
        return str(tape.meta.get("mode", "?")) if tape is not None else "?"
    return current


@taped
def as_root() -> bool:
    """Whether the kernel work runs as root (in replay: whether the recording did)."""
    return os.geteuid() == 0


def _meta(name: str, mode: str) -> dict[str, Any]:
    return {"notebook": name, "mode": mode, "kernel": platform.release(),
            "recorded": datetime.date.today().isoformat(), "python": platform.python_version(),
            "timens_lab": __version__}


# --- the banner ----------------------------------------------------------------------------------

_COLOURS = {"root": "#1b7f3b", "rootless": "#1b5e9f", "replay": "#a04000"}


def mode_banner(result: Any = None) -> str:
    """Say which mode this notebook runs in and why; returns the mode."""
    from ..probing.check import probe

    result = result or probe()
    current = mode()
    tape = active()
    if current == "replay":
        meta = tape.meta if tape is not None else {}
        text = (f"REPLAY · {result.reason or 'time namespaces are not available here'}. "
                f"Replaying a recording of this notebook made as {meta.get('mode', '?')} on Linux "
                f"{meta.get('kernel', '?')} ({meta.get('recorded', '?')}); every claim is "
                "checked against the recorded values.")
        if result.hint:
            text += f" To run live: {result.hint}."
    elif current == "root":
        text = (f"LIVE · root · Linux {result.kernel} · namespaces come from "
                "unshare(CLONE_NEWTIME) in a helper process; every claim is checked live.")
    else:
        text = (f"LIVE · rootless (uid {os.geteuid()}) · Linux {result.kernel} · each namespace "
                "is owned by a user namespace you created; every claim is checked live.")
    if tape is not None and tape.mode == "record":
        text += f" RECORDING into {tape_path(tape.name).name}."
    colour = _COLOURS.get(current, "#444")
    _show(f'<div style="border-left:6px solid {colour};padding:6px 10px;margin:4px 0;'
          f'background:{colour}14"><b style="color:{colour}">{html.escape(text.split(" · ")[0])}'
          f"</b> · {html.escape(' · '.join(text.split(' · ')[1:]))}</div>", text)
    return current


def show_probe(result: Any = None) -> None:
    """The probe's checks as a table (what was tried, what it said, how to fix it)."""
    from ..probing.check import probe

    result = result or probe()
    rows = "".join(
        f"<tr><td>{html.escape(c.name)}</td><td>{_status(c)}</td><td>{html.escape(c.detail)}"
        f"</td><td>{html.escape(c.hint)}</td></tr>" for c in result.checks)
    _show(f"<table><tr><th>check</th><th>status</th><th>detail</th><th>hint</th></tr>{rows}"
          f"</table><p><b>{html.escape(result.summary())}</b></p>", result.summary())


def _status(check: Any) -> str:
    if check.ok is None:
        return "n/a"
    return "ok" if check.ok else ("<b>FAIL</b>" if check.required else "no")


# --- claims --------------------------------------------------------------------------------------

def claim(description: str, condition: object, detail: str = "", *,
          check: int | tuple[int, ...] = ()) -> None:
    """Check one kernel claim: show ✔ and the evidence, or raise ClaimFailed with both.

    ``check`` names the black-box checks of kernel-timens.md §14 this claim demonstrates
    (notebooks/README.md maps every one of them to a notebook cell).

    Raises:
        ClaimFailed: ``condition`` is false.
    """
    checks = (check,) if isinstance(check, int) else tuple(check)
    if checks:
        description = f"[§14 #{', #'.join(map(str, checks))}] {description}"
    ok = bool(condition)
    if _Current.session is not None:
        _Current.session.claims.append((description, ok, detail))
    if not ok:
        where = mode()
        raise ClaimFailed(f"claim failed: {description}\n  observed: {detail or condition!r}\n  "
                          f"mode: {where}, Linux {platform.release()}; see "
                          "../shared/docs/kernel-timens.md §14 for what was expected and why")
    suffix = f" — {detail}" if detail else ""
    _show(f'<div style="color:#1b7f3b">✔ {html.escape(description)}'
          f'<span style="color:#555">{html.escape(suffix)}</span></div>',
          f"✔ {description}{suffix}")


def claim_near(description: str, measured: float, expected: float, tol: float,
               unit: str = "s", *, check: int | tuple[int, ...] = ()) -> None:
    """claim() that ``measured`` is within ``tol`` of ``expected``; the detail says by how much."""
    claim(description, abs(measured - expected) <= tol,
          f"measured {measured:,.6f} {unit}, expected {expected:,.6f} ± {tol:g} {unit} "
          f"(off by {measured - expected:+.3g} {unit})", check=check)


# --- live views ----------------------------------------------------------------------------------

def live_source(lab: Any, namespaces: Sequence[Any] = (), *, rate: float = 1000.0,
                recording: str | None = None) -> Tee:
    """Samplers on the host and in ``namespaces`` (live), or a shipped recording (replay).

    Wrapped in a :class:`Tee`, so claims can look at everything the views were shown.
    """
    from ..recording.replay import open_source
    from ._tape import unwrap

    if mode() == "replay":
        return Tee(open_source(recording=recording, mode="replay"))
    return Tee(open_source(list(unwrap(list(namespaces))), lab=unwrap(lab), rate=rate,
                           mode="live"))


def show_measured(rows: Sequence[Measured]) -> None:
    _show(measured_html(rows), "\n".join(repr(r) for r in rows))


def show_tree(tree: Any, title: str, figsize: tuple[float, float] = (7.5, 3.2)) -> None:
    """Draw a namespace tree (TreePlot) and leave it in the notebook as a PNG."""
    from ..views._figure import png_bytes
    from ..views.tree_plot import TreePlot

    plot = TreePlot(title=title, figsize=figsize)
    try:
        plot.update(tree)
        _show_png(png_bytes(plot.fig))
    finally:
        plot.close()


def plot_migration(segments: Sequence[Segment], checkpoint_ns: int | None = None) -> None:
    """MONOTONIC as the workload saw it, phase by phase, against wall-clock time."""
    from ..views._figure import close_figure, new_figure, png_bytes

    fig = new_figure((9.0, 3.6))
    try:
        ax = fig.add_subplot(1, 2, 1)
        zoom = fig.add_subplot(1, 2, 2)
        t0 = min(int(s.rt_ns[0]) for s in segments)
        ref = checkpoint_ns if checkpoint_ns is not None else 0
        for seg in segments:
            x = (seg.rt_ns - t0) / 1e9
            ax.plot(x, seg.monotonic_ns / 86400e9, lw=2, label=seg.label)
            zoom.plot(x, (seg.monotonic_ns - ref) / 1e9, lw=2, label=seg.label)
        ax.set_xlabel("wall-clock time (s)")
        ax.set_ylabel("MONOTONIC seen by the workload (days)")
        ax.set_title("every phase", fontsize=10, loc="left")
        ax.legend(fontsize=7)
        if checkpoint_ns is not None:
            zoom.set_ylim(-3, 4)
            zoom.axhline(0, color="0.4", lw=0.8, ls="--")
        zoom.set_title("around the checkpoint", fontsize=10, loc="left")
        zoom.set_xlabel("wall-clock time (s)")
        zoom.set_ylabel("MONOTONIC − checkpoint value (s)")
        for a in (ax, zoom):
            a.grid(True, lw=0.4, alpha=0.5)
        fig.tight_layout()
        _show_png(png_bytes(fig))
    finally:
        close_figure(fig)


def plot_cost(result: Cost) -> None:
    """ns per clock read, best round, per clock and place: vDSO bars (syscall in the text)."""
    import numpy as np

    from ..views._figure import close_figure, new_figure, png_bytes
    from ._exp import COST_CLOCKS

    fig = new_figure((9.0, 3.2))
    try:
        ax = fig.add_subplot(1, 1, 1)
        x = np.arange(len(COST_CLOCKS))
        width = 0.8 / len(result.places)
        for i, place in enumerate(result.places):
            ax.bar(x + i * width, [result.best(place, c) for c in COST_CLOCKS], width,
                   label=place)
        ax.set_xticks(x + 0.4 - width / 2, [c.upper() for c in COST_CLOCKS], fontsize=8,
                      rotation=15)
        ax.set_ylabel("ns per clock_gettime() (vDSO)")
        ax.legend(fontsize=8)
        ax.grid(True, axis="y", lw=0.4, alpha=0.5)
        fig.tight_layout()
        _show_png(png_bytes(fig))
    finally:
        close_figure(fig)


def show(html_text: str, text: str = "") -> None:
    """Display HTML in a notebook (plain text elsewhere)."""
    _show(html_text, text or html_text)


def notebooks(directory: Path = NOTEBOOK_DIR) -> list[str]:
    """The tutorial notebooks, in order (file names)."""
    return sorted(p.name for p in directory.glob("[0-9][0-9]-*.ipynb"))


# --- output --------------------------------------------------------------------------------------

def _in_ipython() -> bool:
    return "IPython" in sys.modules and getattr(sys.modules["IPython"], "get_ipython",
                                                lambda: None)() is not None


def _show(html_text: str, text: str) -> None:
    if _in_ipython():
        from IPython.display import display

        display({"text/html": html_text, "text/plain": text}, raw=True)
    else:
        print(text)


def _show_png(png: bytes) -> None:
    if _in_ipython():
        from IPython.display import Image, display

        display(Image(png))


def _say(text: str) -> None:
    _show(f"<p>{html.escape(text)}</p>", text)
