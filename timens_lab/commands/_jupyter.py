"""``python -P -m timens_lab.commands._jupyter [--trust NOTEBOOK]... MODULE ARGS...``: run a
Jupyter server module (``jupyterlab``, ``voila``) as ``python -m MODULE ARGS...`` would, without
one warning that is not ours, without a second and a half of grammar compiling nothing uses, and
with our own notebooks signed first.

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

jsonschema, which every Jupyter server imports (jupyter_events, nbformat), imports the optional
``rfc3987_syntax`` when it is installed (jupyter-events asks for ``jsonschema[format-nongpl]``),
and that module compiles about forty Earley parsers at import: 1.5–2 s on a 2-core machine,
more than the rest of Voilà's start (listening after ~1 s without it, ~2.8 s with it), to check
the "iri" and "iri-reference" string formats, which no schema these servers validate uses. It
is marked absent here, which jsonschema supports (it then has no checker for those two
formats), and only here: a notebook's kernel is a separate process.

``--trust NOTEBOOK`` signs a notebook of ours in the user's Jupyter trust database (what "Trust
Notebook" does), so the server does not log that it is untrusted. Best effort: serving works
either way. It is done here, not in the ``timens-lab`` process, because the server imports
nbformat anyway; the command itself stays light.
"""

from __future__ import annotations

import importlib.util
import runpy
import sys
import warnings
from pathlib import Path

SHIM_WARNING = "ServerApp.token config is deprecated"
#: Imported by jsonschema if present; costs seconds, checks nothing our servers validate.
SLOW_OPTIONAL = "rfc3987_syntax"


def main() -> None:
    args = sys.argv[1:]
    trust: list[Path] = []
    while args[:1] == ["--trust"]:
        trust.append(Path(args[1]))
        args = args[2:]
    module, *args = args
    sys.modules.setdefault(SLOW_OPTIONAL, None)  # type: ignore[arg-type]  # None: import raises ImportError
    if importlib.util.find_spec("voila") is not None:
        import voila  # noqa: F401  (its import-time filter, then taken out)

        warnings.filters[:] = [f for f in warnings.filters if not _voila_filter(f)]  # type: ignore[index]
    warnings.filterwarnings("ignore", message=SHIM_WARNING, category=DeprecationWarning)
    for notebook in trust:
        sign(notebook)
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


def sign(notebook: Path) -> None:
    """Sign ``notebook`` in the user's trust database (best effort: an unsigned notebook only
    costs a log line)."""
    import sqlite3

    try:
        import nbformat
        from nbformat.sign import NotebookNotary

        nb = nbformat.read(notebook, as_version=4)
        NotebookNotary().sign(nb)
    except (ImportError, OSError, ValueError, sqlite3.Error):
        pass  # e.g. no writable Jupyter data dir


def _voila_filter(f: tuple[object, ...]) -> bool:
    action, _message, category, module, _lineno = f
    pattern = getattr(module, "pattern", module)
    return action == "default" and category is DeprecationWarning and pattern == "traitlets"


if __name__ == "__main__":
    main()
