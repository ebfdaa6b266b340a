"""Pixel comparisons for screenshots and canvas contents (PNG bytes or RGB arrays)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any


def pixels(png: bytes) -> Any:
    """A PNG as an RGB uint8 array."""
    import numpy as np
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def mismatch(browser: Any, kernel: Any) -> float:
    """Share of pixels where the browser's canvas differs from the kernel's Agg buffer (RGBA,
    compared as RGB; transparent browser pixels read black, so they count)."""
    import numpy as np

    want = np.asarray(kernel)[..., :3]
    if browser.shape != want.shape:
        return 1.0
    return float(np.any(browser != want, axis=-1).mean())


def save_comparison(browser: Any, kernel: Any, prefix: Path) -> None:
    """``<prefix>-browser.png``, ``-kernel.png`` and ``-diff.png`` (differing pixels in red)."""
    import numpy as np
    from PIL import Image

    want = np.asarray(kernel)[..., :3]
    Image.fromarray(browser).save(f"{prefix}-browser.png")
    Image.fromarray(want).save(f"{prefix}-kernel.png")
    if browser.shape == want.shape:
        out = (want // 3 + 170).astype(np.uint8)
        out[np.any(browser != want, axis=-1)] = (255, 0, 0)
        Image.fromarray(out).save(f"{prefix}-diff.png")


def changed_fraction(a: bytes, b: bytes, *, skip_top: float = 0.0) -> float:
    """Share of pixels that differ between two screenshots of the same element, ignoring the
    top ``skip_top`` of its height (the divergence plot's "frame N · t s" line changes with
    every frame even when the data would not)."""
    import numpy as np

    pa, pb = pixels(a), pixels(b)
    if pa.shape != pb.shape:
        return 1.0
    top = int(pa.shape[0] * skip_top)
    return float(np.any(pa[top:] != pb[top:], axis=-1).mean())


def ink_fraction(png: bytes) -> float:
    """Share of pixels that are not near-white: a blank canvas has ~0."""
    p = pixels(png).astype(int)
    return float((p.min(axis=-1) < 235).mean())
