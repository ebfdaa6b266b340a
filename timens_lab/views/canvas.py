"""The live renderer: a browser canvas fed with decimated binary buffers (an anywidget).

ipympl ships a PNG of the figure for every frame, so the cost of a frame — Agg rendering, PNG
encoding, the browser decoding — grows with the figure's size, and the kernel drew 7.5 frames a
second for 16 namespaces (issue 17). Here matplotlib draws only what changes rarely (axes,
ticks, labels, legend, reference lines: the *background*, a PNG sent when the limits or the
layout change), and the data travel as pixel columns in keyframes and as new points in
deltas (canvas_wire.py): a message costs the kernel a few kB whatever the figure's size. The
browser (static/canvas.js) folds and paints on ``requestAnimationFrame``.

:class:`LiveCanvas` is at once an ipywidgets DOM widget and the figure's matplotlib canvas (Agg,
as ipympl's Canvas is both): ``fig.canvas`` is what callers already display (the dashboard, the
demo, :class:`~timens_lab.views.live.LiveView`), and ``savefig``/``png_bytes`` still render the
whole figure through Agg, for snapshots, the static site and PNG export.

Pacing: the plot sends up to 20 messages a second, fewer if its own cost says so
(divergence_plot.py, ``pace``); the browser plays each message's points out over the interval
and paints on every animation frame that has new ones (static/canvas.js), so its frame rate is
its own. Each view reports its animation-frame and paint rates once a second. The JavaScript is
package data, sent as the widget's ES module: nothing is loaded from a CDN, so JupyterLab and
Voilà work offline (anywidget's own front end ships in its wheel as a lab extension).
"""

from __future__ import annotations

import base64
import time
from importlib import resources
from typing import Any

import anywidget
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

#: A browser view that sent nothing (stats come once a second) for this long is gone. Not
#: much shorter: its messages wait while the kernel is busy (a keyframe's render and the demo's
#: margin fit take seconds on a loaded machine), and a view taken for gone costs a second
#: render when it is heard again.
VIEWER_TIMEOUT_S = 10.0


def _asset(name: str) -> str:
    return (resources.files("timens_lab.views") / "static" / name).read_text(encoding="utf-8")


class LiveCanvas(anywidget.AnyWidget, FigureCanvasAgg):  # type: ignore[misc]
    """A figure's Agg canvas that is also a browser canvas widget fed by :meth:`send_key` /
    :meth:`send_delta` (the plot decides what to send)."""

    _esm = _asset("canvas.js")
    _css = _asset("canvas.css")

    def __init__(self, figure: Figure) -> None:
        anywidget.AnyWidget.__init__(self)
        FigureCanvasAgg.__init__(self, figure)
        #: browser view id → (last heard, animation frames/s, fresh paints/s)
        self.viewers: dict[str, tuple[float, float, float]] = {}
        #: a view appeared (or asked): the next frame must be a keyframe with the background
        self.want_key = False
        #: the last background PNG (resent to views that appear later) and the final picture
        self.background: bytes | None = None
        self.final_png: bytes | None = None
        self.messages = 0
        self.bytes_sent = 0
        #: called before savefig renders (the plot fills its matplotlib artists, which the
        #: live frames leave empty: the browser draws the data)
        self.before_print: Any = None
        self.on_msg(self._on_msg)

    def print_figure(self, *args: Any, **kwargs: Any) -> Any:
        if self.before_print is not None:
            self.before_print()
        return super().print_figure(*args, **kwargs)

    # --- from the browser

    def _on_msg(self, _widget: Any, content: dict[str, Any], _buffers: Any) -> None:
        kind, vid = content.get("type"), str(content.get("id", ""))
        now = time.monotonic()
        if kind == "hello":
            self.viewers[vid] = (now, 0.0, 0.0)
            self.want_key = True
        elif kind == "stats":
            self.viewers[vid] = (now, float(content.get("raf", 0.0)),
                                 float(content.get("painted", 0.0)))
        elif kind == "bye":
            self.viewers.pop(vid, None)

    def _live_viewers(self) -> list[tuple[float, float, float]]:
        now = time.monotonic()
        for vid, seen in list(self.viewers.items()):
            if now - seen[0] > VIEWER_TIMEOUT_S:
                del self.viewers[vid]
        return list(self.viewers.values())

    @property
    def viewed(self) -> bool:
        """A browser view is showing this canvas (it said hello and keeps reporting)."""
        return bool(self._live_viewers())

    def browser_fps(self) -> float | None:
        """The highest animation-frame rate a view reported, None before any report."""
        rates = [raf for _, raf, _ in self._live_viewers() if raf > 0]
        return max(rates) if rates else None

    def browser_painted(self) -> float | None:
        """Frames per second the views painted with new data (the best view), None if unknown."""
        rates = [p for _, raf, p in self._live_viewers() if raf > 0]
        return max(rates) if rates else None

    # --- to the browser

    def _post(self, content: dict[str, Any], buffers: list[bytes]) -> None:
        self.messages += 1
        self.bytes_sent += sum(len(b) for b in buffers)
        self.send(content, buffers)

    def send_background(self, png: bytes) -> None:
        self.background = png
        self._post({"type": "bg"}, [png])

    def send_key(self, meta: dict[str, Any], header: bytes, data: bytes) -> None:
        self.want_key = False
        self._post({"type": "key", **meta}, [header, data])

    def send_delta(self, status: str, t: float, header: bytes, data: bytes) -> None:
        """New points (canvas_wire.pack_points); ``t``: the newest data time, s."""
        self._post({"type": "delta", "status": status, "t": t}, [header, data])

    # --- saved notebooks

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        """The widget, plus the final picture as a static ``image/png`` once there is one (a
        notebook viewer without the widget's JavaScript shows that, as ipympl's fallback)."""
        bundle = super()._repr_mimebundle_(**kwargs)
        if bundle is None or self.final_png is None:
            return bundle
        data, meta = bundle
        return {**data, "image/png": base64.b64encode(self.final_png).decode()}, meta


def canvas_figure(figsize: tuple[float, float], dpi: float = 100) -> Figure:
    """A figure whose canvas is a :class:`LiveCanvas` (not registered with pyplot: no backend
    makes its own canvas for it, and closing it needs no pyplot)."""
    fig = Figure(figsize=figsize, dpi=dpi)
    LiveCanvas(fig)
    return fig


def canvas_available() -> bool:
    """The canvas renderer can run here: anywidget imports (it does, or this module would not
    have) and an IPython kernel is there to carry widget messages."""
    from ._kernel import kernel_shell

    return kernel_shell() is not None
