"""lab: start JupyterLab on the timens-lab notebooks (no browser: it prints the URL)."""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from pathlib import Path

from ..errors import TimensError

CHECKOUT_NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
#: Installed from a wheel, the notebooks ship inside the package (timens_lab/notebooks).
PACKAGED_NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


class _Missing(TimensError):
    hint = "install the notebook extras: pip install 'timens-lab[notebook]' (or run `make lab`)"


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("lab", help=__doc__.split(": ", 1)[1], description=__doc__.split(": ", 1)[1])
    p.add_argument("--dir", type=Path, default=None,
                   help="notebook folder (default: notebooks/ of this checkout)")
    p.add_argument("--port", type=int, default=8888, help="port on 127.0.0.1 (default 8888)")
    p.add_argument("--ip", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--browser", action="store_true", help="open a browser too")
    p.add_argument("jupyter_args", nargs=argparse.REMAINDER, metavar="-- JUPYTER_ARGS",
                   help="passed to jupyter lab unchanged")
    p.set_defaults(func=run)


def notebook_folder(explicit: Path | None = None) -> Path:
    """The folder to open: --dir, else this checkout's notebooks/, else a private copy of the
    packaged notebooks in ~/timens-lab-notebooks (site-packages is usually read-only)."""
    if explicit is not None:
        if not explicit.is_dir():
            raise _Missing(f"no notebook folder at {explicit}", hint="pass an existing --dir PATH")
        return explicit
    if CHECKOUT_NOTEBOOKS.is_dir():
        return CHECKOUT_NOTEBOOKS
    if not PACKAGED_NOTEBOOKS.is_dir():
        raise _Missing("no notebooks found in this installation", hint="pass --dir PATH")
    if os.access(PACKAGED_NOTEBOOKS, os.W_OK):
        return PACKAGED_NOTEBOOKS
    import shutil

    copy = Path.home() / "timens-lab-notebooks"
    if not copy.exists():
        shutil.copytree(PACKAGED_NOTEBOOKS, copy)
        sys.stderr.write(f"timens-lab: copied the notebooks to {copy}\n")
    return copy


def argv_for(args: argparse.Namespace) -> list[str]:
    folder = notebook_folder(args.dir)
    argv = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={folder}",
            f"--ip={args.ip}", f"--port={args.port}"]
    if not args.browser:
        argv.append("--no-browser")
    if os.geteuid() == 0:
        argv.append("--allow-root")  # jupyter refuses root otherwise; we say so in README
    extra = args.jupyter_args[1:] if args.jupyter_args[:1] == ["--"] else args.jupyter_args
    return argv + extra


def run(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("jupyterlab") is None:
        raise _Missing("JupyterLab is not installed in this environment")
    argv = argv_for(args)
    sys.stderr.write(f"timens-lab: starting JupyterLab on {argv[3].split('=', 1)[1]}; "
                     "open the http://127.0.0.1:… URL it prints below\n")
    sys.stderr.flush()
    os.execv(sys.executable, argv)  # Ctrl-C and signals go straight to Jupyter
    return 0  # pragma: no cover - execv does not return
