"""The conference demo: a full-screen stage with one-key scenarios that looks after itself.

``timens-lab demo`` serves ``data/demo.ipynb`` with Voilà (code hidden, widgets only), which runs::

    from timens_lab.demo import DemoApp
    DemoApp().start()

:class:`DemoApp` lays the stage out for a projector (1920×1080, usable at 1280×720; stage.py
and widgets.py: theme, readouts, keys; figures.py: the figures' size and type): scenario
buttons, a one-sentence caption saying what to notice, big ticking clocks per namespace beside
the host's, then the live divergence plot (:class:`~timens_lab.views.DivergencePlot`, with the
residual in ns) and the namespace tree, members named by command. Keys: 1–4 scenarios,
PageDown/PageUp step (a clicker), 0 or r reset, space pause, t light/dark, f full screen.

The four scenarios (a day ahead, a year behind, nesting, migration) are in scenarios.py.
Unattended it stays up: every action is fenced (an error is shown with its hint, never raised),
a watchdog rebuilds the Lab and the dashboard when the helper, a sampler or the render loop dies
(health.py says which),
and a periodic rollover rebuilds the current scenario so plot histories never grow without bound
(bench/bench_demo.py measures start-up time and memory over a long run). Where time namespaces are
unavailable it loops a shipped recording instead, and says why.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import gc
import html
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import figures, stage
from .health import problem
from .scenarios import CAPTIONS, PRESETS, SCENARIOS
from .startup import NO_ROOM, Startup, start_probe

#: The notebook Voilà serves (package data).
NOTEBOOK = Path(__file__).resolve().parent.parent / "data" / "demo.ipynb"
CLOCKS = ("monotonic", "boottime")
#: The stage's theme when DemoApp is not given one (`timens-lab demo --dark` sets it).
THEME_ENV = "TIMENS_LAB_DEMO_THEME"
#: The page the stage is laid out for until the page says its size (startup.py: how long the
#: first build waits for it).
STAGE = (1920, 0)
_HINT = ("<kbd>1</kbd>–<kbd>4</kbd> scenario · <kbd>PgDn</kbd>/<kbd>PgUp</kbd> next/previous · "
         "<kbd>0</kbd>/<kbd>r</kbd> reset · <kbd>space</kbd> pause · <kbd>t</kbd> light/dark · "
         "<kbd>f</kbd> full screen")


class DemoApp:
    """The demo stage; ``start()`` it in a notebook (or Voilà) cell.

    Args:
        rate: samples per second per namespace.
        fps: frames per second of the live views.
        window_s: seconds of history the divergence plot shows.
        rollover_s: rebuild the current scenario this often (keeps memory flat; None: never).
        watchdog_s: how often the watchdog checks the helper, the samplers and the render loop.
        theme: "light" or "dark" (the t key switches); default: $TIMENS_LAB_DEMO_THEME, else
            light.
        lab_factory: makes a Lab (tests inject failures through it).
    """

    def __init__(self, *, rate: float = 100.0, fps: float = 10.0, window_s: float = 60.0,
                 rollover_s: float | None = 600.0, watchdog_s: float = 2.0,
                 theme: str | None = None, lab_factory: Callable[[], Any] | None = None) -> None:
        theme = theme or os.environ.get(THEME_ENV) or "light"
        if theme not in stage.THEMES:
            raise ValueError(f"theme must be one of {stage.THEMES}, not {theme!r}")
        probed = start_probe()   # its child runs while the stage's widgets import
        import ipywidgets as W

        from .widgets import Keys, Readouts

        self.rate, self.fps, self.window_s = rate, fps, window_s
        self.rollover_s, self.watchdog_s, self.theme = rollover_s, watchdog_s, theme
        self.lab_factory = lab_factory or _default_lab
        result = probed.result()
        self.live = result.time_namespaces
        self.reason, self.hint = result.reason, result.hint
        self.lab: Any = None
        self.dash: Any = None
        self.preset = PRESETS[0]
        self.paused = False
        self.built_at = 0.0
        self.built_for: Any = None        # the figures.Fit the figures were made to
        self.recoveries = 0
        self.notes: list[str] = []
        self.refused = ""                 # the kernel's reason, when a scenario was refused
        #: host MONOTONIC at the last migration's checkpoint and restore (for tests and talks)
        self.migration: dict[str, int] = {}
        self.log: collections.deque[str] = collections.deque(maxlen=20)
        self._startup = Startup()         # the first build's staging (startup.py)
        self._task: asyncio.Task[None] | None = None
        self._busy: asyncio.Task[None] | None = None
        self._last_readout = 0.0
        self.buttons = {name: W.Button(description=f"{i} · {name}")
                        for i, name in enumerate(PRESETS, 1)}
        self.reset = W.Button(description="0 · reset")
        self.theme_button = W.Button(description="t · dark" if theme == "light" else "t · light")
        for name, button in self.buttons.items():
            button.on_click(lambda _b, name=name: self.choose(name))
            button.disabled = not self.live
            if not self.live:
                button.tooltip = "needs time namespaces: this machine replays a recording"
        self.reset.on_click(lambda _b: self.choose(self.preset))
        self.theme_button.on_click(lambda _b: self.key("theme"))
        self.keys = Keys()
        self.keys.on_key(self.key)
        self.keys.observe(self._on_room, names="room")
        self.caption = W.HTML()
        self.caption.add_class("tl-caption")
        self.status = W.HTML()
        self.status.add_class("timens-status")
        self.status.add_class("tl-notes")
        # The host's clocks tick from the first moment (the namespaces join when built).
        self.readouts = Readouts(data=stage.readout_data(None, stage.host_clocks_ns()))
        self.area = W.Box()
        self.area.add_class("tl-figures")
        self.keyhint = W.HTML()
        self.keyhint.add_class("tl-hint")
        mode = result.mode if self.live else "replay"
        banner = (f"live · {html.escape(mode)} · Linux {html.escape(result.kernel)}" if self.live
                  else f"REPLAY · {html.escape(self.reason)} · {html.escape(self.hint)}")
        title = W.HTML(f"<h1 class='tl-title' style='margin:0'>Linux time namespaces</h1>"
                       f"<div class='tl-mode'>timens-lab · {banner}</div>")
        buttons = W.HBox([*self.buttons.values(), self.reset, self.theme_button])
        buttons.add_class("tl-buttons")
        head = W.HBox([title, buttons, self.keys])
        head.add_class("tl-head")
        self.root = W.VBox([W.HTML(stage.css()), head, self.caption, self.status, self.readouts,
                            self.area, self.keyhint])
        for cls in ("timens-demo", "tl-stage", f"tl-{theme}"):
            self.root.add_class(cls)
        self._show_hint()

    # --- lifecycle

    def start(self) -> DemoApp:
        """Display the stage, build the first scenario, start the watchdog (on the running
        loop).

        Returns at once, with the stage on the page and nothing heavy imported: Voilà sends
        the page's scripts only when the cell has run, so the seconds of imports, the Lab and
        the samplers happen in the build's task (startup.py), while the page loads.
        """
        from IPython.display import display

        display(self.root)
        self._startup.shown()
        self._say("starting: loading the live views …")
        self.choose(self.preset)
        self._task = asyncio.get_running_loop().create_task(self._watch(), name="timens demo")
        return self

    def stop(self) -> None:
        """Stop the watchdog, the views, the samplers and the Lab."""
        for task in (self._task, self._busy):
            if task is not None:
                task.cancel()
        self._teardown(close_lab=True)

    def choose(self, name: str) -> None:
        """Switch to scenario ``name`` (a button, a key): rebuild, then set it up."""
        self.preset = name
        self.paused = False
        for other, button in self.buttons.items():
            (button.add_class if other == name else button.remove_class)("tl-current")
        self.caption.value = html.escape(CAPTIONS[name]) if self.live else html.escape(
            "Replaying a recording: " + CAPTIONS[name])
        self._show_hint()
        if self._busy is not None and not self._busy.done():
            self._busy.cancel()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (a plain script): run it to the end here
            asyncio.run(self._apply(name))
            return
        self._busy = loop.create_task(self._apply(name), name=f"timens demo: {name}")

    # --- presenter keys

    def key(self, key: str) -> None:
        """A presenter key: "1".."4", "next", "previous", "reset", "pause", "theme"."""
        if key in ("1", "2", "3", "4"):
            self.choose(PRESETS[int(key) - 1])
        elif key in ("next", "previous"):
            step = 1 if key == "next" else -1
            self.choose(PRESETS[(PRESETS.index(self.preset) + step) % len(PRESETS)])
        elif key == "reset":
            self.choose(self.preset)
        elif key == "pause":
            self.toggle_pause()
        elif key == "theme":
            self.set_theme("dark" if self.theme == "light" else "light")

    def toggle_pause(self) -> None:
        """Freeze the picture (samplers paused, clocks held) or let it run again."""
        with self._fenced("pause"):
            source = getattr(self.dash, "source", None)
            if self.live and source is not None and hasattr(source, "pause"):
                source.resume() if self.paused else source.pause()
            self.paused = not self.paused
            self._show_hint()
            self._readout(force=True)

    def set_theme(self, theme: str) -> None:
        """Light or dark: the page at once, the figures by rebuilding the scenario."""
        if theme not in stage.THEMES or theme == self.theme:
            return
        self.root.remove_class(f"tl-{self.theme}")
        self.theme = theme
        self.root.add_class(f"tl-{theme}")
        self.theme_button.description = "t · dark" if theme == "light" else "t · light"
        stage.apply_theme(theme)
        self.choose(self.preset)

    def _on_room(self, change: dict[str, Any]) -> None:
        """The page said how much room the figures have: refit them when it changed."""
        if self._busy is None or self._busy.done():
            self._refit()   # else the build in progress does, when it ends

    def _refit(self) -> None:
        room = tuple(self.keys.room)
        todo = figures.refit(self.built_for, room)
        if todo is None or self.dash is None:
            return
        if todo == "rebuild":
            self.choose(self.preset)
            return
        with self._fenced("resize"):
            fit = figures.fit(room)  # type: ignore[arg-type]
            figures.resize(self.dash, fit)
            self.built_for = fit

    def _show_hint(self) -> None:
        paused = " <span class='tl-paused'>paused: space to resume</span>" if self.paused else ""
        self.keyhint.value = _HINT + paused

    # --- scenarios

    async def _apply(self, name: str) -> None:
        self.notes, self.refused = [], ""
        with self._fenced(name):
            await self._startup.prepare(self.theme, self._open_lab if self.live else None)
            await asyncio.sleep(0)   # the page's widget messages that came meanwhile, first
            self._make()
            if self.built_for is None:
                # Only the figures' size waits for the page; the Lab and samplers are up.
                await self._startup.await_room(lambda: self.keys.room)
            self._place()
            if self.live:
                await SCENARIOS[name](self)
            self._words()
            self._readout(force=True)
        # The page may have changed the room while this ran (the words above take some).
        asyncio.get_running_loop().call_later(0.5, self._refit_if_idle)

    def _refit_if_idle(self) -> None:
        if self._busy is None or self._busy.done():
            self._refit()

    # --- building and tearing down

    def _make(self) -> None:
        """A fresh dashboard (and Lab, if the last one died) for the current scenario: its
        host sampler runs, its figures are not placed yet (:meth:`_place`)."""
        self._teardown(close_lab=False)
        if self.live:
            self._open_lab()
            from ..views import Dashboard

            self.dash = Dashboard.for_lab(self.lab, rate=self.rate, fps=self.fps)
        else:
            self.dash = figures.ReplayDash(self.fps)

    def _open_lab(self) -> None:
        """A Lab, unless the current one is still open."""
        if self.lab is None or self.lab.closed:
            self.lab = self.lab_factory()

    def _place(self) -> None:
        """The dashboard's figures sized to the page, on the stage, their render loop
        started."""
        room = tuple(self.keys.room) if tuple(self.keys.room) != NO_ROOM else STAGE
        fit = figures.fit(room)  # type: ignore[arg-type]
        figures.dress(self.dash, fit, window_s=self.window_s, roles=self._roles,
                      own=self._own if self.live else None)
        self.dash.view.hooks.append(self._readout)
        self.area.children = [figures.place(self.dash)]
        self.dash.view.start(show=False)
        self.built_at, self.built_for = time.monotonic(), fit

    def _teardown(self, *, close_lab: bool) -> None:
        dash, self.dash = self.dash, None
        if dash is not None:
            with contextlib.suppress(Exception):
                dash.close()
        # ipywidgets keeps every widget in a global registry until it is closed: without this,
        # each rebuild (a scenario, a rollover, a recovery) would leak ~90 widgets and their PNGs.
        from ..views._widgets import close_tree

        for child in self.area.children:
            close_tree(child)
        self.area.children = []
        panel = getattr(dash, "panel", None)   # made by the dashboard, not on the stage
        if panel is not None:
            close_tree(panel.widget)
        if self.lab is not None:
            with contextlib.suppress(Exception):
                for ns in self.lab.namespaces:
                    ns.close()
            if close_lab:
                with contextlib.suppress(Exception):
                    self.lab.close()
                self.lab = None
        # A closed dashboard is a web of reference cycles (figure <-> canvas, widgets <-> comms)
        # holding ~7 MB of Agg buffers, freed only by a full collection, which CPython runs
        # rarely (RSS ratcheted from 123 to 133 MB in four minutes of preset changes).
        # Collecting here (~35 ms a rebuild) keeps it flat (bench/bench_demo.py). Not before the
        # first build: nothing was closed, and the start-up's imports make it ~0.1 s.
        if dash is not None:
            gc.collect()

    def sample(self, ns: Any) -> Any:
        """A sampler in ``ns`` whose channel is labelled by the namespace's name alone: the
        legend, the readouts and the captions say "a day ahead"; the tree adds the offsets."""
        from ..clocks.sampler import Sampler

        sampler = Sampler.for_namespace(ns, rate=self.rate, clocks=CLOCKS)
        sampler.channel = dataclasses.replace(sampler.channel, label=str(ns.name))
        return self.dash.source.add(sampler.start())

    def spawn(self, ns: Any, argv: list[str]) -> None:
        """A member for the tree to show by its command (dies with its namespace)."""
        from ..engine.lab import DEVNULL

        ns.spawn(argv, stdin=DEVNULL, stdout=DEVNULL, stderr=DEVNULL)

    def _roles(self) -> dict[int, str]:
        """pid → what it is to the demo, for the tree: samplers and namespace holders."""
        roles: dict[int, str] = {}
        if self.lab is None or self.dash is None:
            return roles
        with contextlib.suppress(Exception):
            for ns in self.lab.namespaces:
                roles[ns.holder_pid] = "holder"
        source = getattr(self.dash, "source", None)
        for sampler in [getattr(source, "host", None), *getattr(source, "samplers", {}).values()]:
            child = getattr(sampler, "child", None)
            if child is not None:
                roles[child.pid] = "sampler"
        return roles

    def _own(self) -> tuple[set[str], str | None]:
        """The tree keys of this scenario's namespaces, and of the host's (for the tree; called
        from the tree's worker thread, so it only reads)."""
        lab, dash = self.lab, self.dash
        own = {f"time:{ns.inode}" for ns in list(getattr(lab, "namespaces", []))}
        host = getattr(getattr(getattr(dash, "source", None), "host", None), "channel", None)
        inode = getattr(host, "ns_inode", None)
        return own, None if inode is None else f"time:{inode}"

    def _readout(self, *, force: bool = False) -> None:
        """Once a second (a render-loop hook): anchor the readouts to the clocks now."""
        now = time.monotonic()
        if self.dash is None or not (force or now - self._last_readout >= 1.0):
            return
        if self.paused and not force:
            return
        self._last_readout = now
        feed = getattr(self.dash.plot, "feed", None)
        if feed is None:
            return
        names = {cid: feed.channels[cid].id for cid in feed.order}
        self.readouts.data = stage.readout_data(
            feed, stage.host_clocks_ns(), names=names, paused=self.paused, built=self.built_at,
            note="" if self.live else "recorded: the clocks are the recording's, anchored now")

    # --- the watchdog

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.watchdog_s)
            if self._busy is not None and not self._busy.done():
                continue
            wrong = self.health()
            if wrong is not None:
                self.recoveries += 1
                self.note(f"recovering (#{self.recoveries}) from: {html.escape(wrong)}")
                if self.lab is not None and wrong.startswith("helper"):
                    with contextlib.suppress(Exception):
                        self.lab.close()
                    self.lab = None
                self.choose(self.preset)
            elif (self.rollover_s and not self.paused
                  and time.monotonic() - self.built_at > self.rollover_s):
                self.choose(self.preset)

    def health(self) -> str | None:
        """None when everything runs; else what is wrong, in a few words."""
        return problem(self.dash, self.lab, live=self.live)

    # --- words on screen

    @contextlib.contextmanager
    def _fenced(self, what: str) -> Any:
        try:
            yield
        except asyncio.CancelledError:
            raise
        except Exception as err:
            hint = getattr(err, "hint", "")
            self._say(f"<span class='tl-error'>{html.escape(what)}: error: "
                      f"{html.escape(str(err))}</span>"
                      + (f"<br><i>hint: {html.escape(hint)}</i>" if hint else ""))
            self.log.append(f"{what}: {err}")

    def _words(self) -> None:
        """The scenario's status: the kernel's refusal (large) and its last two steps."""
        refused = f"<div class='tl-refused'>{self.refused}</div>" if self.refused else ""
        if not self.live:
            self._say(refused + "presets need time namespaces: this machine replays a "
                      "recording")
            return
        self._say(refused + " · ".join(self.notes[-2:]))

    def _say(self, text: str) -> None:
        self.status.value = text

    def note(self, text: str) -> None:
        """A step of the current scenario, shown under its caption (the last two stay)."""
        self.log.append(text)
        self.notes.append(text)
        if self.live and self.lab is not None:
            self._words()
        else:
            self._say(" · ".join(self.notes[-2:]))


def _default_lab() -> Any:
    from ..engine.lab import Lab

    return Lab()
