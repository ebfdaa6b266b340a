"""Sessions: the one layer that assembles a running scenario from the parts below it — a Lab,
its samplers, a watcher and (optionally) a recorder, live or replayed, with the probe's verdict
behind the choice — and joins namespaces made by others (foreign.py).

- mode.py: :func:`open_source`, live where the probe says time namespaces work, else a replay
  whose banner says why (``TIMENS_LAB_MODE`` forces either);
- scenario.py: the live half (a SamplerSet that also serves the session's namespace tree);
- sampling.py: :func:`sampler`, :func:`samplers`, :func:`add` (the engine knows nothing of them);
- recorder.py, environment.py, scope.py: :func:`record`, the recorder tap handed its
  environment and a tree feed kept to this session's namespaces;
- control.py, explorer.py: the control panel's :class:`LabControl` and the wiring of a live
  dashboard (:func:`lab_scene`, behind ``Dashboard.for_lab``).

It may import the engine, clocks, discovery, recording, probing and the bottom layer; views,
the tutorial, the demo and the commands use it. Names are imported on first use, so
``import timens_lab.session.foreign`` stays light (no numpy).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_LAZY = {
    "open_source": "mode",
    "choose": "mode",
    "record": "recorder",
    "sampler": "sampling",
    "samplers": "sampling",
    "add": "sampling",
    "join": "foreign",
    "LabControl": "control",
    "lab_scene": "explorer",
}

__all__ = ["LabControl", "add", "choose", "join", "lab_scene", "open_source", "record",
           "sampler", "samplers"]

if TYPE_CHECKING:  # pragma: no cover
    from .control import LabControl
    from .explorer import lab_scene
    from .foreign import join
    from .mode import choose, open_source
    from .recorder import record
    from .sampling import add, sampler, samplers


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'timens_lab.session' has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)


def __dir__() -> list[str]:
    return __all__
