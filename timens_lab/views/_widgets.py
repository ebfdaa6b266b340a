"""Closing widget trees: ipywidgets keeps every widget it ever made until ``close()``.

``Widget.widgets`` (and the comm manager) hold each widget, so a view that is replaced — the
demo rebuilds its dashboard at every preset click and rollover — leaks its whole tree unless
every widget in it is closed, including those only reachable through a trait: each widget's
Layout and Style, and an ipympl canvas's Toolbar (which ``plt.close`` leaves open).
"""

from __future__ import annotations

import contextlib
from typing import Any

#: Traits through which a widget reaches widgets it alone owns (never a shared parent).
_OWNED = ("children", "layout", "style", "toolbar")


def close_tree(widget: Any) -> None:
    """Close ``widget`` and every widget it owns, depth first; idempotent."""
    stack, seen = [widget], {}
    while stack:
        w = stack.pop()
        if id(w) in seen:
            continue
        seen[id(w)] = w
        for name in _OWNED:
            value = getattr(w, name, None)
            for child in value if isinstance(value, list | tuple) else (value,):
                if hasattr(child, "close") and hasattr(child, "comm"):  # a widget
                    stack.append(child)
    for w in reversed(seen.values()):
        with contextlib.suppress(Exception):
            w.close()
