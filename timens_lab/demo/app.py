"""The conference demo: a full-screen dashboard with one-click scenarios that looks after itself.

``timens-lab demo`` serves ``data/demo.ipynb`` with Voilà (code hidden, widgets only), which runs::

    from timens_lab.demo.app import DemoApp
    DemoApp().start()

:class:`DemoApp` shows the control panel, the live namespace tree and the live divergence plot
(:class:`~timens_lab.views.Dashboard`) in large type, under a row of scenario buttons:

* **a day ahead** — one namespace, MONOTONIC and BOOTTIME +1 d;
* **a year behind** — asks for −1 y, gets the kernel's ERANGE (host clock + offset < 0) with
  timens-lab's explanation on screen, and settles for as far behind as the kernel allows;
* **nesting** — A (+1 h), B made inside A (inherits +1 h), C made inside A with monotonic +5 s:
  absolute to the host, not to A;
* **migration** — a workload on "machine A" (+5 d), checkpointed, restored CRIU-style in a
  namespace whose offsets continue its clocks (notebook 06 step by step).

Unattended it stays up: every action is fenced (an error is shown with its hint, never raised),
a watchdog rebuilds the Lab and the dashboard when the helper, a sampler or the render loop dies,
and a periodic rollover rebuilds the current scenario so plot histories never grow without bound
(bench/bench_demo.py measures start-up time and memory over a long run). Where time namespaces are
unavailable it loops a shipped recording instead, and says why.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import gc
import html
import os
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: The notebook Voilà serves (package data).
NOTEBOOK = Path(__file__).resolve().parents[1] / "data" / "demo.ipynb"
PRESETS = ("a day ahead", "a year behind", "nesting", "migration")
CLOCKS = ("monotonic", "boottime")
_STYLE = """<style>
.timens-demo-head, .timens-demo-head .widget-html-content, .timens-demo-head button
  {font-size: %(px)dpx !important; line-height: 1.35 !important;}
