"""Live views for JupyterLab: divergence plot, namespace tree, control panel, dashboard.

Everything heavy (matplotlib, ipywidgets) is imported on first use of a name, so ``import
timens_lab.views`` stays cheap and the CLI never pays for it. No view calls the kernel: plots read
a :class:`~timens_lab.source.Source` (live or replayed) and :class:`~timens_lab.discovery.treemodel.Tree`s;
the panel drives the public ``Lab`` API.

>>> from timens_lab.views import DivergencePlot, LiveView     # doctest: +SKIP
>>> view = LiveView([DivergencePlot(source)], duration=20)
>>> view.start()                 # an asyncio task on the kernel's loop; the cell returns
>>> await view.wait()            # in a later cell (headless runs must await it)
>>> view.snapshot()              # the final frame stays in the saved notebook as a PNG
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_LAZY = {
    "tidy_layout": "layout",
    "TreePlot": "tree_plot",
    "LiveTree": "tree_plot",
    "DivergencePlot": "divergence_plot",
    "LiveView": "live",
    "Panel": "panel",
    "Dashboard": "dashboard",
    "minmax_columns": "decimate",
}

__all__ = ["Dashboard", "DivergencePlot", "LiveTree", "LiveView", "Panel", "TreePlot",
           "minmax_columns", "tidy_layout"]

if TYPE_CHECKING:  # pragma: no cover
    from .dashboard import Dashboard
    from .decimate import minmax_columns
    from .divergence_plot import DivergencePlot
    from .layout import tidy_layout
    from .live import LiveView
    from .panel import Panel
    from .tree_plot import LiveTree, TreePlot


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'timens_lab.views' has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)


def __dir__() -> list[str]:
    return __all__
