"""lab: open the timens-lab course (tutorial notebooks) in JupyterLab."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

from ..errors import TimensError
from . import _course, _serve

DESCRIPTION = """\
Start JupyterLab on your copy of the course: the tutorial notebooks, copied on first use into a
folder you own (--dir, else $TIMENS_LAB_DIR, else ~/timens-lab). Later runs and upgrades never
overwrite a notebook you changed: they name the ones that have a newer version, and deleting
(or renaming) your copy gets it. JupyterLab listens on 127.0.0.1 only, with a fresh token in the
URL that is printed; no browser is opened unless --browser is given."""

EPILOG = """\
examples:
  timens-lab lab                         # ~/timens-lab, port 8888
  timens-lab lab --dir ~/courses/timens  # another course folder
  timens-lab lab --port 9999 -- --ServerApp.iopub_data_rate_limit=1e10

On a remote machine, forward the port: ssh -L 8888:localhost:8888 HOST.
JUPYTER_TOKEN chooses the token (it is never put on a command line).
"""


class _Missing(TimensError):
    hint = "install the notebook extras: pip install 'timens-lab[notebook]' (or run `make lab`)"


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("lab", help=__doc__.split(": ", 1)[1].rstrip("."), description=DESCRIPTION,
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dir", type=Path, default=None, metavar="DIR",
                   help=f"course folder (default ${_course.ENV} or ~/timens-lab)")
    p.add_argument("--port", type=int, default=8888, help="port to listen on (default 8888)")
    p.add_argument("--ip", default="127.0.0.1",
                   help="loopback address to listen on (default 127.0.0.1)")
    p.add_argument("--browser", action="store_true", help="open a browser too")
    p.add_argument("jupyter_args", nargs=argparse.REMAINDER, metavar="-- JUPYTER_ARGS",
                   help="passed to jupyter lab unchanged")
    p.set_defaults(func=run)


def argv_for(args: argparse.Namespace, folder: Path) -> list[str]:
    argv = _serve.jupyterlab_argv(folder, args.ip, args.port, browser=args.browser)
    extra = args.jupyter_args[1:] if args.jupyter_args[:1] == ["--"] else args.jupyter_args
    return argv + extra


def run(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("jupyterlab") is None:
        raise _Missing("JupyterLab is not installed in this environment")
    _serve.loopback(args.ip)  # bad input fails before anything is written
    sync = _course.prepare(args.dir)
    for line in sync.lines():
        sys.stderr.write(f"timens-lab: {line}\n")
    argv = argv_for(args, sync.folder.absolute())
    token, path = _serve.token_file()
    _serve.start(argv, path, f"timens-lab: JupyterLab at http://{_url_host(args.ip)}:{args.port}"
                             f"/lab?token={token}  (Ctrl-C to stop)")


def _url_host(ip: str) -> str:
    return f"[{ip}]" if ":" in ip and not ip.startswith("[") else ip