.timens-demo-head .jupyter-button {height: auto !important; padding: 6px 18px !important;}
.timens-demo-head h1 {font-size: %(h1)dpx; margin: 2px 0 6px 0;}
.timens-demo-head .timens-status {min-height: 2.8em;}
.timens-demo .p-Accordion, .timens-demo .lm-Accordion {font-size: 14px;}
</style>"""


class DemoApp:
    """The demo dashboard; ``start()`` it in a notebook (or Voilà) cell.

    Args:
        rate: samples per second per namespace.
        fps: frames per second of the live views.
        window_s: seconds of history the divergence plot shows.
        rollover_s: rebuild the current scenario this often (keeps memory flat; None: never).
        watchdog_s: how often the watchdog checks the helper, the samplers and the render loop.
        font_px: base font size of the controls.
        dpi: figure resolution (the figures scale with it: large type on a projector).
        lab_factory: makes a Lab (tests inject failures through it).
    """

    def __init__(self, *, rate: float = 100.0, fps: float = 10.0, window_s: float = 60.0,
                 rollover_s: float | None = 600.0, watchdog_s: float = 2.0, font_px: int = 20,
                 dpi: float = 115.0, lab_factory: Callable[[], Any] | None = None) -> None:
        import ipywidgets as W

        from ..probing.check import probe

        self.rate, self.fps, self.window_s = rate, fps, window_s
        self.rollover_s, self.watchdog_s, self.dpi = rollover_s, watchdog_s, dpi
        self.lab_factory = lab_factory or _default_lab
        result = probe()
        self.live = result.time_namespaces
        self.reason, self.hint = result.reason, result.hint
        self.lab: Any = None
        self.dash: Any = None
        self.preset = PRESETS[0]
        self.built_at = 0.0
        self.recoveries = 0
        self.notes: list[str] = []
        #: host MONOTONIC at the last migration's checkpoint and restore (for tests and talks)
        self.migration: dict[str, int] = {}
        self.log: collections.deque[str] = collections.deque(maxlen=20)
        self._task: asyncio.Task[None] | None = None
        self._busy: asyncio.Task[None] | None = None
        self.buttons = {name: W.Button(description=name, button_style="info",
                                       layout=W.Layout(width="auto")) for name in PRESETS}
        self.reset = W.Button(description="reset", icon="refresh", layout=W.Layout(width="auto"))
        for name, button in self.buttons.items():
            button.on_click(lambda _b, name=name: self.choose(name))
            button.disabled = not self.live
            if not self.live:
                button.tooltip = "needs time namespaces: this machine replays a recording"
        self.reset.on_click(lambda _b: self.choose(self.preset))
        self.status = W.HTML()
        self.status.add_class("timens-status")
        self.area = W.Box()
        mode = result.mode if self.live else "replay"
        banner = (f"<b>live · {mode}</b> · Linux {html.escape(result.kernel)}" if self.live else
                  f"<b>REPLAY</b> · {html.escape(self.reason)} · {html.escape(self.hint)}")
        head = W.VBox([
            W.HTML(_STYLE % {"px": font_px, "h1": int(font_px * 1.7)}),
            W.HTML(f"<h1>timens-lab · Linux time namespaces, live</h1><div>{banner}</div>"),
            W.HBox([*self.buttons.values(), self.reset], layout=W.Layout(flex_flow="row wrap")),
            self.status])
        head.add_class("timens-demo-head")
        self.root = W.VBox([head, self.area])
        self.root.add_class("timens-demo")

    # --- lifecycle

    def start(self) -> DemoApp:
        """Display the app, build the first scenario, start the watchdog (on the running loop)."""
        from IPython.display import display

        display(self.root)
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
        """Switch to scenario ``name`` (a button's click): rebuild, then set it up."""
        self.preset = name
        if self._busy is not None and not self._busy.done():
            self._busy.cancel()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (a plain script): run it to the end here
            asyncio.run(self._apply(name))
            return
        self._busy = loop.create_task(self._apply(name), name=f"timens demo: {name}")

    # --- scenarios

    async def _apply(self, name: str) -> None:
        self.notes = []
        with self._fenced(name):
            self._build()
            if self.live:
                await _SCENARIOS[name](self)
            self._say(f"<b>{html.escape(name)}</b> · {self._summary()}"
                      + "".join(f"<br>{note}" for note in self.notes[-2:]))

    async def _day_ahead(self) -> None:
        self._sample(self.lab.namespace(monotonic="1d", boottime="1d", name="a day ahead"))

    async def _year_behind(self) -> None:
        from ..errors import OffsetRangeError

        try:
            ns = self.lab.namespace(monotonic="-1y", boottime="-1y", name="a year behind")
        except OffsetRangeError as err:
            self._note(f"−1 y refused: {html.escape(str(err))}<br><i>{html.escape(err.hint)}</i>")
            back = max(1, _host_uptime_s() - 2)
            ns = self.lab.namespace(monotonic=f"-{back}s", boottime=f"-{back}s",
                                    name=f"as far behind as allowed (−{back} s)")
        self._sample(ns)

    async def _nesting(self) -> None:
        a = self.lab.namespace(monotonic="1h", boottime="1h", name="A +1h")
        self._sample(a)
        self._sample(a.namespace(name="B in A (inherits)"))
        self._sample(a.namespace(monotonic="5s", name="C in A: monotonic 5 s = host + 5 s"))

    async def _migration(self) -> None:
        from ..offsets import Offsets

        a = self.lab.namespace(monotonic="5d", boottime="5d", name="machine A (+5 d)")
        sampler = self._sample(a)
        self._note("machine A runs its workload… checkpoint in 4 s")
        await asyncio.sleep(4.0)
        # The checkpoint: what the workload's clocks read when it is stopped (host + A's offsets).
        host_mono, host_boot = _host_clocks_ns()
        off = a.offsets
        mono, boot = host_mono + off.monotonic_ns, host_boot + off.boottime_ns
        sampler.request_stop()
        self.migration = {"checkpoint_host_ns": host_mono}
        self._note("checkpointed; downtime 2 s…")
        await asyncio.sleep(2.0)
        host_mono, host_boot = _host_clocks_ns()
        self.migration["restore_host_ns"] = host_mono
        b = self.lab.namespace(name="machine B (restored)")
        # CRIU: offset = checkpoint − host now (rounded up to the ms, for a readable label; the
        # clock then resumes at most 1 ms after the checkpoint value, never before it).
        b.offsets = Offsets(_ceil_ms(mono - host_mono), _ceil_ms(boot - host_boot))
        self._sample(b)
        self._note(f"restored with offsets = checkpoint − host now ({b.offsets.labels()}): the "
                   "workload's MONOTONIC carries on where it stopped, 2 s of downtime hidden")

    # --- building and tearing down

    def _build(self) -> None:
        """A fresh dashboard (and Lab, if the last one died) for the current scenario."""
        self._teardown(close_lab=False)
        if self.live:
            if self.lab is None or self.lab.closed:
                self.lab = self.lab_factory()
            from ..views import Dashboard

            self.dash = Dashboard.for_lab(self.lab, rate=self.rate, fps=self.fps)
        else:
            self.dash = _ReplayDash(self.fps)
        self.dash.plot.window_s = self.window_s
        self.dash.plot.fig.set_dpi(self.dpi)        # large type: the figure scales with dpi
        self.dash.tree.fig.set_dpi(self.dpi * 0.85)
        self.area.children = [self._layout(self.dash)]
        self.dash.view.start(show=False)
        self.built_at = time.monotonic()

    def _layout(self, dash: Any) -> Any:
        """For the stage: the divergence plot large on the left; the tree, and the control panel
        folded under it, on the right (the dashboard's own layout where canvases are images)."""
        import ipywidgets as W

        from ..views.live import _is_widget

        plot, tree = dash.plot.fig.canvas, dash.tree.fig.canvas
        if not (_is_widget(plot) and _is_widget(tree)):
            return dash.widget()
        side: list[Any] = [tree]
        panel = getattr(dash, "panel", None)
        if panel is not None:
            fold = W.Accordion(children=[panel.widget], selected_index=None)
            fold.set_title(0, "control panel: create, edit, run, sample, enter, kill")
            side.append(fold)
        return W.HBox([plot, W.VBox(side)], layout=W.Layout(flex_flow="row wrap"))

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
        # rarely: up to four dead dashboards piled up, and the demo's RSS ratcheted from 123
        # to 133 MB over four minutes of preset changes. Collecting here (~35 ms a rebuild)
        # frees every earlier one (this one's render task holds it until its last frame): RSS
        # stays at 105 MB from the first minute (bench/bench_demo.py).
        gc.collect()

    def _sample(self, ns: Any) -> Any:
        return self.dash.panel.sampler_factory(ns, self.rate, CLOCKS)

    # --- the watchdog

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.watchdog_s)
            if self._busy is not None and not self._busy.done():
                continue
            problem = self.health()
            if problem is not None:
                self.recoveries += 1
                self._note(f"recovering (#{self.recoveries}) from: {html.escape(problem)}")
                if self.lab is not None and problem.startswith("helper"):
                    with contextlib.suppress(Exception):
                        self.lab.close()
                    self.lab = None
                self.choose(self.preset)
            elif self.rollover_s and time.monotonic() - self.built_at > self.rollover_s:
                self.choose(self.preset)

    def health(self) -> str | None:
        """None when everything runs; else what is wrong, in a few words."""
        dash = self.dash
        if dash is None:
            return "no dashboard"
        if dash.view.error is not None:
            return f"render loop: {_where(dash.view.error)}"
        if not dash.view.running:
            return "render loop ended"
        if not self.live:
            return None
        if self.lab is None or self.lab.closed:
            return "helper: the Lab is closed"
        try:
            if dash.source.host.child is not None and dash.source.host.child.poll() is not None:
                return "host sampler exited"
        except Exception as err:
            return f"helper: {err}"
        return None

    # --- words on screen

    @contextlib.contextmanager
    def _fenced(self, what: str) -> Any:
        try:
            yield
        except asyncio.CancelledError:
            raise
        except Exception as err:
            hint = getattr(err, "hint", "")
            self._say(f"<span style='color:#b00020'>{html.escape(what)}: error: "
                      f"{html.escape(str(err))}</span>"
                      + (f"<br><i>hint: {html.escape(hint)}</i>" if hint else ""))
            self.log.append(f"{what}: {err}")

    def _summary(self) -> str:
        if not self.live:
            return "replaying a recording (presets need time namespaces)"
        names = ", ".join(html.escape(getattr(n, "label", "?")) for n in self.lab.namespaces)
        return names or "no namespaces"

    def _say(self, text: str) -> None:
        self.status.value = text

    def _note(self, text: str) -> None:
        """A step of the current scenario, shown under its name (the last two stay visible)."""
        self.log.append(text)
        self.notes.append(text)
        self.status.value = f"<b>{html.escape(self.preset)}</b> · " + "<br>".join(self.notes[-2:])


