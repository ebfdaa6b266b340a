"""Getting blitted frames to an ipympl view: push them, heal lost diffs, wait for a view.

ipympl sends each frame as a PNG of the pixels that changed since the previous one (webagg's
"diff" image mode). In the browser (jupyter-matplotlib 0.12) a new image replaces the one still
loading, so when frames come faster than the browser decodes them a diff is never painted and
later diffs land on the wrong base: stripes of stale pixels stay until the next full frame
(seen in Chromium on this 2-core VM: 185 frames pushed, 155 painted). Letting the browser pull
frames instead (announce with a "draw" event, answer its request) did not help: it clears
its ``waiting_for_image`` flag on receipt, not on decode, and the round trip halved the frame
rate (11.6 instead of 19.4 painted fps at a 30 fps target). So frames are pushed (``canvas.blit``,
as ipympl does for manual blitting) and a *full* frame is sent every HEAL_S seconds, which
bounds any damage to that long for the price of one full PNG a second.

No frame is pushed before a browser view exists (ipympl's ``syncing_data_url`` is True until
the view sends "initialized"; headless runs never do): such frames cost a PNG each for nobody,
and ipympl 0.10's ``send_binary`` then stores them in the synced ``_data_url`` *without* the
``data:image/png;base64,`` prefix, so a view created afterwards (a canvas inside a VBox) starts
from a broken image and stays 0×0 ("Error setting state: Failed to execute 'drawImage' …
'broken' state" in the browser console). The view asks for a full frame when it initialises.

Plain Agg canvases (tests, the inline backend) need none of this: the buffer is the picture.
"""

from __future__ import annotations

import os
import time
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

#: A full frame at least this often (seconds). 0: every frame is full. The browser tests
#: (tests/e2e/test_frame_rate.py) showed diffs still landing on the wrong base even with a full
#: frame every second — a final picture 0.14–85 % wrong, one nearly blank mid-stream — while
#: full frames were pixel-exact; they cost ~11 ms more per frame and ~80 KiB instead of ~3 KiB.
#: A true picture wins: set TIMENS_LAB_FRAME_HEAL_S (e.g. 1.0) on a thin link to trade back.
HEAL_S = float(os.environ.get("TIMENS_LAB_FRAME_HEAL_S", "0"))


class FrameDelivery:
    """Render into the Agg buffer, then hand the frame to the browser view(s) if any."""

    def __init__(self, fig: Figure) -> None:
        self.fig = fig
        canvas: Any = fig.canvas
        #: an ipympl / webagg canvas (frames travel as PNGs over the widget comm)
        self.webagg = hasattr(canvas, "send_event") and hasattr(canvas, "manager")
        self.pushed = 0
        self.full_frames = 0
        self._last_full = 0.0

    @property
    def viewed(self) -> bool:
        """A browser view is listening (always True for a webagg canvas other than ipympl's)."""
        return self.webagg and not getattr(self.fig.canvas, "syncing_data_url", False)

    def render_full(self) -> None:
        """Full Agg render into the buffer (fires draw_event), without sending anything."""
        FigureCanvasAgg.draw(self.fig.canvas)  # type: ignore[arg-type]  # an Agg-based canvas

    def push(self) -> None:
        """Send the buffer's frame to the view(s): a diff, or a full frame every HEAL_S."""
        if not self.viewed:
            return
        canvas: Any = self.fig.canvas
        now = time.monotonic()
        if now - self._last_full >= HEAL_S:
            # webagg core's own flag ("the next frame sent to the clients will be a full
            # frame"), set there by the browser's "refresh" message.
            canvas._force_full = True
            self._last_full = now
            self.full_frames += 1
        self.pushed += 1
        canvas.blit()
