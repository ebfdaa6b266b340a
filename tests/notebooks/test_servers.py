"""`timens-lab lab` and `timens-lab demo` start their servers cleanly and safely: no warning on
stderr, the token in no process's command line (/proc/PID/cmdline is world-readable), only in a
0600 file, listening on loopback only (read back from /proc/net/tcp*), refusing requests
without the token, and serving a folder outside the installed package."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import timens_lab

pytest.importorskip("jupyterlab")

#: How Python prints a warning (warnings.formatwarning): "<file>:<line>: <Category>: <message>".
WARNING_LINE = re.compile(r"^\S+:\d+: \w*Warning: ", re.MULTILINE)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, *, token: str | None = None, method: str = "GET") -> int:
    return _request(url, token=token, method=method)[0]


def _request(url: str, *, token: str | None = None, method: str = "GET") -> tuple[int, bytes]:
    headers = {"Authorization": f"token {token}"} if token else {}
    req = urllib.request.Request(url, method=method, headers=headers,
                                 data=b"{}" if method == "POST" else None)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return int(r.status), r.read()
    except urllib.error.HTTPError as err:
        return err.code, b""


def _listening(port: int) -> set[str]:
    """Local addresses of LISTEN sockets on ``port``, from /proc/net/tcp and tcp6 (proc(5))."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            next(f)
            for line in f:
                local, _remote, state = line.split()[1:4]
                address, hexport = local.split(":")
                if state == "0A" and int(hexport, 16) == port:
                    found.add(address)
    return found


def _cmdlines() -> dict[int, bytes]:
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                out[int(entry)] = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                pass
    return out


@pytest.mark.slow
@pytest.mark.parametrize("command", [["lab"], ["demo"], ["demo", "--jupyterlab"]],
                         ids=["lab", "demo-voila", "demo-jupyterlab"])
def test_server_starts_clean_on_loopback_and_the_token_stays_private(
        command: list[str], tmp_path: Path) -> None:
    if command == ["demo"]:
        pytest.importorskip("voila")
    port = _free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTEST", "JUPYTER", "PYTHONWARNINGS", "TIMENS_LAB", "XDG_"))}
    env["HOME"] = str(tmp_path)
    log = tmp_path / "stderr.log"
    with log.open("wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "timens_lab", *command, f"--port={port}"],
                                stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL,
                                env=env, cwd=tmp_path, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        url = ""
        while not url and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            url = next((w for w in log.read_text().split() if "?token=" in w), "")
            time.sleep(0.1)
        token = url.split("?token=")[1]
        assert re.fullmatch(r"[0-9a-f]{48}", token), url
        base = f"http://127.0.0.1:{port}"
        status = 0
        while time.monotonic() < deadline:
            try:
                status = _get(url)
                break
            except OSError:
                time.sleep(0.2)
        assert status == 200, log.read_text()
        if command != ["demo"]:  # (Voila started a kernel for the page: its argv is checked too)
            assert _get(f"{base}/api/status", token=token) == 200
            assert _get(f"{base}/api/status") == 403  # no token, no API
        else:
            denied, page = _request(f"{base}/?token=wrong")  # a login page at most, no app
            assert denied in (200, 401, 403) and b"widget-view+json" not in page

        holders = [pid for pid, cmd in _cmdlines().items() if token.encode() in cmd]
        assert holders == [], f"the token is on the command line of {holders}"
        assert _listening(port) == {"0100007F"}  # 127.0.0.1, little-endian hex (proc(5))

        runtime = tmp_path / ".local/share/jupyter/runtime"
        files = list(runtime.glob("timens-lab-*.token"))
        assert [f.read_text() for f in files] == [token]
        assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    finally:
        os.kill(proc.pid, signal.SIGTERM)  # the server shuts its kernels down itself
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    with contextlib.suppress(ProcessLookupError):  # anything of the session left: a failure
        os.killpg(proc.pid, signal.SIGKILL)
        raise AssertionError("the server left processes behind")
    text = log.read_text()
    assert not WARNING_LINE.search(text), text
    assert "DeprecationWarning" not in text and "Traceback" not in text, text
    assert "not trusted" not in text, text
    site = Path(timens_lab.__file__).resolve().parent
    served = re.search(r"Serving notebooks from local directory: (\S+)", text)
    if command == ["lab"]:
        course = tmp_path / "timens-lab"
        assert (course / "00-index.ipynb").is_file()
        assert json.loads((course / ".timens-lab-course.json").read_text())["files"]
        assert served and Path(served.group(1)) == course, text
    elif served:
        assert Path(served.group(1)) == tmp_path / ".cache/timens-lab/demo", text
    assert not served or site not in Path(served.group(1)).resolve().parents
