"""The demo's figures on the stage: sized to the page, dressed in large type, placed side by side.

The divergence plot and the tree are the views every notebook uses (timens_lab.views), driven
through their public API: a figure size and resolution chosen from the page's viewport, the
plot's history window, the tree's type size and how it names members. What the figures say
comes from the views; only their size, type and names are the stage's.

Sizing: the figures take the page's width (the plot ~60 %, the tree the rest) and the height
left under the header, caption and readouts. The plot's type is set in points, so it gets large
type from a high resolution over few inches (PLOT_WIDTH_IN: 7 pt ≈ 17 px at 1920 px wide), and
:func:`fit_margins` moves its axes' margins until every label is inside the figure at that
aspect (matplotlib's tight layout refuses a gridspec with its own margins, which the plot has);
the tree gets its own type size (12 pt at 100 dpi
≈ 17 px) and shrinks it only when its labels would not fit otherwise.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable
from typing import Any

#: The plot's width in inches on the stage (its dpi follows the page), and its size elsewhere.
PLOT_WIDTH_IN = 6.4
PLOT_DESIGN_IN = (9.0, 4.2)
#: Room (px) fit_margins leaves between a label and the figure's edge, or another axes.
MARGIN_PX = 4.0
_DIGIT = re.compile(r"\d")
#: Share of the page's width for the plot, and for the tree (the rest is gaps and padding).
PLOT_SHARE, TREE_SHARE = 0.60, 0.36
#: The figures' height when the page has not said (a headless run), and the least they get
#: (below it the page scrolls rather than squash the plot's two rows).
DEFAULT_HEIGHT_PX, MIN_HEIGHT_PX = 450, 240
TREE_DPI = 100.0
TREE_FONT_PT = 12.0
TREE_MIN_FONT_PT = 8.0
#: Rebuild when the page's width changed by more than this share (the plot's resolution
#: follows it); resize in place when the height changed by more than RESIZE_SHARE.
REFIT_SHARE, RESIZE_SHARE = 0.1, 0.04


@dataclasses.dataclass(frozen=True)
class Fit:
    room: tuple[int, int]          # (page width, height for the figures) in CSS px
    plot_in: tuple[float, float]
    plot_dpi: float
    tree_in: tuple[float, float]
    tree_dpi: float


def fit(room: tuple[int, int]) -> Fit:
    """Figure sizes for a page ``room[0]`` CSS px wide with ``room[1]`` px of height left for
    the figures (0: unknown, DEFAULT_HEIGHT_PX)."""
    width = max(int(room[0]), 640)
    height = float(max(int(room[1]) or DEFAULT_HEIGHT_PX, MIN_HEIGHT_PX))
    plot_w, tree_w = PLOT_SHARE * width, TREE_SHARE * width
    dpi = round(plot_w / PLOT_WIDTH_IN, 2)
    return Fit((width, int(height)), (PLOT_WIDTH_IN, round(height / dpi, 3)), dpi,
               (round(tree_w / TREE_DPI, 3), round(height / TREE_DPI, 3)), TREE_DPI)


def refit(built: Fit | None, room: tuple[int, ...]) -> str | None:
    """What figures built for ``built`` need in ``room``: "rebuild" (the width changed),
    "resize" (the height), or None."""
    if built is None or len(room) != 2 or room[0] <= 0 or room[1] <= 0:
        return None
    if abs(room[0] - built.room[0]) > REFIT_SHARE * built.room[0]:
        return "rebuild"
    height = max(room[1], MIN_HEIGHT_PX)
    return "resize" if abs(height - built.room[1]) > RESIZE_SHARE * built.room[1] else None


def resize(dash: Any, fit: Fit) -> None:
    """Give ``dash``'s figures the heights of ``fit`` in place (same resolution), redrawn."""
    plot, tree = dash.plot, dash.tree
    plot.fig.set_size_inches(*fit.plot_in, forward=True)
    tree.fig.set_size_inches(*fit.tree_in, forward=True)
    _fit_plot(plot)
    tree.set_style()   # lays the tree out again for its new height


