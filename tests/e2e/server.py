"""A Jupyter server for browser tests, on a free loopback port, stopped by pid
(Playwright drives Debian's chromium against it).

:class:`LabServer` starts ``python -m jupyterlab`` (or any argv that ends up as a Jupyter server,
such as ``timens-lab demo --jupyterlab`` or Voilà) with fresh config, data, runtime, settings and
workspace dirs under one temporary home, a random token, the "Jupyter news" toast and notebook
windowing turned off, autosave off (a test must never write outputs into a notebook it opened),
and ``window.jupyterapp`` exposed. Everything is configured through environment variables and the
fresh config dir, not command-line flags, so a command we do not control (the demo) gets the same
setup. The server runs in its own session, so every process it leaves behind (kernels, Lab
helpers, samplers) can be found by session id after it stopped.

Usable outside pytest too (bench/browser_views.py could import it).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SETTINGS = {
    # The "Would you like to get notified about official Jupyter news?" toast covers the page.
    ("apputils-extension", "notification"): {"fetchNews": "false", "checkForUpdates": False},
    # Windowing keeps off-screen cells out of the DOM; tests query every cell.
    ("notebook-extension", "tracker"): {"windowingMode": "none"},
    # Running cells dirties the notebook; autosave would then write outputs into it.
    ("docmanager-extension", "plugin"): {"autosave": False},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def lab_home(home: Path, token: str) -> dict[str, str]:
    """Create fresh Jupyter dirs under ``home``; return the environment that points at them."""
    settings = home / "settings"
    for (ext, name), body in _SETTINGS.items():
        d = settings / "@jupyterlab" / ext
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{name}.jupyterlab-settings").write_text(json.dumps(body))
    config = home / "config"
    config.mkdir(parents=True, exist_ok=True)
    server = {
        "IdentityProvider": {"token": token},
        "ServerApp": {"password": "", "open_browser": False},
        "LabApp": {"expose_app_in_browser": True,
                   "check_for_updates_class": "jupyterlab.NeverCheckForUpdate"},
    }
    # LabApp reads jupyter_lab_config, the server jupyter_server_config: write both. Voilà has
    # its own app and file (and serves without a token unless told).
    for name in ("jupyter_server_config.json", "jupyter_lab_config.json"):
        (config / name).write_text(json.dumps(server))
    (config / "voila.json").write_text(json.dumps({"Voila": {"token": token}}))
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTEST", "JUPYTER"))}
    env.update({
        "JUPYTER_CONFIG_DIR": str(config),
        "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
        "JUPYTER_PLATFORM_DIRS": "1",
        "PYTHONUNBUFFERED": "1",
    })
    return env


@dataclass
class LabServer:
    """A running Jupyter server, stopped by pid (:meth:`stop`)."""

    proc: subprocess.Popen[bytes]
    port: int
    token: str
    home: Path
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def start(cls, argv: Sequence[str], home: Path, *, port: int, token: str | None = None,
              timeout: float = 60.0, api: bool = True) -> LabServer:
        """Run ``argv`` (a Jupyter server command listening on ``port``) with fresh dirs; ready
        when ``/api/status`` answers (``api=False``, e.g. Voilà: when the port accepts).

        The server is a session leader (``start_new_session``), so :meth:`leftovers` can find
        anything it started even after reparenting.
        """
        token = token or secrets.token_hex(16)
        env = lab_home(home, token)
        log = home / "server.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(list(argv), stdout=out, stderr=subprocess.STDOUT, env=env,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        server = cls(proc, port, token, home, log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            try:
                if api:
                    server.api("GET", "/api/status", timeout=2)
                else:
                    socket.create_connection(("127.0.0.1", port), timeout=2).close()
                return server
            except OSError:
                time.sleep(0.2)
        server.stop()
        raise RuntimeError(f"the Jupyter server did not come up in {timeout:.0f} s "
                           f"(exit {proc.returncode}); its log:\n{server.log_tail()}")

    # --- the REST API

    def api(self, method: str, path: str, *, timeout: float = 10.0) -> Any:
        """One request to the server's REST API, authenticated by the token header (which also
        exempts it from the XSRF check); returns the decoded JSON body or None."""
        request = urllib.request.Request(self.url + path, method=method,  # noqa: S310 - loopback
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            body = response.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self, timeout: float = 20.0) -> list[str]:
        """Shut every session and kernel down through the API; wait until no process but the
        server is left in its session. Anything still there at the deadline is SIGKILLed by pid
        and returned as "pid cmdline" (empty: everything went away by itself)."""
        for kind in ("sessions", "kernels"):
            try:
                items = self.api("GET", f"/api/{kind}")
            except (OSError, ValueError):  # no such API (Voilà: its kernels die with the page)
                continue
            for item in items:
                with contextlib.suppress(OSError):
                    self.api("DELETE", f"/api/{kind}/{item['id']}", timeout=timeout)
        deadline = time.monotonic() + timeout
        while self.leftovers() and time.monotonic() < deadline:
            time.sleep(0.2)
        return _kill_all(self.leftovers())

    # --- stopping

    def leftovers(self) -> list[int]:
        """Processes of the server's session other than the server itself."""
        return [p for p in session_pids(self.proc.pid) if p != self.proc.pid]

    def stop(self, timeout: float = 20.0) -> list[str]:
        """SIGTERM the server (it shuts its kernels down), SIGKILL after ``timeout``; then
        SIGKILL, by pid, anything left in its session. Returns a description of each such
        leftover (empty: nothing was left behind)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return _kill_all(session_pids(self.proc.pid))

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-n:]
        except OSError:
            return ""


def lab_argv(root: Path, port: int) -> list[str]:
    """JupyterLab from this interpreter's environment, serving ``root``."""
    argv = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1",
            f"--port={port}", f"--ServerApp.root_dir={root}"]
    if os.geteuid() == 0:
        argv.append("--allow-root")  # otherwise: "Running as root is not recommended"
    return argv


def _kill_all(pids: list[int]) -> list[str]:
    """SIGKILL each pid (processes this module started, found by session id); describe them."""
    described = [f"{pid} {cmdline(pid)}" for pid in pids]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return described


def session_pids(sid: int) -> list[int]:
    """Live (non-zombie) processes whose session id is ``sid``, from /proc/PID/stat."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid pgrp session ...": comm may hold spaces and parentheses.
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] != "Z" and int(fields[3]) == sid:
            pids.append(int(entry))
    return pids


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return "?"
