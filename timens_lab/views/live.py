"""The render loop: an asyncio task on the kernel's own loop, throttled to ~12 fps, or paced.

Why this shape (measured on ipykernel 7.4 and 6.31):

* a task made with ``create_task`` lets the cell return at once, and comm messages (widget
  clicks) are handled between frames on every ipykernel; a blocking loop shows 1 frame in 3 s;
* sampling happens in sampler processes; this loop only drains the Source and draws, on the
  loop thread, because matplotlib artists are not thread-safe;
* ipympl's static ``image/png`` fallback is frozen at display time (frame 0), so
  :meth:`LiveView.snapshot` replaces each figure's display, through its display handle, with a
  PNG of the final frame; nbclient applies ``update_display_data`` to the saved notebook.
  Call it from a cell *after* ``await view.wait()``: nbclient keeps only messages whose parent
  is the cell it is running, and the render task belongs to the cell that started it, so an
  update sent by the task itself after that cell ended is lost from the saved notebook (checked
  in tests/unit/test_live_notebook.py). ``snapshot_at_end=True`` does it from the task anyway,
  which is enough in a live JupyterLab.

Views that pace themselves (a ``pace()`` method returning seconds, as the divergence plot's
canvas renderer does while a browser shows it) are not held to ``fps``: each runs when it says,
up to 20 times a second within its CPU budget (the browser paints at its own rate). ``fps``
still paces the other views and the hooks (panel refreshes, readouts).

Headless (nbclient, papermill, a plain script), ``await view.wait()`` (or ``view.run()``) before
the kernel shuts down. Without ipympl (inline backend) the figure is shown as a PNG through the
same handle and refreshed at ``static_fps``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from matplotlib.figure import Figure

from ._figure import buffer_png, png_bytes


class Animated(Protocol):
    """What the loop drives: a figure plus one method per frame."""

    fig: Figure

    def frame(self) -> None:
        """Pull new data and draw it (blit or full redraw, the view decides)."""

    def finish(self) -> None:
        """Draw the final state completely (a full redraw), before the snapshot."""

    # Optional: ``pace() -> float | None``: seconds until the view's next frame, None to be
    # drawn at the LiveView's fps.


class LiveView:
    """Run ``views`` at ``fps`` until stopped, ``duration`` seconds, or every view is ``done``
    (a view may say so when its source ended, e.g. a replay).

    >>> view = LiveView([DivergencePlot(source)], duration=30)   # doctest: +SKIP
    >>> view.start()            # displays the figures + a Stop button; returns at once
    >>> await view.wait()       # (a later cell) until done
    >>> view.snapshot()         # leaves the final frame as a PNG in the notebook
    """

    def __init__(self, views: Sequence[Animated], *, fps: float = 12.0,
                 duration: float | None = None, static_fps: float = 1.0,
                 snapshot_at_end: bool = False,
                 hooks: Sequence[Callable[[], None]] = ()) -> None:
        if fps <= 0:
            raise ValueError(f"fps must be > 0, not {fps}")
        self.views = list(views)
        #: called after every frame, on the loop thread (e.g. a panel refresh)
        self.hooks = list(hooks)
        self.fps = fps
        self.duration = duration
        self.static_fps = static_fps
        self.snapshot_at_end = snapshot_at_end
        self.frames = 0
        self.started: float | None = None
        self.stopped: float | None = None
        self.error: BaseException | None = None
        self._task: asyncio.Task[None] | None = None
        self._stop = False
        self._handles: list[Any] = []
        self._controls: Any = None
        self._status: Any = None
        self._shown = False
        self._last_static = 0.0

    # --- display

    def show(self) -> None:
        """Display each figure (ipympl canvas, else a PNG) and the controls, each with a handle."""
        from IPython.display import display

        self._shown = True
        for view in self.views:
            self._handles.append(display(_displayable(view.fig), display_id=True))
        controls = self._make_controls()
        if controls is not None:
            self._controls = display(controls, display_id=True)

    def _make_controls(self) -> Any:
        try:
            import ipywidgets as W
        except ImportError:  # pragma: no cover - ipywidgets is a notebook extra
            return None
        stop = W.Button(description="Stop", icon="stop", layout=W.Layout(width="90px"))
        stop.on_click(lambda _b: self.stop())
        self._status = W.HTML(self._status_text())
        return W.HBox([stop, self._status])

    def _status_text(self) -> str:
        state = ("stopped" if self.stopped is not None else
                 "running" if self.running else "not started")
        return f"{state} · {self.frames} frames · {self.fps_measured:.1f} fps"

    # --- lifecycle

    def start(self, *, show: bool = True) -> None:
        """Start the render task on the running loop (the kernel's) and return at once.

        Returns None so that a cell ending in ``view.start()`` prints nothing; the task is
        :attr:`task`.

        Raises:
            RuntimeError: no running asyncio loop (a script: ``asyncio.run(view.run())``).
        """
        if self.running:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError("LiveView.start() needs a running asyncio loop, as a Jupyter "
                               "kernel has; in a script use asyncio.run(view.run())") from None
        if show and not self._shown:
            self.show()
        self._stop = False
        self._task = loop.create_task(self._run(), name="timens-lab live view")

    @property
    def task(self) -> asyncio.Task[None] | None:
        """The render task of the last start()."""
        return self._task

    async def run(self, *, show: bool = True) -> None:
        """start() and wait(): ``await view.run()`` in a cell, or ``asyncio.run(view.run())``."""
        self.start(show=show)
        await self.wait()

    def stop(self) -> None:
        """Ask the loop to end after the current frame (the Stop button calls this)."""
        self._stop = True

    async def wait(self) -> None:
        """Until the loop ended; re-raises an error that ended it."""
        if self._task is not None:
            await asyncio.shield(self._task)
        if self.error is not None:
            raise self.error

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def fps_measured(self) -> float:
        if self.started is None or self.frames == 0:
            return 0.0
        end = self.stopped if self.stopped is not None else time.perf_counter()
        return self.frames / max(end - self.started, 1e-9)

    async def _run(self) -> None:
        period = 1.0 / self.fps
        self.started = time.perf_counter()
        self.stopped = None
        deadline = None if self.duration is None else self.started + self.duration
        next_tick = self.started
        due: dict[int, float] = {}   # id(view) → when a self-paced view wants its next frame
        try:
            while not self._stop and (deadline is None or time.perf_counter() < deadline):
                now = time.perf_counter()
                paces = {id(v): _pace(v) for v in self.views}
                drew = clocked = now >= next_tick
                if clocked:
                    for view in self.views:
                        if paces[id(view)] is None:
                            view.frame()
                    self._after_frame()   # counts the frame
                    next_tick = max(next_tick + period, now)  # behind: no catch-up burst
                for view in self.views:
                    pace = paces[id(view)]
                    if pace is not None and now >= due.get(id(view), 0.0):
                        view.frame()
                        drew = True
                        due[id(view)] = now + pace
                if drew and not clocked:   # only self-paced views drew: count their frame
                    self.frames += 1
                if all(getattr(v, "done", False) for v in self.views):
                    break  # e.g. a replay reached its end
                wake = min([next_tick, *(due[id(v)] for v in self.views
                                          if paces[id(v)] is not None and id(v) in due)])
                await asyncio.sleep(max(wake - time.perf_counter(), 0.0))
        except asyncio.CancelledError:
            raise
        except Exception as err:  # kept for wait(), which re-raises it
            self.error = err
        finally:
            self.stopped = time.perf_counter()
            with contextlib.suppress(Exception):
                self._finish()

    def step(self) -> None:
        """One frame of every view (also usable without a loop, e.g. in tests and the bench)."""
        for view in self.views:
            view.frame()
        self._after_frame()

    def _after_frame(self) -> None:
        """Hooks, the frame count, and about once a second the static output and status."""
        for hook in self.hooks:
            hook()
        self.frames += 1
        now = time.perf_counter()
        if now - self._last_static >= 1.0 / max(self.static_fps, 1e-6):
            self._last_static = now
            if self._shown:
                self._refresh_static()
            if self._status is not None:
                self._status.value = self._status_text()

    def _finish(self) -> None:
        for view in self.views:
            view.finish()
        if self._status is not None:
            self._status.value = self._status_text()
        if self.snapshot_at_end and self._shown:
            self.snapshot()

    # --- static output

    def _refresh_static(self) -> None:
        """Without ipympl nothing live reaches the page: refresh the PNG at static_fps."""
        from IPython.display import Image

        for view, handle in zip(self.views, self._handles, strict=False):
            if not _is_widget(view.fig.canvas):
                handle.update(Image(buffer_png(view.fig)))

    def snapshot(self, *, replace: bool = True) -> list[bytes]:
        """Leave a static PNG of each figure's current frame in the notebook; returns the PNGs.

        ``replace=True`` swaps each live display for its PNG through the display handle (the
        saved notebook then shows the final frame where the canvas was); ``replace=False``
        displays the PNGs below, keeping the canvases interactive.
        """
        from IPython.display import Image, display

        pngs = [png_bytes(view.fig) for view in self.views]
        if replace and self._handles:
            for handle, png in zip(self._handles, pngs, strict=False):
                handle.update(Image(png))
            if self._controls is not None:
                self._controls.update(_Text(self._status_text()))
        else:
            for png in pngs:
                display(Image(png))
        return pngs


def _pace(view: Any) -> float | None:
    pace = getattr(view, "pace", None)
    return None if pace is None else pace()


class _Text:
    """A text/plain-only output (what the controls become once the view ended)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _is_widget(canvas: Any) -> bool:
    return hasattr(canvas, "_repr_mimebundle_") and hasattr(canvas, "comm")


def _displayable(fig: Figure) -> Any:
    if _is_widget(fig.canvas):
        return fig.canvas
    from IPython.display import Image

    return Image(png_bytes(fig))
