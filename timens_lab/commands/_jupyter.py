"""``python -P -m timens_lab.commands._jupyter MODULE ARGS...``: run a Jupyter server module
(``jupyterlab``) as ``python -m MODULE ARGS...`` would, without one warning that is not ours.

notebook_shim, a JupyterLab dependency, lists every ServerApp attribute with
inspect.getmembers (notebook_shim/nbserver.py, ``public_members``); that reads the deprecated
``ServerApp.token`` and jupyter_server warns although nobody configured it. Python hides such
DeprecationWarnings by default, but Voila's package, which the server imports as an extension
when Voila is installed, turns them back on for all of traitlets
(voila/__init__.py: ``filterwarnings("default", ..., module="traitlets")``), so that import
also shows deprecations inside other packages' trait definitions that Python would not show.
So Voila is imported first and its filter is taken out again (Python's default policy applies:
a DeprecationWarning shows when __main__ triggers it), and exactly this warning is ignored.
Configuring ServerApp.token still warns (jupyter_server logs that one, not a warning).
"""

from __future__ import annotations

import importlib.util
import runpy
import sys
import warnings

SHIM_WARNING = "ServerApp.token config is deprecated"


def main() -> None:
    module, *args = sys.argv[1:]
    if importlib.util.find_spec("voila") is not None:
        import voila  # noqa: F401  (its import-time filter, then taken out)

        warnings.filters[:] = [f for f in warnings.filters if not _voila_filter(f)]  # type: ignore[index]
    warnings.filterwarnings("ignore", message=SHIM_WARNING, category=DeprecationWarning)
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


def _voila_filter(f: tuple[object, ...]) -> bool:
    action, _message, category, module, _lineno = f
    pattern = getattr(module, "pattern", module)
    return action == "default" and category is DeprecationWarning and pattern == "traitlets"


if __name__ == "__main__":
    main()