def dress(dash: Any, fit: Fit, *, window_s: float,
          roles: Callable[[], dict[int, str]] | None = None,
          own: Callable[[], tuple[set[str], str | None]] | None = None) -> None:
    """Size ``dash``'s figures to ``fit``, give the tree stage type and members by command,
    (once a second, from the render loop) name the processes ``roles()`` knows, and show only
    the namespaces ``own()`` says are the scenario's (their keys, and the host's)."""
    from ..views.tree_plot import LiveTree

    plot, tree = dash.plot, dash.tree
    if own is not None:
        for view in dash.view.views:
            if isinstance(view, LiveTree):
                view.provider = _only(view.provider, own)
    plot.window_s = window_s
    plot.fig.set_dpi(fit.plot_dpi)
    plot.fig.set_size_inches(*fit.plot_in, forward=True)
    tree.fig.set_dpi(fit.tree_dpi)
    tree.fig.set_size_inches(*fit.tree_in, forward=True)
    tree.set_style(fontsize=TREE_FONT_PT, min_fontsize=TREE_MIN_FONT_PT, members="command")
    # The page's head already says what is replayed and why; in the figure it would not fit.
    if hasattr(plot, "banner"):
        plot.banner.set_visible(False)
    # Two lines: on a short figure the one-line labels are taller than their axes.
    if hasattr(plot, "ax_resid"):
        plot.ax_offset[0].set_ylabel("offset\nvs host", fontsize=8)
        plot.ax_resid[0].set_ylabel("measured −\nconfigured (ns)", fontsize=8)
    last: dict[str, Any] = {"roles": 0.0, "labels": None}

    def relayout() -> None:
        # A full redraw is on its way (new limits, ticks or channels): labels may have grown.
        # A fit costs about a render, so only when a y label can be wider or the legend
        # changed (_label_texts).
        labels = _label_texts(plot.fig)
        if labels != last["labels"]:
            last["labels"] = labels
            _fit_layout(plot)

    if hasattr(plot, "relayout"):
        plot.relayout = relayout

    def each_frame() -> None:
        now = time.monotonic()
        # A resize clears the browser's canvas; the plot sends frames all the time, the tree
        # only when it changes, so it is drawn again for a few seconds after one.
        size = tuple(tree.fig.get_size_inches())
        if size != last.get("tree_size"):
            last["tree_size"], last["redraw_until"] = size, now + 4.0
        if now < last.get("redraw_until", 0.0) and now - last.get("redrawn", 0.0) >= 1.0:
            last["redrawn"] = now
            tree.fig.canvas.draw_idle()
        if roles is not None and now - last["roles"] >= 1.0:
            last["roles"] = now
            tree.set_roles(roles())

    dash.view.hooks.append(each_frame)


def lift_over_title(text: Any) -> bool:
    """Move ``text`` (placed in its axes' coordinates, bottom-aligned, above the axes) up until
    it clears its axes' title; True when it moved. The divergence plot's status line sits a
    fixed fraction of the axes' height above it, which on a short figure is inside the title."""
    ax = text.axes
    if ax is None or not ax.title.get_text():
        return False
    renderer = ax.figure.canvas.get_renderer()
    title, box, frame = (ax.title.get_window_extent(renderer), text.get_window_extent(renderer),
                         ax.get_window_extent(renderer))
    if not _overlap(title, box) or frame.height <= 0:
        return False
    text.set_y((title.y1 + MARGIN_PX / 2 - frame.y0) / frame.height)
    return True


def _fit_plot(plot: Any) -> None:
    """Labels of ``plot`` (a DivergencePlot) inside its figure and clear of each other, then
    a full redraw."""
    _fit_layout(plot)
    plot.full_draw()


def _fit_layout(plot: Any) -> bool:
    """Move ``plot``'s margins (and its status line) until its labels fit; True if any moved.

    Measured on a layout pass of its own, not on the last render: the canvas renderer does not
    draw the figure in the kernel until a browser view asks for a background, and the sizes and
    positions of unlaid-out labels walked the margins into each other ("bottom cannot be >=
    top": the render loop died and the stage rebuilt every 4 s).
    """
    moved = False
    for _ in range(3):   # each pass measures the labels the last one laid out
        # Layout without painting (half the cost of a render): whatever is shown is rendered
        # afterwards (the full redraw this precedes, or the one _fit_plot asks for).
        plot.fig.draw_without_rendering()
        status = getattr(plot, "status", None)
        lifted = status is not None and lift_over_title(status)
        if not (fit_margins(plot.fig) or lifted):
            break
        moved = True
    return moved


def _only(provider: Callable[[], Any], own: Callable[[], tuple[set[str], str | None]]
          ) -> Callable[[], Any]:
    def scenario_tree() -> Any:
        return stage_tree(provider(), *own())

    return scenario_tree


def _label_texts(fig: Any) -> tuple[Any, ...]:
    """What decides the margins, without a layout: the y tick labels' texts with every digit
    read as 0 (the fonts' digits share one width, so "−1000" needs the room "−2000" had), and
    the legend's texts. Not the x tick labels: one line of a fixed height whatever they say,
    they never move a margin, and they change whenever the time axis grows or scrolls. A fit
    costs about as much as a render, and it stops the live picture meanwhile."""
    out: list[Any] = []
    for ax in fig.axes:
        out += [_DIGIT.sub("0", t.get_text()) for t in ax.get_yticklabels()]
    out += [t.get_text() for legend in fig.legends for t in legend.get_texts()]
    return tuple(out)