_SCENARIOS = {"a day ahead": DemoApp._day_ahead, "a year behind": DemoApp._year_behind,
              "nesting": DemoApp._nesting, "migration": DemoApp._migration}


class _ReplayDash:
    """Divergence plot and tree over a looping shipped recording (no panel: nothing to drive)."""

    def __init__(self, fps: float) -> None:
        from ..recording.replay import open_source
        from ..views import DivergencePlot, LiveTree, LiveView, TreePlot

        self.source = open_source(mode="replay")
        self.plot = DivergencePlot(self.source, ("monotonic", "boottime", "realtime"),
                                   figsize=(9.0, 4.2))
        self.tree = TreePlot(figsize=(5.6, 3.6), title="namespace tree (recorded)")
        self._images: list[tuple[Any, Any]] = []
        self._last = 0.0
        self.view = LiveView([self.plot, LiveTree(self.tree, self.source.tree)], fps=fps,
                             hooks=[self._tick])

    def widget(self) -> Any:
        import ipywidgets as W

        from ..views._figure import buffer_png
        from ..views.live import _is_widget

        def place(fig: Any) -> Any:
            if _is_widget(fig.canvas):
                return fig.canvas
            fig.canvas.draw()  # no ipympl (a plain kernel): a PNG, refreshed once a second
            image = W.Image(value=buffer_png(fig), format="png")
            self._images.append((fig, image))
            return image

        return W.VBox([place(self.tree.fig), place(self.plot.fig)])

    def _tick(self) -> None:
        from ..views._figure import buffer_png

        now = time.monotonic()
        if self._images and now - self._last >= 1.0:
            self._last = now
            for fig, image in self._images:
                image.value = buffer_png(fig)

    def close(self) -> None:
        self.view.stop()
        self.source.close()
        self.plot.close()
        self.tree.close()


def _where(err: BaseException) -> str:
    """The error and the line that raised it, for the stage log (a recovery should say what)."""
    tb = traceback.extract_tb(err.__traceback__)
    at = f" (at {os.path.basename(tb[-1].filename)}:{tb[-1].lineno} in {tb[-1].name})" if tb else ""
    return f"{type(err).__name__}: {err}{at}"


def _default_lab() -> Any:
    from ..engine.lab import Lab

    return Lab()


def _host_clocks_ns() -> tuple[int, int]:
    """This process's MONOTONIC and BOOTTIME (the demo's kernel runs on the host)."""
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC), time.clock_gettime_ns(time.CLOCK_BOOTTIME)


def _ceil_ms(ns: int) -> int:
    return -(-ns // 1_000_000) * 1_000_000


def _host_uptime_s() -> int:
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1_000_000_000
