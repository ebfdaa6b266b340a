"""``python -P -m timens_lab.commands._demo_kernel -f CONNECTION_FILE``: the demo's Jupyter
kernel, which is ipykernel without its debugger.

ipykernel imports debugpy when it loads (ipykernel/debugger.py, for the debugger of JupyterLab's
debug panel). That import is about a fifth of the kernel's imports (~0.1 s of ~0.5 s, ``python
-X importtime`` on 2 cores; from start to ready 0.76 s instead of 1.01 s, medians of 6 on a
loaded machine), and the kernel's start is on the way to the demo's page: Voilà sends the page's
scripts only once the notebook's cell has run in it. Voilà shows no debugger, so debugpy is
marked absent here (ipykernel supports that: its debugger is then off), and only here.

``timens-lab demo`` runs this kernel by putting ``data/`` first on Voilà's JUPYTER_PATH
(commands/demo.py): ``data/kernels/python3/kernel.json`` then stands in for the python3 kernel
spec in that server only ("python" in its argv is the server's own interpreter, as in
ipykernel's spec). ``--jupyterlab`` and ``timens-lab lab`` keep the stock kernel and debugger.
"""

from __future__ import annotations

import sys

#: Imported by ipykernel if present; costs a fifth of the kernel's imports, serves no Voilà page.
DEBUGGER = "debugpy"


def main() -> None:
    sys.modules[DEBUGGER] = None  # type: ignore[assignment]  # None: import raises ImportError
    from ipykernel.kernelapp import launch_new_instance

    launch_new_instance()


if __name__ == "__main__":
    main()
