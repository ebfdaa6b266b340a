"""demo: serve the full-screen demo dashboard (Voilà; prints the URL, no browser by default)."""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys

from ..errors import TimensError


class _NoVoila(TimensError):
    hint = ("install it: pip install 'timens-lab[demo]' (or run without Voilà: "
            "timens-lab demo --jupyterlab, then Run All)")


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    about = __doc__.split(": ", 1)[1]
    p = sub.add_parser("demo", help=about, description=about)
    p.add_argument("--port", type=int, default=8866, help="port (default 8866)")
    p.add_argument("--ip", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--browser", action="store_true", help="open a browser too")
    p.add_argument("--dark", action="store_true", help="dark theme")
    p.add_argument("--token", default=None,
                   help="the access token (default: a new random one, shown in the URL); the demo "
                        "can run commands, as root when you are root, so it is never served open")
    p.add_argument("--jupyterlab", action="store_true",
                   help="open the demo notebook in JupyterLab's single-document mode instead")
    p.set_defaults(func=run)


def argv_for(args: argparse.Namespace) -> list[str]:
    from ..demo import NOTEBOOK

    if args.token is None:
        import secrets

        args.token = secrets.token_hex(16)

    if args.jupyterlab:
        argv = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={NOTEBOOK.parent}",
                f"--ip={args.ip}", f"--port={args.port}",
                f"--LabApp.default_url=/doc/tree/{NOTEBOOK.name}",
                f"--IdentityProvider.token={args.token}"]
        if os.geteuid() == 0:
            argv.append("--allow-root")
    else:
        argv = [sys.executable, "-m", "voila", str(NOTEBOOK), f"--port={args.port}",
                f"--Voila.ip={args.ip}", f"--theme={'dark' if args.dark else 'light'}",
                "--strip_sources=True", "--show_tracebacks=True", f"--Voila.token={args.token}"]
    if not args.browser:
        argv.append("--no-browser")
    return argv


def url_for(args: argparse.Namespace) -> str:
    from ..demo import NOTEBOOK

    path = f"doc/tree/{NOTEBOOK.name}" if args.jupyterlab else ""
    return f"http://{args.ip}:{args.port}/{path}?token={args.token}"


def run(args: argparse.Namespace) -> int:
    module = "jupyterlab" if args.jupyterlab else "voila"
    if importlib.util.find_spec(module) is None:
        if module == "voila":
            raise _NoVoila("Voilà is not installed in this environment")
        raise _NoVoila("JupyterLab is not installed", hint="pip install 'timens-lab[notebook]'")
    argv = argv_for(args)  # sets args.token
    sys.stderr.write(f"timens-lab demo: {url_for(args)}  (Ctrl-C to stop)\n")
    sys.stderr.flush()
    os.execv(sys.executable, argv)  # signals go straight to the server
    return 0  # pragma: no cover - execv does not return
