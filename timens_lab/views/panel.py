"""The control panel: ipywidgets over the same public API a user types (``Lab``, namespaces,
samplers). No kernel calls here; every action is one call on the lab or a namespace.

Each button's callback is a plain method (``create()``, ``apply_offsets()``, ``run_command()``,
``start_sampler()``, ``enter_pid()``, ``kill()``, ``toggle_pause()``), so it can be driven
headless with ``Button.click()`` or called directly. A :class:`~timens_lab.errors.TimensError`
never becomes a traceback: the panel shows ``error: …`` and ``hint: …`` in its error area.

Selection is the ``selected`` trait, a tree node key (``time:<inode>``), so the tree view and
the panel share it (dashboard.py links them).
"""

from __future__ import annotations

import html
import shlex
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import ipywidgets as W
import traitlets

from ..errors import TimensError
from ..offsets import NSEC, parse_duration
from ..source import SAMPLED_CLOCKS

UNITS = ("ns", "us", "ms", "s", "min", "h", "d")
_UNIT_NS = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": NSEC, "min": 60 * NSEC,
            "h": 3600 * NSEC, "d": 86400 * NSEC}
ROOTLESS = (("auto", None), ("rootless", True), ("as root", False))

SamplerFactory = Callable[[Any, float | None, tuple[str, ...]], Any]
#: (lab, pid) → a handle on pid's time namespace: foreign.join (offsets and container from
#: discovery) by default; tests pass ``lambda lab, pid: lab.enter(pid)``.
Joiner = Callable[[Any, int], Any]


def _default_joiner(lab: Any, pid: int) -> Any:
    from ..session.foreign import join

    return join(lab, pid=pid)


def _default_member(inode: int) -> int | None:
    """The eldest visible member of a time namespace (a pid to join it through), or None."""
    from ..discovery.scan import discover

    ns = discover().get(inode)
    return ns.members[0].pid if ns is not None and ns.members else None


def split_duration(ns: int) -> tuple[float, str]:
    """(value, unit) for the inputs: the largest unit that divides ``ns`` exactly."""
    for unit in reversed(UNITS):
        if ns % _UNIT_NS[unit] == 0:
            return ns // _UNIT_NS[unit], unit
    return ns, "ns"  # pragma: no cover - "ns" always divides


def _default_sampler(ns: Any, rate: float | None, clocks: tuple[str, ...]) -> Any:
    """``ns.sampler(...)`` where the namespace has one; the panel itself never starts
    processes, so without it the sampler must come from whoever owns the plotted Source."""
    if hasattr(ns, "sampler"):
        return ns.sampler(rate=rate, clocks=clocks)
    raise _InputError("this panel has no sampler wired to a plot",
                      "use Dashboard.for_lab(lab), or pass Panel(lab, sampler_factory=...) that "
                      "adds a Sampler to the Source the plot reads")


class OffsetInput:
    """A number and a unit for one clock: ``[ 1.5 ] [ h ▾ ]``."""

    def __init__(self, clock: str) -> None:
        self.value = W.FloatText(value=0.0, description=clock, layout=W.Layout(width="190px"),
                                 style={"description_width": "70px"})
        self.unit = W.Dropdown(options=UNITS, value="s", layout=W.Layout(width="70px"))
        self.box = W.HBox([self.value, self.unit])

    def ns(self) -> int:
        """Nanoseconds, through parse_duration so the panel accepts exactly what the API does."""
        return parse_duration(f"{self.value.value!r}{self.unit.value}")

    def text(self) -> str:
        """The duration for the API as exact nanoseconds ("3600000000000ns"): a bare int would
        be read as seconds by parse_duration. Raises InvalidOffsetError for bad input."""
        return f"{self.ns()}ns"

    def show(self, ns: int) -> None:
        value, unit = split_duration(ns)
        self.value.value, self.unit.value = float(value), unit