def _gridspecs(fig: Any) -> dict[int, Any]:
    out = {}
    for ax in fig.axes:
        spec = ax.get_subplotspec()
        if spec is not None:
            gs = spec.get_topmost_subplotspec().get_gridspec()
            out[id(gs)] = gs
    return out


def fit_margins(fig: Any, *, pad: float = MARGIN_PX) -> bool:
    """Move the margins of ``fig``'s gridspecs so every axes' labels (ticks, titles, texts in
    it) lie inside the figure, and widen the gaps between columns where the labels of one
    would run into its left neighbour. Returns True when something moved (a redraw is due).
    Needs a drawn figure (text sizes come from its renderer)."""
    renderer = fig.canvas.get_renderer()
    width, height = fig.bbox.width, fig.bbox.height
    moved = False
    for gs in _gridspecs(fig).values():
        axes = [ax for ax in fig.axes if ax.get_subplotspec() is not None
                and ax.get_subplotspec().get_topmost_subplotspec().get_gridspec() is gs]
        tight = [ax.get_tightbbox(renderer) for ax in axes]
        boxes = [t for t in tight if t is not None]
        if not boxes:
            continue
        left = min(b.x0 for b in boxes) - pad
        bottom = min(b.y0 for b in boxes) - pad
        top = max(b.y1 for b in boxes) + pad
        params = gs.get_subplot_params(fig)
        change: dict[str, float] = {}
        if left < -0.5:
            change["left"] = params.left - left / width
        if bottom < -0.5:
            change["bottom"] = params.bottom - bottom / height
        if top > height + 0.5:
            change["top"] = params.top - (top - height) / height
        # Columns: the labels of each axes must clear the frame of the axes to its left.
        frames = [ax.get_window_extent(renderer) for ax in axes]
        squeeze = 0.0
        for frame, box in zip(frames, tight, strict=True):
            if box is None:
                continue
            for other in frames:
                if other.x1 <= frame.x0 + 1 and other.y0 < frame.y1 and other.y1 > frame.y0:
                    squeeze = max(squeeze, other.x1 + pad - box.x0)
        ncols = gs.get_geometry()[1]
        if squeeze > 0.5 and ncols > 1:
            # gridspec: total = n·w + (n − 1)·gap with gap = wspace·w; widen gap by squeeze.
            total = (change.get("right", params.right) - change.get("left", params.left)) * width
            gap = params.wspace * total / (ncols + params.wspace * (ncols - 1)) + squeeze
            change["wspace"] = gap / max((total - (ncols - 1) * gap) / ncols, 1.0)
        if change:
            gs.update(**change)
            # GridSpec.update moves the axes of pyplot's figures only (it walks
            # _pylab_helpers.Gcf; matplotlib/gridspec.py); the live canvas's figure is not
            # one (views/canvas.py: canvas_figure), so its axes are moved here, as update
            # moves them. Without it the margins walked on every pass until "bottom cannot
            # be >= top" killed the render loop (the stage rebuilt every few seconds).
            for ax in axes:
                ax._set_position(ax.get_subplotspec().get_position(fig))
            moved = True
    return moved


def _overlap(a: Any, b: Any) -> bool:
    return (min(a.x1, b.x1) - max(a.x0, b.x0) > 0.5) and (min(a.y1, b.y1) - max(a.y0, b.y0) > 0.5)


