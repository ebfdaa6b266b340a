"""Helpers for the tutorial notebooks: the mode banner, checked claims, and the experiments.

Every notebook starts and ends the same way::

    from timens_lab import tutorial as T
    lab = T.begin("01-first-namespace")     # banner: root, rootless or replay (and why)
    ...
    r = T.clocks(ns)
    T.checks.clocks(r)                       # one line: a table of expected vs measured, ✔/✘
    T.end()                                  # closes the Lab, sums up the checks

A check that does not hold raises :class:`ClaimFailed` (an AssertionError), so a notebook whose
kernel claims are wrong on this machine fails when run headless. The checks live in
tutorial/_checks.py, one per notebook section, each citing the numbered behaviours of
tutorial/behaviours.py it asserts; ``T.end()`` fails a run that did not check every behaviour
its notebook is said to show. Where the kernel cannot create
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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .._version import __version__
from . import _checks_rules  # noqa: F401  (the checks of notebooks 04-07 register on import)
from ._banner import mode_banner, show_probe
from ._checks import SECTIONS, Row
from ._display import show_html as _show
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
from ._plots import plot_cost, plot_migration, show_tree
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
    python,
    read_offsets_raw,
    setns_here,
    sh,
    subprocess_after_unshare,
    tools,
    util_linux_verdict,
    write_offsets_raw,
)
from ._tape import Proxy, Tape, TapeMismatch, activate, active, taped
from .behaviours import BEHAVIOURS, BY_NUMBER, Behaviour, shown_in

__all__ = [
    "BEHAVIOURS", "BY_NUMBER", "Behaviour", "ClaimFailed", "ClockReading", "Command", "Cost",
    "Measured", "Nested", "ProcTimes", "RawWrite", "Row", "Segment", "Survey", "TapeMismatch",
    "Tee", "Timers", "Tools", "Unsharer", "as_root", "begin", "check", "checks", "claim",
    "claim_near", "clock_syscalls", "clocks", "command", "cost", "dumpable", "end", "enospc",
    "errno_name", "have_strace", "host_clock_ns", "inode_reuse", "live_source", "lsns",
    "lsns_owner_tree", "measure", "mode", "mode_banner", "nested", "notebooks", "ns_ioctls",
    "plot_cost", "plot_migration", "proc_times", "python", "read_offsets_raw", "recorded_mode",
    "restore_offsets", "setns_here", "sh", "show", "show_measured", "show_probe", "show_tree",
    "shown_in", "subprocess_after_unshare", "survey", "timerfd_left_here", "timers", "tools",
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
    behaviours: set[int] = dataclasses.field(default_factory=set)   # checked and held
    sources: list[Any] = dataclasses.field(default_factory=list)    # live sources to close
    recorded: list[Path] = dataclasses.field(default_factory=list)  # samples recorded


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
    mode: str
    if result.time_namespaces:
        mode = result.mode
        tape = Tape(name, "record", meta=_meta(name, mode)) if os.environ.get(
            TAPE_ENV, "").strip().lower() == "record" else None
    else:
        mode, tape = "replay", Tape.load(name)
    activate(tape)
    session = _Current.session = _Session(name, mode, tape)
    mode_banner(result, current=mode)
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
    """Close the Lab, check a replay used its whole recording, save a recording, sum up.

    Raises:
        ClaimFailed: the run did not check every behaviour this notebook is said to show.
        TapeMismatch: a replay left part of its recording unused.
    """
    session, _Current.session = _Current.session, None
    if session is None:
        return
    for source in session.sources:
        source.close()
    for path in session.recorded:
        path.chmod(0o644)   # package data, read by whoever replays (the writer makes it 0600)
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
    missing = sorted({b.number for b in shown_in(session.name)} - session.behaviours)
    if missing:
        raise ClaimFailed(f"{session.name} is said to show behaviours "
                          f"{', '.join(f'B{n}' for n in missing)}, but no check of this run "
                          "asserted them (timens_lab/tutorial/behaviours.py)")
    held = sum(ok for _, ok, _ in session.claims)
    where = "against the recording" if session.mode == "replay" else f"live ({session.mode})"
    _show(f"<p><b>{held} expectations checked {where}; all held.</b></p>",
          f"{held} expectations checked {where}; all held.")


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


# --- claims --------------------------------------------------------------------------------------

def claim(description: str, condition: object, detail: str = "", *,
          behaviours: int | tuple[int, ...] = ()) -> None:
    """Check one kernel claim: show ✔ and the evidence, or raise ClaimFailed with both.

    ``behaviours`` are the numbered behaviours (tutorial/behaviours.py) it demonstrates.

    Raises:
        ClaimFailed: ``condition`` is false.
    """
    numbers = (behaviours,) if isinstance(behaviours, int) else tuple(behaviours)
    ok = bool(condition)
    _record(description, ok, detail, numbers)
    if numbers:
        description = f"[{', '.join(f'B{n}' for n in numbers)}] {description}"
    if not ok:
        raise ClaimFailed(f"claim failed: {description}\n  observed: {detail or condition!r}\n  "
                          f"mode: {mode()}, Linux {platform.release()}{_why(numbers)}")
    suffix = f" — {detail}" if detail else ""
    _show(f'<div style="color:#1b7f3b">✔ {html.escape(description)}'
          f'<span style="color:#555">{html.escape(suffix)}</span></div>',
          f"✔ {description}{suffix}")


def claim_near(description: str, measured: float, expected: float, tol: float,
               unit: str = "s", *, behaviours: int | tuple[int, ...] = ()) -> None:
    """claim() that ``measured`` is within ``tol`` of ``expected``; the detail says by how much."""
    claim(description, abs(measured - expected) <= tol,
          f"measured {measured:,.6f} {unit}, expected {expected:,.6f} ± {tol:g} {unit} "
          f"(off by {measured - expected:+.3g} {unit})", behaviours=behaviours)


def check(title: str, rows: Sequence[Row]) -> None:
    """Show ``rows`` as one table (behaviour, what, expected, measured, ✔/✘); raise if any fails.

    Raises:
        ClaimFailed: a row does not hold (the message lists every row that does not).
    """
    if not rows:
        raise ClaimFailed(f"check {title!r} has nothing to check")
    for row in rows:
        _record(f"{title}: {row.what}", row.ok, row.measured, row.behaviours)
    cells = "".join(
        f'<tr style="color:{"#1b7f3b" if r.ok else "#b00020"}"><td>{"✔" if r.ok else "✘"}</td>'
        f"<td>{html.escape(_cite(r.behaviours))}</td><td style='text-align:left'>"
        f"{html.escape(r.what)}</td><td style='text-align:left'>{html.escape(r.expected)}</td>"
        f"<td style='text-align:left'>{html.escape(r.measured)}</td></tr>" for r in rows)
    text = "\n".join(f"{'✔' if r.ok else '✘'} {_cite(r.behaviours):<8} {r.what}: expected "
                     f"{r.expected}; measured {r.measured}" for r in rows)
    _show(f"<p><b>Check: {html.escape(title)}</b></p><table><tr><th></th><th>behaviour</th>"
          "<th>what</th><th>expected</th><th>measured</th></tr>" + cells + "</table>",
          f"Check: {title}\n{text}")
    failed = [r for r in rows if not r.ok]
    if failed:
        numbers = tuple(n for r in failed for n in r.behaviours)
        raise ClaimFailed(f"check failed: {title}\n" + "\n".join(
            f"  ✘ {r.what}: expected {r.expected}, measured {r.measured}" for r in failed)
            + f"\n  mode: {mode()}, Linux {platform.release()}{_why(numbers)}")


class _Checks:
    """``T.checks.NAME(...)``: run the named check of tutorial/_checks.py and show its table."""

    def __getattr__(self, name: str) -> Any:
        section = SECTIONS.get(name)
        if section is None:
            raise AttributeError(f"no check named {name!r}; there are: {', '.join(SECTIONS)}")

        def run(*args: Any, **kw: Any) -> None:
            rows = section.rows(*args, **kw)
            # The registry is what tests/notebooks reads to map behaviours to cells: a row may
            # cite only behaviours its check declares.
            undeclared = {n for r in rows for n in r.behaviours} - set(section.behaviours)
            if undeclared:
                raise ValueError(f"check {name} cites undeclared behaviours {sorted(undeclared)}")
            check(section.title, rows)

        run.__doc__ = section.rows.__doc__
        return run

    def __dir__(self) -> list[str]:
        return sorted(SECTIONS)


checks = _Checks()


def _record(description: str, ok: bool, detail: str, numbers: tuple[int, ...]) -> None:
    session = _Current.session
    if session is not None:
        session.claims.append((description, ok, detail))
        if ok:
            session.behaviours.update(numbers)


def _cite(numbers: Sequence[int]) -> str:
    return ", ".join(f"B{n}" for n in numbers)


def _why(numbers: Sequence[int]) -> str:
    known = [BY_NUMBER[n] for n in numbers if n in BY_NUMBER]
    return "".join(f"\n  B{b.number}: {b.setup} → {b.expected}" for b in known)


# --- live views ----------------------------------------------------------------------------------

def live_source(lab: Any, namespaces: Sequence[Any] = (), *, rate: float = 1000.0) -> Tee:
    """Samplers on the host and in ``namespaces``, wrapped in a :class:`Tee` (claims can look at
    everything the views were shown); closed by :func:`end`.

    Recording a notebook (``TIMENS_LAB_TAPE=record``) records these samples, with the trees of
    the notebook's own namespaces, into ``timens_lab/data/tutorial-NAME.tnsrec``; replaying it
    plays that file back, so the plots show the namespaces the notebook created, by their names.

    Raises:
        TapeMismatch: replay mode, and the notebook has no recorded samples.
    """
    from ..session.mode import open_source
    from ._tape import TAPE_DIR, unwrap

    session = _Current.session
    name = session.name if session is not None else "scratch"
    index = sum(1 for s in session.sources) if session is not None else 0
    path = TAPE_DIR / f"tutorial-{name}{f'-{index}' if index else ''}.tnsrec"
    tape = active()
    if mode() == "replay":
        from ..probing.check import probe
        from ..recording.replay import Replay

        if not path.exists():
            raise TapeMismatch(f"no recorded samples for {name} ({path.name})")
        result = probe()
        source: Any = Replay(path, reason=result.reason or "a replay was asked for",
                             hint=result.hint)
    else:
        source = open_source(list(unwrap(list(namespaces))), lab=unwrap(lab), rate=rate,
                             mode="live")
        if tape is not None and tape.mode == "record":
            from ..session.recorder import record

            source = record(path, source, lab=unwrap(lab), note=f"notebooks/{name}.ipynb",
                            scenario=_scenario(name, source, rate))
            if session is not None:
                session.recorded.append(path)
    tee = Tee(source)
    if session is not None:
        session.sources.append(tee)
    return tee


def _scenario(name: str, source: Any, rate: float) -> dict[str, Any]:
    """What a recording's META keeps so open_source(recording=...) can recreate the run live:
    the notebook's namespaces by channel id, with the absolute offsets they were given."""
    from ..source import HOST

    return {"name": f"tutorial-{name}", "rate_hz": rate, "timeline": [],
            "namespaces": [{"name": ch.id, "parent": None, "monotonic": ch.monotonic_ns,
                            "boottime": ch.boottime_ns}
                           for ch in source.channels() if ch.id != HOST],
            "command": ["scripts/run_notebook.py", "--mode", "record",
                        f"notebooks/{name}.ipynb"]}


def show_measured(rows: Sequence[Measured]) -> None:
    _show(measured_html(rows), "\n".join(repr(r) for r in rows))


def show(html_text: str, text: str = "") -> None:
    """Display HTML in a notebook (plain text elsewhere)."""
    _show(html_text, text or html_text)


def notebooks(directory: Path = NOTEBOOK_DIR) -> list[str]:
    """The tutorial notebooks, in order (file names)."""
    return sorted(p.name for p in directory.glob("[0-9][0-9]-*.ipynb"))


# --- output --------------------------------------------------------------------------------------

def _say(text: str) -> None:
    _show(f"<p>{html.escape(text)}</p>", text)