class Panel(traitlets.HasTraits):
    """Create, edit, run in, sample, enter, kill, pause: one namespace at a time."""

    #: the selected namespace as a tree key, ``time:<inode>`` (None: nothing selected)
    selected = traitlets.Unicode(None, allow_none=True)

    def __init__(self, lab: Any, *, sampler_factory: SamplerFactory | None = None,
                 on_sampler: Callable[[Any, Any], None] | None = None,
                 joiner: Joiner | None = None,
                 member_of: Callable[[int], int | None] | None = None) -> None:
        super().__init__()
        self.lab = lab
        self.joiner = joiner or _default_joiner
        self.member_of = member_of or _default_member
        self.sampler_factory = sampler_factory or _default_sampler
        self.on_sampler = on_sampler
        self.entered: list[Any] = []          # handles from lab.enter(pid), not in lab.namespaces
        self.samplers: dict[str, list[Any]] = {}
        self.children: dict[str, list[Any]] = {}
        self.paused = False
        self._options: list[tuple[str, str]] = []
        self._quiet = False

        self.monotonic = OffsetInput("monotonic")
        self.boottime = OffsetInput("boottime")
        self.rootless = W.ToggleButtons(options=ROOTLESS, value=None, description="mode",
                                        style={"button_width": "84px"})
        self.create_button = W.Button(description="Create namespace", button_style="primary",
                                      icon="plus", layout=_fit())
        self.apply_button = W.Button(description="Set offsets", icon="pencil",
                                     tooltip="only while the namespace is pending", layout=_fit())
        self.namespace = W.Dropdown(options=[], description="namespace",
                                    layout=W.Layout(width="360px"),
                                    style={"description_width": "70px"})
        self.command = W.Text(value="sleep 600", description="command",
                              layout=W.Layout(width="360px"), style={"description_width": "70px"})
        self.run_button = W.Button(description="Run", icon="play", layout=_fit())
        self.rate = W.FloatText(value=200.0, description="rate Hz", layout=W.Layout(width="190px"),
                                style={"description_width": "70px"})
        self.clocks = W.SelectMultiple(options=SAMPLED_CLOCKS, value=("monotonic", "boottime"),
                                       description="clocks", rows=len(SAMPLED_CLOCKS))
        self.sample_button = W.Button(description="Start sampler", icon="line-chart",
                                      layout=_fit())
        self.pause_button = W.Button(description="Pause samplers", icon="pause", layout=_fit())
        self.pid = W.IntText(value=0, description="pid", layout=W.Layout(width="190px"),
                             style={"description_width": "70px"})
        self.enter_button = W.Button(description="Enter by pid", icon="sign-in", layout=_fit())
        self.sample_pid_button = W.Button(
            description="Sample by pid", icon="line-chart", layout=_fit(),
            tooltip="sample the time namespace pid lives in (e.g. a container's): "
                    "it need not be this lab's")
        self.kill_button = W.Button(description="Kill", button_style="danger", icon="times")
        self.status = W.HTML()
        self.error = W.HTML()

        self.create_button.on_click(lambda _b: self.create())
        self.apply_button.on_click(lambda _b: self.apply_offsets())
        self.run_button.on_click(lambda _b: self.run_command())
        self.sample_button.on_click(lambda _b: self.start_sampler())
        self.pause_button.on_click(lambda _b: self.toggle_pause())
        self.enter_button.on_click(lambda _b: self.enter_pid())
        self.sample_pid_button.on_click(lambda _b: self.sample_pid())
        self.kill_button.on_click(lambda _b: self.kill())
        self.namespace.observe(self._on_dropdown, names="value")

        self.widget = W.VBox([
            W.HTML("<b>New namespace</b>"),
            self.monotonic.box, self.boottime.box, self.rootless,
            W.HBox([self.create_button, self.apply_button]),
            W.HTML("<b>Selected namespace</b>"), self.namespace,
            W.HBox([self.command, self.run_button]),
            W.HBox([self.rate, self.sample_button, self.pause_button]), self.clocks,
            W.HBox([self.pid, self.enter_button, self.sample_pid_button]), self.kill_button,
            self.status, self.error,
        ], layout=W.Layout(min_width="560px", flex="0 0 auto"))
        self.refresh()

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    # --- the namespaces the panel knows

    def namespaces(self) -> list[Any]:
        """Namespaces of the lab, then those entered by pid, in creation order."""
        own = list(self.lab.namespaces)
        return own + [h for h in self.entered if all(h is not n for n in own)]

    def current(self) -> Any | None:
        """The namespace chosen in the dropdown (None when there is none)."""
        name = self.namespace.value
        return next((n for n in self.namespaces() if _name(n) == name), None)

    def refresh(self) -> None:
        """Re-read names and states (after an action, or periodically from the dashboard).

        Replacing a Dropdown's options resets its value (ipywidgets 8), which would re-fill the
        offset inputs under the user's fingers; so options are replaced only when they changed,
        quietly, and the selection is kept.
        """
        options = [(f"{_label(n)} · {_state(n)}", _name(n)) for n in self.namespaces()]
        if options != self._options:
            keep = self.namespace.value
            names = [v for _, v in options]
            target = keep if keep in names else (names[-1] if names else None)
            self._quiet = True
            try:
                self.namespace.options = options
                self.namespace.value = target
            finally:
                self._quiet = False
            self._options = options
            if target != keep:
                self._on_dropdown({})
        self._enable()

    def _enable(self) -> None:
        ns = self.current()
        alive = ns is not None and _state(ns) != "closed"
        self.apply_button.disabled = not (alive and _state(ns) == "pending")
        for button in (self.run_button, self.sample_button, self.kill_button):
            button.disabled = not alive
        self.pause_button.disabled = not any(self.samplers.values())
        self.pause_button.description = "Resume samplers" if self.paused else "Pause samplers"
        self.pause_button.icon = "play" if self.paused else "pause"

    def _on_dropdown(self, change: dict[str, Any]) -> None:
        if self._quiet:
            return
        ns = self.current()
        self.selected = _key(ns) if ns is not None else None
        if ns is not None and _state(ns) == "pending":
            offsets = ns.offsets
            self.monotonic.show(offsets.monotonic_ns)
            self.boottime.show(offsets.boottime_ns)
        self._enable()

    @traitlets.observe("selected")
    def _on_selected(self, change: dict[str, Any]) -> None:
        """The tree picked a node: show that namespace in the dropdown if we know it."""
        ns = next((n for n in self.namespaces() if _key(n) == change["new"]), None)
        if ns is not None and self.namespace.value != _name(ns):
            self.namespace.value = _name(ns)
        key = change["new"] or ""
        if ns is None and key.startswith("time:") and key[5:].isdigit():
            # Not this lab's (a container's, another tool's): offer it through a member's pid.
            try:
                pid = self.member_of(int(key[5:]))
            except (OSError, TimensError):
                pid = None
            if pid is not None:
                self.pid.value = pid
                self._say(f"{key} is not this lab's: 'Sample by pid' samples it through pid {pid}")

    # --- actions (button callbacks)

    def create(self) -> Any | None:
        """lab.namespace(monotonic=…, boottime=…, rootless=…) from the inputs."""
        with self._action():
            ns = self.lab.namespace(monotonic=self.monotonic.text(),
                                    boottime=self.boottime.text(), rootless=self.rootless.value)
            self.refresh()
            self.namespace.value = _name(ns)
            self._say(f"created {_label(ns)} ({_state(ns)})")
            return ns
        return None

    def apply_offsets(self) -> None:
        """ns.set_offsets(...) on the selected namespace; only a pending one accepts it."""
        with self._action():
            ns = self._need()
            ns.set_offsets(monotonic=self.monotonic.text(), boottime=self.boottime.text())
            self._say(f"offsets set: {_label(ns)} (still pending until something enters)")

    def run_command(self) -> Any | None:
        """ns.spawn(argv): the command line is split like a shell would, never run by one."""
        with self._action():
            ns = self._need()
            try:
                argv = shlex.split(self.command.value)
            except ValueError as err:
                raise _InputError(f"cannot split the command: {err}",
                                  "close the quote, or escape it with a backslash") from err
            if not argv:
                raise _InputError("no command given", "type a command such as: sleep 600")
            child = ns.spawn(argv)
            self.children.setdefault(_name(ns), []).append(child)
            self._say(f"{_name(ns)}: started pid {child.pid}: {html.escape(shlex.join(argv))}")
            return child
        return None

    def start_sampler(self) -> Any | None:
        """A sampler in the selected namespace at the chosen rate and clocks."""
        with self._action():
            ns = self._need()
            clocks = tuple(self.clocks.value)
            if not clocks:
                raise _InputError("no clock chosen", "select at least one clock to sample")
            rate = self.rate.value if self.rate.value > 0 else None
            sampler = self.sampler_factory(ns, rate, clocks)
            self.samplers.setdefault(_name(ns), []).append(sampler)
            if self.on_sampler is not None:
                self.on_sampler(ns, sampler)
            if self.paused:
                sampler.pause()
            what = f"{rate:g} Hz" if rate else "full speed"
            self._say(f"{_name(ns)}: sampling {', '.join(clocks)} at {what}")
            return sampler
        return None

    def toggle_pause(self) -> None:
        """Pause every sampler the panel started, or resume them."""
        with self._action():
            for sampler in (s for group in self.samplers.values() for s in group):
                sampler.resume() if self.paused else sampler.pause()
            self.paused = not self.paused
            self._say("samplers paused" if self.paused else "samplers running")

    def enter_pid(self) -> Any | None:
        """lab.enter(pid): a handle on the time namespace pid lives in."""
        with self._action():
            handle = self.lab.enter(int(self.pid.value))
            if all(handle is not n for n in self.namespaces()):
                self.entered.append(handle)
            self.refresh()
            self.namespace.value = _name(handle)
            self._say(f"pid {self.pid.value} lives in {_name(handle)}: spawn and sample there")
            return handle
        return None

    def sample_pid(self) -> Any | None:
        """Sample the namespace pid lives in, created by anyone (foreign.join: the owner's user
        namespace is joined first when rootless; a pid's namespace is never pending)."""
        with self._action():
            pid = int(self.pid.value)
            if pid <= 0:
                raise _InputError(f"not a process id: {pid}", "type the pid of a process whose "
                                  "namespace to sample (`timens-lab tree` lists them)")
            handle = next((h for h in self.entered if getattr(h, "_target", None) == {"pid": pid}),
                          None) or self.joiner(self.lab, pid)
            if all(handle is not n for n in self.namespaces()):
                self.entered.append(handle)
            self.refresh()
            self.namespace.value = _name(handle)
            return self.start_sampler()
        return None

    def kill(self) -> None:
        """Stop the namespace's samplers, then ns.close(), which kills its processes. A namespace
        entered by pid is not ours to close: only what the panel started in it is killed."""
        with self._action():
            ns = self._need()
            for sampler in self.samplers.pop(_name(ns), []):
                sampler.stop()
            children = self.children.pop(_name(ns), [])
            if hasattr(ns, "close"):
                ns.close()
                self._say(f"{_name(ns)} closed")
                return
            for child in children:
                child.kill()
                child.wait()
            self.entered = [h for h in self.entered if h is not ns]
            self._say(f"killed {len(children)} process(es) started in {_name(ns)}")

    # --- plumbing

    def _need(self) -> Any:
        ns = self.current()
        if ns is None:
            raise _InputError("no namespace selected", "create one, or enter one by pid")
        return ns

    @contextmanager
    def _action(self) -> Iterator[None]:
        """Errors with a hint go to the error area; the panel state is refreshed either way."""
        self.error.value = ""
        try:
            yield
        except TimensError as err:
            self.show_error(str(err), err.hint)
        except ValueError as err:  # the API's own argument checks (a rate out of range, ...)
            self.show_error(str(err), "check the values entered above")
        finally:
            self.refresh()

    def show_error(self, message: str, hint: str = "") -> None:
        text = f"<b>error:</b> {html.escape(message)}"
        if hint:
            text += f"<br><b>hint:</b> {html.escape(hint)}"
        self.error.value = f'<div style="color:#b00020">{text}</div>'

    def _say(self, text: str) -> None:
        self.status.value = text


def _fit() -> W.Layout:
    """A button sized to its label: fixed widths clipped them in the browser ("Create names…",
    "Ente…"), and a flexible row shrank the text fields. Given at construction, never assigned
    later: a replaced Layout (or Style) stays in ipywidgets' registry for good."""
    return W.Layout(width="auto", min_width="fit-content", flex="0 0 auto")


class _InputError(TimensError, ValueError):
    """Bad input typed into the panel (shown like any other error, with its hint)."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message, hint=hint)


def _name(ns: Any) -> str:
    """Namespaces the lab created have a name; one entered by pid is named by its inode."""
    name = getattr(ns, "name", None)
    return str(name) if name else f"time:[{getattr(ns, 'inode', '?')}]"


def _label(ns: Any) -> str:
    """``ns1 +1h/+2d`` (the lab's cached label, no round trip to the helper), else the name."""
    label = getattr(ns, "label", None)
    return str(label) if label else _name(ns)


def _state(ns: Any) -> str:
    return str(getattr(ns, "state", "?"))


def _key(ns: Any) -> str | None:
    inode = getattr(ns, "inode", None)
    return f"time:{inode}" if inode is not None else None

