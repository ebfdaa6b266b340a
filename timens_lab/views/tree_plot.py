"""The namespace tree drawn with matplotlib: one LineCollection, one scatter, a few labels.

Input is a :class:`~timens_lab.discovery.treemodel.Tree` (ownership or lineage, from discovery); nothing
here reads /proc. The tree grows to the right like ``lsns --tree``: depth on x, the tidy layout's
leaf slots on y (layout.py), labels right of each node. Encoding:

* marker: user namespace ■, time namespace ●, process ▸ (members are leaves);
* colour: the time namespace's offset on a symmetric-log diverging scale (blue behind the
  host, red ahead, grey at 0); the label says it exactly ("+1h", "−5s", "+1h/+2d" when
  monotonic and boottime differ, "?" when unreadable);
* state: pending (offsets still writable) is hollow with a dashed edge and says "pending";
  frozen is filled; a namespace that is gone is faded.

Members are named ``PID COMM`` by default; ``members="command"`` (the demo's stage) names them
by command only, and by role where the caller knows it (:meth:`TreePlot.set_roles`: pid →
"sampler", "holder"), a holder dimmed: it keeps a namespace alive, it is not what runs in it.
Type is ``fontsize`` points at most, shrunk (down to ``min_fontsize``) until every label fits
the axes, across and down.

Clicking a node (``pick_event``) selects its time namespace (a process selects the namespace it
belongs to) and calls ``on_select(key)``; :meth:`TreePlot.select` is the way back in, so a panel
and the tree share one selection.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.markers import MarkerStyle
from matplotlib.text import Annotation

from ..discovery.treemodel import Node, Tree
from ._figure import close_figure, new_figure
from .layout import tidy_layout
from .tree_text import OFFSET_CMAP, OFFSET_NORM, is_pending, member_text, node_colour, node_text, offset_label

__all__ = ["OFFSET_CMAP", "OFFSET_NORM", "LiveTree", "TreePlot", "is_pending", "member_text",
           "node_colour", "node_text", "offset_label"]

_MARKERS = {"user": "s", "time": "o", "process": ">"}
_SIZES = {"user": 70.0, "time": 140.0, "process": 30.0}
#: Layout in points: glyph width per pt of font size when no renderer can measure (DejaVu
#: Sans bold and regular), label distance from a marker's centre, and the narrowest column.
_BOLD_EM, _EM = 0.66, 0.6
_MARK_PT = 9.0
_MIN_COLUMN_PT = 48.0
#: Rows (leaf slots) are at least this many font sizes apart, so labels never touch.
_ROW_EM = 1.45
#: A role drawn faded: what keeps a namespace alive rather than what runs in it.
DIMMED_ROLES = frozenset({"holder"})

Selector = Callable[[str | None], None]


class TreePlot:
    """A live-updatable namespace tree. Call :meth:`update` with a new Tree; it redraws only when
    something visible changed."""

    def __init__(self, fig: Figure | None = None, *, on_select: Selector | None = None,
                 figsize: tuple[float, float] = (6.0, 3.6), title: str | None = None,
                 names: Mapping[str, str] | None = None, fontsize: float = 8.5,
                 min_fontsize: float = 6.0, members: str = "pid") -> None:
        self.fig = fig if fig is not None else new_figure(figsize)
        self._own_fig = fig is None
        self.ax = self.fig.add_subplot(1, 1, 1)
        if self._own_fig:
            self.fig.subplots_adjust(left=0.03, right=0.97, bottom=0.03,
                                     top=0.9 if title else 0.97)
        self.ax.set_axis_off()
        self.on_select = on_select
        self.title = title
        #: node key → display name (``{"time:4026532180": "ns1 +1h/+1h"}``), so the tree names
        #: namespaces as the lab, the panel and the divergence legend do
        self.names: dict[str, str] = dict(names or {})
        self.fontsize, self.min_fontsize = fontsize, min_fontsize
        self.members = _members(members)
        #: pid → role ("sampler", "holder"), shown instead of the command (members="command")
        self.roles: dict[int, str] = {}
        self.tree: Tree | None = None
        self.keys: list[str] = []
        self.positions: dict[str, tuple[float, float]] = {}
        self.selected: str | None = None
        self.edges = LineCollection([], colors="0.6", linewidths=1.0, zorder=1)
        self.ax.add_collection(self.edges)
        self.nodes = self.ax.scatter([], [], zorder=2, picker=True, pickradius=8)
        self.ring = self.ax.scatter([], [], s=420, facecolors="none", edgecolors="#f5a300",
                                    linewidths=2.5, zorder=3)
        self.labels: list[Annotation] = []
        self._signature: tuple[Any, ...] | None = None
        self._error_shown = False
        self._cid = self.fig.canvas.mpl_connect("pick_event", self._on_pick)
        if title:
            self.ax.set_title(title, fontsize=self._title_pt(), loc="left")

    def _title_pt(self) -> float:
        return max(10.0, self.fontsize * 1.15)

    def _key(self) -> tuple[Any, ...]:
        """What else than the tree changes the picture (see update)."""
        return (self.selected, tuple(sorted(self.names.items())), self.members,
                tuple(sorted(self.roles.items())), self.fontsize, self.min_fontsize)

    # --- style

    def set_style(self, *, fontsize: float | None = None, min_fontsize: float | None = None,
                  members: str | None = None) -> None:
        """Type size (largest, smallest) and how members are named ("pid": ``PID COMM``,
        "command": by command or role); redraws when the tree is shown.

        Raises:
            ValueError: ``members`` is neither "pid" nor "command".
        """
        if members is not None:
            self.members = _members(members)
        if fontsize is not None:
            self.fontsize = fontsize
        if min_fontsize is not None:
            self.min_fontsize = min_fontsize
        if self.title and not self._error_shown:
            self.ax.set_title(self.title, fontsize=self._title_pt(), loc="left")
        self._signature = None
        if self.tree is not None:
            self.update(self.tree)

    def set_roles(self, roles: Mapping[int, str]) -> bool:
        """Name processes by role (pid → text); redraws when that changed a label."""
        roles = dict(roles)
        if roles == self.roles:
            return False
        self.roles = roles
        return self.update(self.tree) if self.tree is not None else False

    # --- data in

    def update(self, tree: Tree) -> bool:
        """Show ``tree``. Returns True when the picture changed (and a redraw was requested)."""
        signature = (_tree_signature(tree), *self._key())
        if signature == self._signature:
            return False
        self._signature = signature
        self.tree = tree
        if self._error_shown:
            self._error_shown = False
            self.ax.set_title(self.title or "", fontsize=self._title_pt(), loc="left",
                              color=mpl_text_colour())
        self._layout(tree)
        self._restyle(tree)
        self._place_ring()
        self.fig.canvas.draw_idle()
        return True

    def set_names(self, names: Mapping[str, str]) -> bool:
        """Name nodes (key → text) as the lab does; redraws when that changed a label."""
        names = dict(names)
        if names == self.names:
            return False
        self.names = names
        return self.update(self.tree) if self.tree is not None else False

    def select(self, key: str | None, *, notify: bool = False) -> None:
        """Highlight ``key`` (a node key such as ``time:4026532178``), or nothing for None."""
        if key is not None and key not in self.positions:
            key = None
        if key == self.selected:
            return
        self.selected = key
        if self.tree is not None:
            self._signature = (_tree_signature(self.tree), *self._key())
        self._place_ring()
        self.fig.canvas.draw_idle()
        if notify and self.on_select is not None:
            self.on_select(key)

    def show_error(self, message: str) -> None:
        """Say on the figure why the tree could not be refreshed (it keeps the last one)."""
        self.ax.set_title(f"error: {message}", fontsize=self._title_pt() * 0.8, loc="left",
                          color="#b00020")
        self._error_shown = True
        self._signature = None   # the next good tree redraws (and restores the title)
        self.fig.canvas.draw_idle()

    def close(self) -> None:
        self.fig.canvas.mpl_disconnect(self._cid)
        if self._own_fig:
            close_figure(self.fig)

    # --- drawing

    def _layout(self, tree: Tree) -> None:
        """Tidy slots on y; on x, columns as wide as the labels they carry, in points.

        Inner nodes are labelled left of their marker (over their one incoming edge), leaves
        right of it, so column d+1 starts one inner-label width after column d. When the
        columns do not fit the axes, or the rows its height, the font shrinks (down to
        ``min_fontsize``) before anything overlaps.
        """
        known = tree.nodes
        children = {k: [c for c in kids if c in known] for k, kids in tree.children.items()}
        roots = [r for r in tree.roots if r in known]
        slots = tidy_layout(roots, children)
        self.keys = [n.key for _, n in tree.walk() if n.key in slots]
        self._texts = {k: self._text(tree.nodes[k]) for k in self.keys}
        inner = {k for k in self.keys if children.get(k)}
        depths = {k: int(-slots[k][1]) for k in self.keys}
        leaves = sum(1 for k in self.keys if k not in inner)
        size = min(self.fontsize, 7.0) if leaves > 20 else self.fontsize
        box = self.ax.get_position()
        width_pt = box.width * self.fig.get_figwidth() * 72
        # Down: leaf slots span (rows - 1) + 1.4 slots of the axes' height (ylim below).
        rows = max((slots[k][0] for k in self.keys), default=0.0) + 1.4
        size = max(self.min_fontsize,
                   min(size, box.height * self.fig.get_figheight() * 72 / rows / _ROW_EM))
        em = {k: self._em(tree.nodes[k], self._texts[k]) for k in self.keys}
        for _ in range(4):
            x_of, total = _columns(self.keys, depths, inner, em, size)
            if total <= width_pt or size <= self.min_fontsize:
                break
            size = max(self.min_fontsize, size * width_pt / total)
        self._fontsize = size
        # Right-growing like `lsns --tree`: depth → column x, slot → y, first leaf on top.
        self.positions = {k: (x_of[depths[k]], -slots[k][0]) for k in self.keys}
        xy = np.array([self.positions[k] for k in self.keys], dtype=float).reshape(-1, 2)
        self.nodes.set_offsets(xy)
        self.edges.set_segments([[self.positions[p], self.positions[c]]
                                 for p, kids in children.items() if p in self.positions
                                 for c in kids if c in self.positions])
        y0, y1 = (xy[:, 1].min(), xy[:, 1].max()) if len(xy) else (0.0, 0.0)
        self.ax.set_xlim(0.0, max(total, width_pt))
        self.ax.set_ylim(y0 - 0.6, y1 + 0.8)

    def _text(self, node: Node) -> str:
        if self.members == "command" and node.kind == "process":
            return member_text(node, self.roles)
        return node_text(node, self.names.get(node.key))

    def _dimmed(self, node: Node) -> bool:
        return (self.members == "command" and node.kind == "process"
                and node.pid is not None and self.roles.get(node.pid) in DIMMED_ROLES)

    def _em(self, node: Node, text: str) -> float:
        """Width of ``text`` at 1 pt in the label's font, measured by the canvas' renderer
        (widths scale linearly with the size), or estimated from its length."""
        bold = node.kind == "time"
        try:
            renderer: Any = self.fig.canvas.get_renderer()  # type: ignore[attr-defined]
            prop = FontProperties(size=10, weight="bold" if bold else "normal")
            width_px, _, _ = renderer.get_text_width_height_descent(text, prop, ismath=False)
        except (AttributeError, RuntimeError, ValueError):
            return len(text) * (_BOLD_EM if bold else _EM)
        return float(width_px) * 72 / self.fig.dpi / 10

    def _restyle(self, tree: Tree) -> None:
        nodes = [tree.nodes[k] for k in self.keys]
        colours = [node_colour(n) for n in nodes]
        faces: list[tuple[float, float, float, float]] = []
        edges: list[tuple[float, float, float, float]] = []
        styles: list[Literal["-", "--"]] = []
        widths: list[float] = []
        for n, c in zip(nodes, colours, strict=True):
            pending = n.kind == "time" and is_pending(n)
            alpha = 0.3 if n.state == "gone" or self._dimmed(n) else 1.0
            faces.append((1.0, 1.0, 1.0, alpha) if pending else (*c[:3], alpha))
            edges.append((*c[:3], alpha) if pending else (0.15, 0.15, 0.15, alpha))
            styles.append("--" if pending else "-")
            widths.append(2.0 if pending else 0.8)
        self.nodes.set_paths([MarkerStyle(_MARKERS[n.kind]).get_path().transformed(
            MarkerStyle(_MARKERS[n.kind]).get_transform()) for n in nodes])
        self.nodes.set_sizes([_SIZES[n.kind] for n in nodes])
        self.nodes.set_facecolor(faces)
        self.nodes.set_edgecolor(edges)
        self.nodes.set_linestyle(styles)
        self.nodes.set_linewidth(widths)
        paper = self.ax.get_facecolor()   # the label boxes mask edges in the theme's paper
        while len(self.labels) < len(nodes):
            self.labels.append(self.ax.annotate(
                "", (0, 0), xytext=(0, 0), textcoords="offset points", zorder=4,
                annotation_clip=False, parse_math=False,  # a comm may contain "$"
                bbox={"boxstyle": "round,pad=0.12", "fc": paper, "ec": "none", "alpha": 0.85}))
        for text, n in zip(self.labels, nodes, strict=False):
            # Leaves: label to the right. Inner nodes: to the left, over their one incoming edge
            # (masked by the label's white box), clear of their outgoing ones.
            inner = bool(tree.children.get(n.key))
            text.xy = self.positions[n.key]
            text.set_position((-_MARK_PT, 2) if inner else (_MARK_PT + 3, 0))
            text.set_horizontalalignment("right" if inner else "left")
            text.set_verticalalignment("bottom" if inner else "center")
            text.set_text(self._texts[n.key])
            text.set_fontsize(self._fontsize)
            dimmed = self._dimmed(n)
            text.set_alpha(0.4 if n.state == "gone" or dimmed else 1.0)
            text.set_fontweight("bold" if n.kind == "time" else "normal")
            text.set_fontstyle("italic" if dimmed else "normal")
            text.set_visible(True)
        for text in self.labels[len(nodes):]:
            text.set_visible(False)

    def _place_ring(self) -> None:
        if self.selected in self.positions:
            self.ring.set_offsets([self.positions[self.selected]])
        else:
            self.ring.set_offsets(np.empty((0, 2)))

    # --- picking

    def _on_pick(self, event: Any) -> None:
        if event.artist is not self.nodes or self.tree is None or not len(event.ind):
            return
        picked = [self.keys[i] for i in event.ind if i < len(self.keys)]
        key = self.namespace_of(picked[0]) if picked else None
        for k in picked:  # a time namespace under the pointer wins over a neighbour
            if self.tree.nodes[k].kind == "time":
                key = k
                break
        self.select(key, notify=True)

    def namespace_of(self, key: str) -> str:
        """The time namespace a node stands for: itself, or the nearest time ancestor."""
        assert self.tree is not None
        node: Node | None = self.tree.nodes.get(key)
        while node is not None and node.kind != "time" and node.parent is not None:
            node = self.tree.nodes.get(node.parent)
        return node.key if node is not None and node.kind == "time" else key


def _columns(keys: list[str], depths: dict[str, int], inner: set[str], em: dict[str, float],
             size: float) -> tuple[list[float], float]:
    """x of each depth's column and the total width, in points, for labels at ``size`` pt
    (``em``: each label's width at 1 pt)."""
    deepest = max(depths.values(), default=0)
    need = [0.0] * (deepest + 1)      # widest inner-node label at each depth
    for k in keys:
        if k in inner:
            need[depths[k]] = max(need[depths[k]], em[k] * size)
    x_of, x = [], 0.0
    for d in range(deepest + 1):
        x += max(need[d] + _MARK_PT + 6, _MIN_COLUMN_PT if d else _MARK_PT + 6)
        x_of.append(x)
    ends = [x_of[depths[k]] + _MARK_PT + 6 + em[k] * size for k in keys if k not in inner]
    return x_of, max([x + _MARK_PT, *ends])


def _members(members: str) -> str:
    if members not in ("pid", "command"):
        raise ValueError(f"members must be 'pid' or 'command', not {members!r}")
    return members


def mpl_text_colour() -> Any:
    import matplotlib as mpl

    return mpl.rcParams["text.color"]


def _tree_signature(tree: Tree) -> tuple[Any, ...]:
    return tuple((n.key, n.parent, n.label, n.state, n.frozen, n.monotonic_ns, n.boottime_ns,
                  n.partial, tuple(tree.children.get(n.key, ()))) for _, n in tree.walk())


class LiveTree:
    """Drives a TreePlot from a tree provider (e.g. discovery) inside a LiveView.

    The provider reads /proc, which takes milliseconds to tens of milliseconds, so it runs in the
    loop's default thread pool, at most one call in flight, every ``interval`` seconds; the
    drawing stays on the loop thread (matplotlib is not thread-safe).
    """

    def __init__(self, plot: TreePlot, provider: Callable[[], Tree], *,
                 interval: float = 1.0) -> None:
        self.plot = plot
        self.fig = plot.fig
        self.provider = provider
        self.interval = interval
        self.error: BaseException | None = None
        self._future: Any = None
        self._last = -np.inf

    def frame(self) -> None:
        import asyncio
        import time

        if self._future is not None and self._future.done():
            future, self._future = self._future, None
            self._take(future.result, future.exception())
        now = time.monotonic()
        if self._future is not None or now - self._last < self.interval:
            return
        self._last = now
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # driven without a loop (tests, scripts): call inline
            self._take(self.provider, None)
            return
        self._future = loop.run_in_executor(None, self.provider)

    def finish(self) -> None:
        """One last, synchronous look, so the final frame shows the final tree."""
        if self._future is not None:
            self._future.cancel()
            self._future = None
        self._take(self.provider, None)
        self.plot.fig.canvas.draw()

    def _take(self, get: Callable[[], Tree], error: BaseException | None) -> None:
        from ..errors import TimensError

        try:
            if error is not None:
                raise error
            tree = get()
        except (TimensError, OSError) as err:   # show it on the figure; keep the loop alive
            self.error = err
            self.plot.show_error(str(err))
            return
        self.error = None
        self.plot.update(tree)
