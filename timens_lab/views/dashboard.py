"""The demo dashboard: control panel + namespace tree + divergence plot, one selection, one loop.

>>> lab = Lab()                                        # doctest: +SKIP
>>> dash = Dashboard.for_lab(lab)      # host sampler, discovery-backed lineage tree
>>> dash.start()                       # displays it; the render task runs on the kernel loop
>>> ...                                # create namespaces, sample, edit, kill from the panel
>>> dash.stop(); await dash.wait()
>>> dash.snapshot()                    # the figures' final frame stays in the saved notebook
>>> dash.close()                       # stops its samplers

:meth:`Dashboard.for_lab` is the only place that wires engine pieces (samplers, discovery);
the views themselves never touch the kernel, and ``Dashboard(...)`` accepts any Source and any
tree provider (a replay, a synthetic source, a fixed Tree).
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Sequence
from typing import Any

from ..discovery.treemodel import Node, Tree
from ..source import HOST, Source
from ._figure import buffer_png, png_bytes
from .divergence_plot import DivergencePlot
from .live import LiveView, _is_widget
from .panel import Panel, SamplerFactory
from .tree_plot import LiveTree, TreePlot

#: A namespace with more members than this shows the eldest few and one "+N more" leaf (the
#: initial namespace has every process of the machine).
MAX_MEMBERS = 5


def prune_members(tree: Tree, max_members: int = MAX_MEMBERS) -> Tree:
    """A copy of ``tree`` where a node with more than ``max_members`` process children shows
    one process-kind leaf ``N processes`` instead of them (the initial namespace holds every
    process of the machine, which would drown the lab's namespaces)."""
    out = Tree(by=tree.by)
    for _, node in tree.walk():
        out.add(node)
    for key, kids in list(out.children.items()):
        procs = [k for k in kids if out.nodes[k].kind == "process"]
        if len(procs) <= max_members:
            continue
        for k in procs:
            _remove(out, k)
        out.add(Node(f"{key}:members", "process", f"{len(procs)} processes", parent=key,
                     detail=", ".join(tree.nodes[k].label for k in procs[:20])))
    return out


def _remove(tree: Tree, key: str) -> None:
    stack = [key]
    while stack:
        k = stack.pop()
        node = tree.nodes.pop(k)
        stack.extend(tree.children.pop(k, []))
        if node.parent is not None and k in tree.children.get(node.parent, []):
            tree.children[node.parent].remove(k)


class Dashboard:
    """Panel, tree and divergence plot in one widget, driven by one LiveView."""

    def __init__(self, lab: Any, source: Source, *,
                 tree_provider: Callable[[], Tree] | None = None,
                 sampler_factory: SamplerFactory | None = None,
                 clocks: Sequence[str] = ("monotonic", "boottime", "realtime"),
                 fps: float = 12.0, tree_interval: float = 1.0,
                 duration: float | None = None) -> None:
        self.lab = lab
        self.source = source
        self.panel = Panel(lab, sampler_factory=sampler_factory)
        self.plot = DivergencePlot(source, clocks, figsize=(9.0, 4.2))
        self.tree = TreePlot(figsize=(5.6, 3.6), on_select=self._tree_selected,
                             title=f"{'lineage' if tree_provider else 'namespace'} tree")
        views: list[Any] = [self.plot]
        if tree_provider is not None:
            views.append(LiveTree(self.tree, tree_provider, interval=tree_interval))
        self.panel.observe(self._panel_selected, names="selected")
        self._last_refresh = 0.0
        self._images: list[tuple[Any, Any]] = []   # (figure, ipywidgets.Image) without ipympl
        self.view = LiveView(views, fps=fps, duration=duration, hooks=[self._tick])
        self._handle: Any = None

    @classmethod
    def for_lab(cls, lab: Any, *, rate: float = 200.0, tree: str = "lineage",
                **kw: Any) -> Dashboard:
        """Wire a Lab: a host reference sampler, samplers added by the panel, and a tree from
        discovery (``tree="lineage"`` with the lab's own spawn records, or ``"owner"``).

        Raises:
            SpawnError: the host sampler could not start.
        """
        from ..clocks.sampler import Sampler, SamplerSet
        from ..discovery import trees
        from ..discovery.watch import Watcher

        if tree not in ("lineage", "owner"):
            raise ValueError(f"tree must be 'lineage' or 'owner', not {tree!r}")
        source = SamplerSet(Sampler.for_host(lab, rate=rate).start())
        watcher = Watcher()

        def provider() -> Tree:
            watcher.poll()
            d = watcher.discovery
            assert d is not None
            t = (trees.lineage_tree(d, hints=lab.lineage()) if tree == "lineage"
                 else trees.owner_tree(d))
            return prune_members(t)

        def sampler_factory(ns: Any, rate: float | None, clocks: tuple[str, ...]) -> Any:
            return source.add(Sampler.for_namespace(ns, rate=rate, clocks=clocks).start())

        dash = cls(lab, source, tree_provider=provider, sampler_factory=sampler_factory, **kw)
        dash.tree.title = f"{tree} tree"
        dash.tree.ax.set_title(dash.tree.title, fontsize=10, loc="left")
        return dash

    # --- selection, shared three ways

    def _tree_selected(self, key: str | None) -> None:
        self.panel.selected = key
        self.plot.select(key)

    def _panel_selected(self, change: dict[str, Any]) -> None:
        self.tree.select(change["new"])
        self.plot.select(change["new"])

    def _tick(self) -> None:
        """After each frame: refresh the panel (states change as namespaces freeze or die) and,
        without ipympl, the figure images, about once a second."""
        now = time.monotonic()
        if now - self._last_refresh < 1.0:
            return
        self._last_refresh = now
        self.panel.refresh()
        self.tree.set_names(self.names())
        for fig, image in self._images:
            image.value = buffer_png(fig)

    def names(self) -> dict[str, str]:
        """Tree key → the name the lab, the panel and the divergence legend use.

        Only for namespaces still open, and only where the tree's node is that namespace:
        inodes are reused as soon as a namespace dies (kernel-timens.md finding 9), so where
        both sides know NS_GET_ID it must match too.
        """
        nodes = self.tree.tree.nodes if self.tree.tree is not None else {}
        names: dict[str, str] = {}
        host = next((c for c in self.source.channels() if c.id == HOST), None)
        if host is not None and host.ns_inode is not None:
            names[f"time:{host.ns_inode}"] = host.label
        for ns in self.panel.namespaces():
            label, inode = getattr(ns, "label", None), getattr(ns, "inode", None)
            if not label or inode is None or getattr(ns, "state", None) == "closed":
                continue
            key = f"time:{inode}"
            node, ns_id = nodes.get(key), getattr(ns, "ns_id", None)
            if node is not None and None not in (node.ns_id, ns_id) and node.ns_id != ns_id:
                continue  # a new namespace under a recycled inode
            names[key] = str(label)
        return names

    # --- display and lifecycle

    def widget(self) -> Any:
        import ipywidgets as W

        def place(fig: Any) -> Any:
            if _is_widget(fig.canvas):
                return fig.canvas
            fig.canvas.draw()
            image = W.Image(value=buffer_png(fig), format="png")
            self._images.append((fig, image))
            return image

        return W.VBox([W.HBox([self.panel.widget, place(self.tree.fig)]),
                       place(self.plot.fig), *self.view_controls()])

    def view_controls(self) -> list[Any]:
        controls = self.view._make_controls()
        return [] if controls is None else [controls]

    def show(self) -> None:
        from IPython.display import display

        self._handle = display(self.widget(), display_id=True)

    def start(self) -> None:
        """Display (once) and start the render task on the kernel's loop; returns at once."""
        if self._handle is None:
            self.show()
        self.view.start(show=False)

    def stop(self) -> None:
        self.view.stop()

    async def wait(self) -> None:
        await self.view.wait()

    def snapshot(self) -> bytes:
        """Replace the dashboard's display with one PNG of its figures (tree above divergence);
        returns that PNG."""
        from IPython.display import Image, display

        png = _stack([png_bytes(self.tree.fig), png_bytes(self.plot.fig)])
        if self._handle is not None:
            self._handle.update(Image(png))
        else:
            display(Image(png))
        return png

    def close(self) -> None:
        """Stop the loop and the samplers this dashboard read from; close its figures."""
        self.view.stop()
        try:
            self.source.close()
        finally:
            self.plot.close()
            self.tree.close()


def _stack(pngs: Sequence[bytes]) -> bytes:
    """PNGs one above the other on white, left-aligned."""
    from PIL import Image

    images = [Image.open(io.BytesIO(p)).convert("RGB") for p in pngs]
    width = max(i.width for i in images)
    out = Image.new("RGB", (width, sum(i.height for i in images)), "white")
    y = 0
    for image in images:
        out.paste(image, (0, y))
        y += image.height
    buf = io.BytesIO()
    out.save(buf, format="png")
    return buf.getvalue()
