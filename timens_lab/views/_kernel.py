"""Which Jupyter kernel runs us, if any: widgets need one to carry their messages."""

from __future__ import annotations

from typing import Any


def kernel_shell() -> Any:
    """The Jupyter kernel's IPython shell, else None (a script, a terminal IPython, tests)."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with ipykernel
        return None
    shell = get_ipython()
    return shell if getattr(shell, "kernel", None) is not None else None
