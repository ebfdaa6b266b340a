"""Starting the Jupyter servers of `lab` and `demo`: on loopback, the token never on a command line.

Every local user can read any process's command line (/proc/PID/cmdline, proc(5)), and a server
token is the key to a page that runs code as the server's user (root, if root started it). So
the token goes into a 0600 file in Jupyter's runtime directory (where Jupyter keeps its own
jpserver-*.json, which holds the token too), and the server reads it through
``JUPYTER_TOKEN_FILE``, Jupyter's documented variable (jupyter_server/auth/identity.py,
``IdentityProvider.token``); its children inherit the path, never the token. ``JUPYTER_TOKEN``
from the caller's environment chooses the token; it is not passed on.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import secrets
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from ..errors import TimensError

_TOKEN_FILE = re.compile(r"timens-lab-(\d+)\.token")


class NotLoopback(TimensError, ValueError):
    """Bad input (exit 2): a listening address other than loopback."""

    hint = "to reach it from another machine, forward the port: ssh -L 8888:localhost:8888 HOST"
    exit_status = 2


class ServerSetupError(TimensError):
    """The server's token file or folder could not be written."""


def loopback(ip: str) -> str:
    """``ip`` if it is a loopback address (or ``localhost``), else a typed error."""
    if ip == "localhost":
        return ip
    try:
        if ipaddress.ip_address(ip.strip("[]")).is_loopback:
            return ip
    except ValueError:
        pass
    raise NotLoopback(f"--ip {ip} is not a loopback address: the server runs code as you, so "
                      "it listens on this machine only (127.0.0.1, ::1)")


def token_file() -> tuple[str, Path]:
    """A token (``$JUPYTER_TOKEN``, else a new random one) and the 0600 file that holds it."""
    from jupyter_core.paths import jupyter_runtime_dir

    token = os.environ.get("JUPYTER_TOKEN") or secrets.token_hex(24)
    folder = Path(jupyter_runtime_dir())
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        _remove_stale(folder)
        # The server execs in this very process: the pid names the file, and the next start
        # removes it once that pid is gone.
        path = folder / f"timens-lab-{os.getpid()}.token"
        path.unlink(missing_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600)
        with os.fdopen(fd, "w") as f:
            f.write(token)
    except OSError as err:
        raise ServerSetupError(f"cannot write the server token under {folder}: {err.strerror or err}",
                          hint="set JUPYTER_RUNTIME_DIR to a folder you can write") from err
    return token, path


def _remove_stale(folder: Path) -> None:
    for path in folder.glob("timens-lab-*.token"):
        m = _TOKEN_FILE.fullmatch(path.name)
        if m and not Path(f"/proc/{m.group(1)}").exists():
            with contextlib.suppress(OSError):
                path.unlink()


def server_env(token_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "JUPYTER_TOKEN"}
    env["JUPYTER_TOKEN_FILE"] = str(token_path)
    return env


def launcher(module: str, *, trust: Sequence[Path] = ()) -> list[str]:
    """The argv start of Jupyter server ``module`` (``jupyterlab``, ``voila``) through our
    launcher (_jupyter.py: one warning that is not ours and seconds of start-up less; it signs
    the notebooks in ``trust``). -P: the served folder (the cwd) is not on sys.path."""
    signing = [arg for path in trust for arg in ("--trust", str(path))]
    return [sys.executable, "-P", "-m", "timens_lab.commands._jupyter", *signing, module]


def jupyterlab_argv(root_dir: Path, ip: str, port: int, *, browser: bool,
                    default_url: str | None = None, trust: Sequence[Path] = ()) -> list[str]:
    argv = [*launcher("jupyterlab", trust=trust),
            f"--ServerApp.root_dir={root_dir}", f"--ip={loopback(ip)}", f"--port={port}"]
    if default_url:
        argv.append(f"--LabApp.default_url={default_url}")
    if not browser:
        argv.append("--no-browser")
    if os.geteuid() == 0:
        argv.append("--allow-root")  # jupyter refuses root otherwise; README says so
    return argv


def start(argv: list[str], token_path: Path, banner: str) -> NoReturn:
    """Print ``banner`` and become the server (Ctrl-C and signals go straight to it)."""
    sys.stderr.write(banner + "\n")
    sys.stderr.flush()
    os.execve(argv[0], argv, server_env(token_path))
