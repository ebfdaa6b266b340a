"""Figure creation shared by the plots: the backend decides the canvas, we decide placement.

Figures are made under ``plt.ioff()`` so pyplot never auto-displays them: the caller places
``fig.canvas`` (ipympl) with ``display()`` (ipympl's documented way to show a canvas). Under ``%matplotlib
widget`` the canvas is an ipympl widget; under Agg (tests, bench, headless) a plain Agg canvas.
"""

from __future__ import annotations

import io
from typing import Any

from matplotlib.figure import Figure


def new_figure(figsize: tuple[float, float], dpi: float = 100) -> Figure:
    """A figure registered with pyplot (so ipympl gives it a widget canvas) but not shown."""
    import matplotlib.pyplot as plt

    with plt.ioff():
        fig = plt.figure(figsize=figsize, dpi=dpi)
    canvas: Any = fig.canvas
    if hasattr(canvas, "header_visible"):  # ipympl: the "Figure 3" header only costs space
        canvas.header_visible = False
        canvas.footer_visible = False
        canvas.toolbar_position = "left"
    return fig


def close_figure(fig: Figure) -> None:
    """Forget the figure in pyplot (its registry would otherwise keep every view alive) and,
    under ipympl, close the canvas widget with its Layout and Toolbar: ``plt.close`` closes
    only the canvas, and ipywidgets keeps the rest forever (two widgets a figure, or three)."""
    import matplotlib.pyplot as plt

    from ._widgets import close_tree

    canvas: Any = fig.canvas
    plt.close(fig)
    if hasattr(canvas, "comm"):  # an ipympl canvas is a widget; Agg's is not
        close_tree(canvas)


def png_bytes(fig: Figure) -> bytes:
    """The figure as it stands, rendered by Agg into PNG (what snapshot() leaves behind).

    ``fig.savefig`` re-renders through the Agg backend whatever the interactive canvas is, so this
    also works for an ipympl figure whose browser view never connected (a headless run).
    """
    # Figure-level animated artists are skipped even by savefig (Figure._get_draw_artists), and a
    # snapshot must show everything, so un-animate for the duration of the save.
    animated = [a for a in fig.findobj() if a.get_animated()]
    for artist in animated:
        artist.set_animated(False)
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=fig.dpi)
    finally:
        for artist in animated:
            artist.set_animated(True)
    return buf.getvalue()


def buffer_png(fig: Figure) -> bytes:
    """The frame already in the Agg buffer as a PNG, without re-rendering (fast, for previews).

    Falls back to :func:`png_bytes` when the canvas has no Agg buffer yet.
    """
    import numpy as np
    from PIL import Image

    canvas: Any = fig.canvas
    try:
        pixels = np.asarray(canvas.buffer_rgba())
    except (AttributeError, RuntimeError):
        return png_bytes(fig)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="png", compress_level=1)
    return buf.getvalue()
