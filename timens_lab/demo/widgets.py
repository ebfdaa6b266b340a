"""The stage's two page-side pieces, small anywidgets (``data/stage-*.js``: ES modules, no build
step, nothing fetched):

* :class:`Readouts` shows, per namespace and for the host, uptime, MONOTONIC, BOOTTIME and
  REALTIME as big digits that tick in the browser between the kernel's once-a-second anchors
  (stage.readout_data), and the measured residual (measured − configured offset) in ns;
* :class:`Keys` turns presenter keys (and a clicker's PageUp/PageDown) into messages to the
  kernel, does full screen in the page, and reports the room the figures have on the page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anywidget
import traitlets

from .stage import DATA


class Readouts(anywidget.AnyWidget):  # type: ignore[misc]
    """Big ticking clocks, one column per namespace (host first); see :func:`readout_data`."""

    _esm = (DATA / "stage-readouts.js").read_text()
    data = traitlets.Dict().tag(sync=True)


class Keys(anywidget.AnyWidget):  # type: ignore[misc]
    """Presenter keys; ``on_key(callback)`` gets "1".."4", "reset", "pause", "theme", "next",
    "previous". ``room`` is the page's width and the height left for the figures, in CSS px
    ([0, 0]: no page yet)."""

    _esm = (DATA / "stage-keys.js").read_text()
    room = traitlets.List([0, 0]).tag(sync=True)

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self._callbacks: list[Callable[[str], None]] = []
        self.on_msg(self._on_msg)

    def on_key(self, callback: Callable[[str], None]) -> None:
        self._callbacks.append(callback)

    def press(self, key: str) -> None:
        """What a key press in the page does (also for tests and scripts)."""
        for callback in self._callbacks:
            callback(key)

    def _on_msg(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if isinstance(content, dict) and isinstance(content.get("key"), str):
            self.press(content["key"])
