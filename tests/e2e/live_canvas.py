"""Browser-side helpers for the live canvas renderer (timens_lab/views/static/canvas.js).

The canvas counts its own paints (``el.__tlPaints`` on the widget element, and
``window.__tlCanvasPaints`` in total): it paints once per animation frame that brought new data.
Its data layer is a transparent canvas over the matplotlib background image, so its pixels are
the data alone.
"""

from __future__ import annotations

import base64
import time
from typing import Any

from tests.e2e.page import PANEL, NotebookPage
from tests.e2e.pixels import pixels

DATA = ".timens-canvas-data"
ROOT = ".timens-canvas"
#: JS that timestamps animation frames from page load (the reference: what the browser can
#: paint), so a test or the bench can compare the canvas's paints with the frames available.
COUNT_FRAMES = """
(() => {
  window.__tlFrames = 0;
  const tick = () => { window.__tlFrames += 1; requestAnimationFrame(tick); };
  requestAnimationFrame(tick);
})();
"""


def wait_painting(nb: NotebookPage, min_paints: int, scope: str = PANEL,
                  timeout: float = 90.0) -> Any:
    """The first live canvas's data layer under ``scope``, once it painted > ``min_paints``."""
    canvas = nb.page.locator(f"{scope} {DATA}").first
    canvas.wait_for(state="attached", timeout=timeout * 1000)
    nb.page.wait_for_function(
        "([sel, n]) => [...document.querySelectorAll(sel)].some((c) => "
        "(c.parentElement.parentElement.__tlPaints || 0) > n)",
        arg=[f"{scope} {DATA}", int(min_paints)], timeout=timeout * 1000)
    return canvas


def paints(nb: NotebookPage, scope: str = PANEL) -> list[int]:
    """Paints so far of each live canvas under ``scope``, in document order."""
    return list(nb.page.evaluate(
        "(sel) => [...document.querySelectorAll(sel)].map((c) => "
        "c.parentElement.parentElement.__tlPaints || 0)", f"{scope} {DATA}"))


def measure(nb: NotebookPage, seconds: float, scope: str = PANEL) -> tuple[int, int, float]:
    """(paints of the first canvas, animation frames of the page, wall seconds) over
    ``seconds`` (animation frames counted only if COUNT_FRAMES was injected, else 0)."""
    before = paints(nb, scope)[0]
    frames0 = nb.page.evaluate("() => window.__tlFrames || 0")
    t0 = time.monotonic()
    nb.page.wait_for_timeout(seconds * 1000)
    after = paints(nb, scope)[0]
    frames1 = nb.page.evaluate("() => window.__tlFrames || 0")
    return after - before, frames1 - frames0, time.monotonic() - t0


def data_rgba(nb: NotebookPage, index: int = 0, scope: str = PANEL) -> Any:
    """The exact RGBA pixels of live canvas ``index``'s data layer (its backing store)."""
    import io

    import numpy as np
    from PIL import Image

    url = nb.page.evaluate(
        "([sel, i]) => document.querySelectorAll(sel)[i].toDataURL('image/png')",
        [f"{scope} {DATA}", index])
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGBA"))


def background_rgb(nb: NotebookPage, index: int = 0, scope: str = PANEL) -> Any:
    """The exact pixels of live canvas ``index``'s background image (the PNG the kernel sent,
    as the browser decoded it), RGB."""
    url = nb.page.evaluate(
        """([sel, i]) => { const img = document.querySelectorAll(sel + ' img')[i];
            if (!img || !img.complete || !img.naturalWidth) { return null; }
            const c = document.createElement('canvas');
            c.width = img.naturalWidth; c.height = img.naturalHeight;
            c.getContext('2d').drawImage(img, 0, 0);
            return c.toDataURL('image/png'); }""", [f"{scope} {ROOT}", index])
    return None if url is None else pixels(base64.b64decode(url.split(",", 1)[1]))


def final_picture(nb: NotebookPage, want: Any, index: int = 0, scope: str = PANEL,
                  timeout: float = 20.0) -> Any:
    """The background once it equals ``want`` (the final PNG may still be on its way), else
    whatever it is at ``timeout``; RGB pixels (None: no image)."""
    import numpy as np

    deadline = time.monotonic() + timeout
    while True:
        got = background_rgb(nb, index, scope)
        done = got is not None and got.shape == (*want.shape[:2], 3) and bool(
            np.all(got == np.asarray(want)[..., :3]))
        if done or time.monotonic() > deadline:
            return got
        nb.page.wait_for_timeout(500)


__all__ = ["COUNT_FRAMES", "DATA", "ROOT", "background_rgb", "data_rgba", "final_picture",
           "measure", "paints", "pixels", "wait_painting"]
