"""demo: serve the full-screen demo dashboard for a talk or a stand."""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
from pathlib import Path

from ..errors import TimensError
from . import _serve

DESCRIPTION = """\
Serve the demo stage (Voila: widgets only, no code) for a projector, with one-key scenarios:
a day ahead, a year behind, nesting, migration (keys 1-4, PageDown/PageUp, 0/r reset, space
pause, t light/dark, f full screen). Nothing is loaded from outside the machine. It rebuilds
itself after any error and replays a recording where time namespaces are unavailable. It
listens on 127.0.0.1 only, and the URL it prints carries a fresh token: the dashboard runs
commands as you (as root, if you are root), so it is never served open."""

EPILOG = """\
examples:
  timens-lab demo                     # prints its URL, with the token
  timens-lab demo --dark --port 9000  # dark theme (t toggles it)
  timens-lab demo --jupyterlab        # in JupyterLab instead: Run All

The notebook served is a fresh copy in $XDG_CACHE_HOME/timens-lab/demo (~/.cache/...).
JUPYTER_TOKEN chooses the token (it is never put on a command line).
"""


#: Our Voila template (timens_lab/data/voila/templates/): the lab one, offline.
TEMPLATE = "timens-stage"
#: The JupyterLab extensions the stage's page loads: the widget managers (Voila's and
#: ipywidgets'), anywidget (the readouts, the keys, the live canvas) and ipympl (the tree).
#: Voila loads every installed one otherwise; each other costs the page scripts to fetch and
#: run before its widgets render (jupyterlab_pygments, a JupyterLab dependency: three).
PAGE_EXTENSIONS = ("@jupyter-widgets/jupyterlab-manager", "@voila-dashboards/widgets-manager7",
                   "@voila-dashboards/widgets-manager8", "anywidget", "jupyter-matplotlib")


class _NoVoila(TimensError):
    hint = ("install it: pip install 'timens-lab[demo]' (or run without Voila: "
            "timens-lab demo --jupyterlab, then Run All)")


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("demo", help=__doc__.split(": ", 1)[1].rstrip("."), description=DESCRIPTION,
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, default=8866, help="port to listen on (default 8866)")
    p.add_argument("--ip", default="127.0.0.1",
                   help="loopback address to listen on (default 127.0.0.1)")
    p.add_argument("--browser", action="store_true", help="open a browser too")
    p.add_argument("--dark", action="store_true", help="dark theme")
    p.add_argument("--jupyterlab", action="store_true",
                   help="open the demo notebook in JupyterLab's single-document mode instead")
    p.set_defaults(func=run)


def notebook_copy() -> Path:
    """A fresh copy of the shipped demo notebook in the user's cache: the server and JupyterLab
    write next to the notebook they serve (checkpoints, autosave), never into site-packages.
    The server signs it as it starts (argv_for: the launcher's --trust), so it is trusted."""
    from ..demo.app import NOTEBOOK

    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    folder = cache / "timens-lab" / "demo"
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        copy = folder / NOTEBOOK.name
        shutil.copyfile(NOTEBOOK, copy)  # ours, not the user's: refreshed on every start
    except OSError as err:
        raise _serve.ServerSetupError(f"cannot copy the demo notebook to {folder}: {err.strerror or err}",
                          hint="set XDG_CACHE_HOME to a folder you can write") from err
    return copy


def argv_for(args: argparse.Namespace, notebook: Path) -> list[str]:
    if args.jupyterlab:
        argv = _serve.jupyterlab_argv(notebook.parent, args.ip, args.port, browser=args.browser,
                                      default_url=f"/doc/tree/{notebook.name}", trust=[notebook])
    else:
        # --token: Voilà asks for a token and takes it from JUPYTER_TOKEN_FILE (voila/app.py,
        # auto_token); tracebacks stay in the server's log, never in the page.
        # --template: Voila's lab template without its CDN links (data/voila/templates).
        argv = [*_serve.launcher("voila", trust=[notebook]), str(notebook), f"--port={args.port}",
                f"--Voila.ip={_serve.loopback(args.ip)}", f"--template={TEMPLATE}",
                f"--theme={'dark' if args.dark else 'light'}", "--strip_sources=True",
                "--VoilaConfiguration.show_tracebacks=False", "--token",
                f"--VoilaConfiguration.extension_allowlist={list(PAGE_EXTENSIONS)!r}"]
        if not args.browser:
            argv.append("--no-browser")
    return argv


def env_for(args: argparse.Namespace) -> dict[str, str]:
    """What the server (and so the demo's kernel) needs in its environment: the stage's theme
    (DemoApp reads THEME_ENV) and, for Voila, our data folder first on JUPYTER_PATH: Voila
    looks for templates in <each JUPYTER_PATH entry>/voila/templates, and the server for kernel
    specs in <each>/kernels, where ours stands in for python3 (commands/_demo_kernel.py)."""
    from ..demo.app import NOTEBOOK, THEME_ENV

    env = {THEME_ENV: "dark" if args.dark else "light"}
    if not args.jupyterlab:
        data = str(NOTEBOOK.parent)
        rest = os.environ.get("JUPYTER_PATH")
        env["JUPYTER_PATH"] = data + (os.pathsep + rest if rest else "")
    return env


def url_for(args: argparse.Namespace, token: str, notebook: Path) -> str:
    path = f"doc/tree/{notebook.name}" if args.jupyterlab else ""
    host = f"[{args.ip}]" if ":" in args.ip and not args.ip.startswith("[") else args.ip
    return f"http://{host}:{args.port}/{path}?token={token}"


def run(args: argparse.Namespace) -> int:
    module = "jupyterlab" if args.jupyterlab else "voila"
    if importlib.util.find_spec(module) is None:
        if module == "voila":
            raise _NoVoila("Voila is not installed in this environment")
        raise _NoVoila("JupyterLab is not installed", hint="pip install 'timens-lab[notebook]'")
    _serve.loopback(args.ip)
    notebook = notebook_copy()
    argv = argv_for(args, notebook)
    os.environ.update(env_for(args))   # exec'd with the server (_serve.server_env)
    token, path = _serve.token_file()
    _serve.start(argv, path, f"timens-lab demo: {url_for(args, token, notebook)}  (Ctrl-C to stop)")
