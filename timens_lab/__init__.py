"""timens-lab: explore Linux time namespaces hands-on.

Create namespaces with offsets (root or rootless), run commands and samplers inside them, watch
their clocks diverge live in JupyterLab, and replay recordings where the kernel says no.

>>> from timens_lab import Lab
>>> with Lab() as lab:                                   # doctest: +SKIP
...     ns = lab.namespace(monotonic="1h", boottime="2d")
...     ns.spawn(["cat", "/proc/uptime"]).communicate()

Heavy imports (numpy, matplotlib, ipywidgets) are lazy: the CLI and the helper stay light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY = {
    "Lab": "timens_lab.engine.lab",
    "TimeNamespace": "timens_lab.engine.lab",
    "Child": "timens_lab.engine.lab",
    "PIPE": "timens_lab.engine.lab",
    "Offsets": "timens_lab.offsets",
    "parse_duration": "timens_lab.offsets",
    "format_duration": "timens_lab.offsets",
    "probe": "timens_lab.probing.check",
    "Sampler": "timens_lab.clocks.sampler",
    "SamplerSet": "timens_lab.clocks.sampler",
    "Replay": "timens_lab.recording.replay",
    "open_source": "timens_lab.recording.replay",
    "discover": "timens_lab.discovery.scan",
    "errors": "timens_lab.errors",
}

__all__ = [
    "PIPE", "Child", "Lab", "Offsets", "Replay", "Sampler", "SamplerSet", "TimeNamespace", "__version__",
    "discover", "errors", "format_duration", "open_source", "parse_duration", "probe",
]

if TYPE_CHECKING:  # pragma: no cover
    from . import errors
    from .clocks.sampler import Sampler, SamplerSet
    from .discovery.scan import discover
    from .engine.lab import PIPE, Child, Lab, TimeNamespace
    from .offsets import Offsets, format_duration, parse_duration
    from .probing.check import probe
    from .recording.replay import Replay, open_source


def __getattr__(name: str) -> Any:
    import importlib

    if name not in _LAZY:
        raise AttributeError(f"module 'timens_lab' has no attribute {name!r}")
    module = importlib.import_module(_LAZY[name])
    return module if name == "errors" else getattr(module, name)


def __dir__() -> list[str]:
    return __all__