def drawn_texts(fig: Any) -> list[tuple[str, Any, Any]]:
    """(text, window extent) of every text a full draw of ``fig`` paints (its draw_event
    handlers' animated artists included): the renderer's own list, not the figure's artist
    tree, which also holds tick labels outside the view that are never painted."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = fig.canvas.get_renderer()
    drawn: dict[int, Any] = {}
    paint = renderer.draw_text

    def spy(gc: Any, x: float, y: float, s: str, prop: Any, angle: float, ismath: Any = False,
            mtext: Any = None) -> Any:
        if mtext is not None:
            drawn.setdefault(id(mtext), mtext)
        return paint(gc, x, y, s, prop, angle, ismath=ismath, mtext=mtext)

    renderer.draw_text = spy
    try:
        # Agg's draw, not the canvas's: ipympl's would also send the frame to a view that may
        # not exist yet, which breaks it (views/_delivery.py).
        FigureCanvasAgg.draw(fig.canvas)
    finally:
        del renderer.draw_text
    return [(t.get_text(), t.get_window_extent(renderer), t.axes) for t in drawn.values()
            if t.get_text().strip()]


def text_problems(fig: Any) -> list[str]:
    """Every painted text of ``fig`` that sticks out of it, every pair that overlaps, and every
    text over the plotting area of an axes not its own (what a viewer would see as clipped or
    garbled); empty when the figure reads cleanly."""
    boxes = drawn_texts(fig)
    frame = fig.bbox
    renderer = fig.canvas.get_renderer()
    frames = [(ax, ax.get_window_extent(renderer)) for ax in fig.axes if ax.axison]
    problems = [f"clipped: {text!r}" for text, b, _ in boxes
                if b.x0 < frame.x0 - 0.5 or b.y0 < frame.y0 - 0.5 or b.x1 > frame.x1 + 0.5
                or b.y1 > frame.y1 + 0.5]
    for i, (a, box_a, _) in enumerate(boxes):
        problems += [f"overlap: {a!r} and {b!r}" for b, box_b, _ in boxes[i + 1:]
                     if _overlap(box_a, box_b)]
    # A label over the plotting area of an axes it does not belong to (a neighbour's).
    problems += [f"overlap: {text!r} over another axes" for text, box, owner in boxes
                 for ax, area in frames if ax is not owner and _overlap(box, area)]
    return problems


def stage_tree(tree: Any, own: set[str], host: str | None) -> Any:
    """``tree`` with only the host's namespace (``host``, a node key), the namespaces in
    ``own`` and what is under them; every other time namespace on the machine (another
    tool's, a container's) is folded into one "N other namespaces" leaf under the host, so the
    audience sees this scenario's tree. Unchanged when the host is not in it."""
    from ..discovery.treemodel import Node, Tree

    if host is None or host not in tree.nodes:
        return tree
    keep: set[str] = {host}
    todo = [k for k in own if k in tree.nodes]
    while todo:
        key = todo.pop()
        keep.add(key)
        todo += tree.children.get(key, [])
    out = Tree(by=tree.by)
    others = 0
    for _, node in tree.walk():
        if node.key in keep:
            parent = node.parent if node.parent in keep else (host if node.key != host else None)
            out.add(dataclasses.replace(node, parent=parent))
        elif node.kind == "process" and node.parent == host:
            out.add(node)
        elif node.kind == "time":
            others += 1
    if others:
        out.add(Node(f"{host}:others", "process",
                     f"{others} other namespace{'s' if others != 1 else ''}", parent=host))
    return out


def place(dash: Any) -> Any:
    """The plot and the tree side by side (ipympl canvases), else the dashboard's own widget
    (figures as PNG images, e.g. without ipympl)."""
    import ipywidgets as W

    from ..views.live import _is_widget

    plot, tree = dash.plot.fig.canvas, dash.tree.fig.canvas
    if not (_is_widget(plot) and _is_widget(tree)):
        return dash.widget()
    return W.HBox([plot, tree], layout=W.Layout(width="100%"))


class NamesOnly:
    """A Source whose channels are labelled by their id alone ("ns1", not "ns1 +1h/+2d"): the
    plot's legend has a fifth of its width, and the tree says the offsets."""

    def __init__(self, source: Any) -> None:
        self.source = source
        self.mode, self.banner = source.mode, source.banner
        self.tree = getattr(source, "tree", None)

    def channels(self) -> list[Any]:
        return [dataclasses.replace(c, label=c.id) for c in self.source.channels()]

    def read(self) -> Any:
        return self.source.read()

    def stats(self) -> Any:
        return self.source.stats()

    @property
    def done(self) -> bool:
        return bool(getattr(self.source, "done", False))

    def close(self) -> None:
        self.source.close()


class ReplayDash:
    """Divergence plot and tree over a looping shipped recording (no panel: nothing to drive)."""

    def __init__(self, fps: float) -> None:
        from ..session.mode import open_source
        from ..views import DivergencePlot, LiveTree, LiveView, TreePlot

        self.source = NamesOnly(open_source(mode="replay"))
        self.plot = DivergencePlot(self.source, ("monotonic", "boottime", "realtime"),
                                   figsize=PLOT_DESIGN_IN)
        self.tree = TreePlot(figsize=(5.6, 3.6), title="namespace tree (recorded)")
        self._images: list[tuple[Any, Any]] = []
        self._last = 0.0
        recorded_tree = self.source.tree
        assert recorded_tree is not None  # a Replay always serves its recorded tree
        self.view = LiveView([self.plot, LiveTree(self.tree, recorded_tree)], fps=fps,
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

        return W.HBox([place(self.plot.fig), place(self.tree.fig)])

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
