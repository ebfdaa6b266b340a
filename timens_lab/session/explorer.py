"""What a dashboard over a live Lab runs on: a host reference sampler (the plotted Source, which
grows as the panel starts samplers), a discovery-backed namespace tree, and the panel's
:class:`~timens_lab.session.control.LabControl`.

:func:`lab_scene` is the wiring behind :meth:`Dashboard.for_lab
<timens_lab.views.dashboard.Dashboard.for_lab>`; the views only receive its parts (a Source, a
tree provider, a controller) and never touch the Lab or the kernel.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Literal

from ..clocks.sampler import SamplerSet
from ..discovery.treemodel import Tree
from .control import LabControl
from .sampling import add, sampler


@dataclasses.dataclass
class LabScene:
    """The parts of a live dashboard: ``source`` to plot, ``tree()`` to draw, ``control`` for
    the panel; ``by`` says which tree."""

    control: LabControl
    source: SamplerSet
    tree: Callable[[], Tree]
    by: Literal["lineage", "owner"]


def lab_scene(lab: Any, *, rate: float = 200.0,
              tree: Literal["lineage", "owner"] = "lineage") -> LabScene:
    """Wire a Lab: a started host reference sampler, samplers the panel adds to the same
    Source, and a tree from discovery (``"lineage"`` with the lab's own spawn records, or
    ``"owner"``).

    Raises:
        ValueError: an unknown ``tree``.
        SpawnError: the host sampler could not start.
    """
    from ..discovery import trees
    from ..discovery.watch import Watcher

    if tree not in ("lineage", "owner"):
        raise ValueError(f"tree must be 'lineage' or 'owner', not {tree!r}")
    source = SamplerSet(sampler(lab, rate=rate).start())
    watcher = Watcher()

    def provider() -> Tree:
        watcher.poll()
        d = watcher.discovery
        assert d is not None
        return (trees.lineage_tree(d, hints=lab.lineage()) if tree == "lineage"
                else trees.owner_tree(d))

    def sampler_factory(ns: Any, rate: float | None, clocks: tuple[str, ...]) -> Any:
        return add(source, ns, rate=rate, clocks=clocks)

    return LabScene(LabControl(lab, sampler_factory=sampler_factory), source, provider, tree)
