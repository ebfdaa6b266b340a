"""How timens-lab starts its own Python children (the helper, the probe child, the tutorial's).

``python -m timens_lab.X`` puts the current directory first on sys.path, so run from a
checkout (or any directory holding a ``timens_lab/``) the child imports that tree instead of
the installed package — e.g. one without the compiled ``_timens``. So children start with
``-P`` (Python >= 3.11: prepend nothing to sys.path; the flag, unlike PYTHONSAFEPATH, is not
inherited by what they start) and load *this* copy of the package by its absolute path,
without putting its parent directory (site-packages, or a checkout) ahead of the standard
library. Nothing is added to the environment, so user commands started later see exactly
the caller's.
"""

from __future__ import annotations

import sys
from pathlib import Path

#: The package directory this process imported timens_lab from.
PACKAGE_DIR = str(Path(__file__).resolve().parent)

# argv: [-c, PACKAGE_DIR, MODULE, ARGS...]. Registers the package from PACKAGE_DIR, then runs
# MODULE as __main__ (runpy, as -m does) with sys.argv = [its file, ARGS...].
_BOOT = (
    "import importlib.util as u, runpy, sys\n"
    "d, m = sys.argv[1], sys.argv[2]\n"
    "s = u.spec_from_file_location('timens_lab', d + '/__init__.py', "
    "submodule_search_locations=[d])\n"
    "p = u.module_from_spec(s); sys.modules['timens_lab'] = p; s.loader.exec_module(p)\n"
    "sys.argv = [m] + sys.argv[3:]\n"
    "runpy.run_module(m, run_name='__main__', alter_sys=True)\n"
)


def python_argv(module: str, *args: str, executable: str | None = None) -> list[str]:
    """argv that runs ``module`` (e.g. ``timens_lab.engine._helper``) of this very package copy."""
    return [executable or sys.executable or "python3", "-P", "-c", _BOOT, PACKAGE_DIR,
            module, *args]
