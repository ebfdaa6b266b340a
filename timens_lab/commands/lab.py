"""lab: start JupyterLab on the timens-lab notebooks (no browser: it prints the URL)."""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from pathlib import Path

from ..errors import TimensError

CHECKOUT_NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


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


def argv_for(args: argparse.Namespace) -> list[str]:
    folder = args.dir or CHECKOUT_NOTEBOOKS
    if not folder.is_dir():
        raise _Missing(f"no notebook folder at {folder}", hint="pass --dir PATH")
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
