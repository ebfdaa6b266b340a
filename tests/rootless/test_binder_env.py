"""The Binder environment, built as repo2docker builds it, runs every notebook where the kernel
says no: as an unprivileged user, in a user namespace whose max_time_namespaces and
max_user_namespaces are 0 (timens_lab.testing.locked_down_argv). All must pass, in replay, and
show the replay banner with the probe's reason.

The venv is made fresh from binder/requirements.txt in a copy of the repository (repo2docker
copies the repo too, and resolves the "." line against it), using pip as configured on this
machine (its cache and any --find-links of downloaded wheels; no network beyond PyPI). Then
binder/postBuild runs against it, and each notebook runs through binder/start, the image's
entrypoint, which sets TIMENS_LAB_MODE=auto: the notebooks must find out for themselves.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import NOBODY, REPO, as_nobody

NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
#: Runs one notebook with nbclient (from the Binder venv) and saves it executed, even on error.
RUNNER = """
import sys, nbformat
from nbclient import NotebookClient
src, dst, cwd = sys.argv[1:4]
nb = nbformat.read(src, as_version=4)
client = NotebookClient(nb, timeout=900, kernel_name="python3",
                        resources={"metadata": {"path": cwd}})
try:
    client.execute()
finally:
    nbformat.write(nb, dst)
"""
#: A notebook of our own, so the environment is checked even before the tutorials exist.
SMOKE = [
    "import math\nfrom timens_lab.recording.replay import open_source\n"
    "source = open_source(recording='quick', speed=math.inf)\nsource",
    "assert source.mode == 'replay', source.mode\nprint(source.banner)\n"
    "n = {k: len(v) for k, v in source.read().items()}\nassert source.done and min(n.values()) > 500, n\n"
    "assert len(source.tree().nodes) >= 4\nn",
]


def _base_python() -> str:
    """An interpreter every user can run: Debian's python3 when new enough (as .ci/run)."""
    for candidate in ("/usr/bin/python3", str(Path(sys.executable).resolve())):
        ok = subprocess.run([candidate, "-c", "import sys, venv; sys.exit(sys.version_info < "
                             "(3, 11))"], check=False, capture_output=True)
        if ok.returncode == 0:
            return candidate
    pytest.skip("no Python >= 3.11 with venv to build the Binder environment")


def _public_tmp(prefix: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    path.chmod(0o755)
    return path


@pytest.fixture(scope="module")
def binder() -> Iterator[dict[str, Path]]:
    """A copy of the repo and a venv built from its binder/ the way repo2docker would."""
    if shutil.which("unshare") is None or (os.geteuid() == 0 and shutil.which("setpriv") is None):
        pytest.skip("needs util-linux unshare (and setpriv as root)")
    top = _public_tmp("timens-lab-binder-")
    try:
        repo = top / "repo"
        shutil.copytree(REPO, repo, symlinks=True, ignore=shutil.ignore_patterns(
            ".venv", ".git", "build", "*.egg-info", "__pycache__", ".pytest_cache",
            ".ruff_cache", "artifacts", "*.so", ".ipynb_checkpoints"))
        venv = top / "venv"
        subprocess.run([_base_python(), "-m", "venv", str(venv)], check=True, timeout=300)
        pip = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q",
                              "--disable-pip-version-check", "-r", "binder/requirements.txt"],
                             cwd=repo, capture_output=True, text=True, timeout=1800, check=False)
        assert pip.returncode == 0, pip.stdout[-3000:] + pip.stderr[-3000:]
        env = {**_clean_env(), "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
               "NB_PYTHON_PREFIX": str(venv)}
        post = subprocess.run([str(repo / "binder" / "postBuild")], cwd=repo, env=env,
                              capture_output=True, text=True, timeout=300, check=False)
        assert post.returncode == 0, post.stdout + post.stderr
        home = top / "home"
        home.mkdir()
        _give(home)
        yield {"top": top, "repo": repo, "venv": venv, "home": home}
    finally:
        shutil.rmtree(top, ignore_errors=True)


def _give(path: Path) -> None:
    """Make ``path`` the pod user's: nobody's when we are root (we run as it), else ours."""
    if os.geteuid() == 0:
        os.chown(path, NOBODY, NOBODY)


def _clean_env() -> dict[str, str]:
    """The environment a Binder pod would have: none of our test or venv variables."""
    drop = ("PYTEST", "PYTHONPATH", "VIRTUAL_ENV", "TIMENS_LAB", "JUPYTER", "MPLBACKEND")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


def _as_pod_user(binder: dict[str, Path], argv: list[str], cwd: Path,
                 timeout: float = 1200) -> subprocess.CompletedProcess[str]:
    """argv as nobody, locked down, through binder/start (as the image's entrypoint)."""
    from timens_lab.testing import locked_down_argv

    venv = binder["venv"]
    env = {**_clean_env(), "HOME": str(binder["home"]), "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
           "MPLCONFIGDIR": str(binder["home"] / "mpl")}
    wrapped = locked_down_argv([str(binder["repo"] / "binder" / "start"), *argv],
                               python=str(venv / "bin" / "python"))
    return subprocess.run(as_nobody(wrapped), cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


def test_the_binder_files_follow_repo2docker(binder: dict[str, Path]) -> None:
    """requirements end with ".", postBuild installed the news-toast override, start execs."""
    lines = [line.strip() for line in (REPO / "binder" / "requirements.txt").read_text()
             .splitlines() if line.strip() and not line.startswith("#")]
    assert lines[-1] == "."
    assert all("==" in line for line in lines[:-1]), "pin every dependency"
    override = binder["venv"] / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    settings = json.loads(override.read_text())
    assert settings["@jupyterlab/apputils-extension:notification"]["fetchNews"] == "false"
    assert "set -euo pipefail" in (REPO / "binder" / "postBuild").read_text().splitlines()[:6]
    assert (REPO / "binder" / "start").read_text().rstrip().endswith('exec "$@"')
    extensions = subprocess.run([str(binder["venv"] / "bin" / "jupyter"), "labextension", "list"],
                                capture_output=True, text=True, check=False, timeout=120,
                                env={**_clean_env(), "HOME": str(binder["home"])})
    listed = extensions.stdout + extensions.stderr
    for name in ("jupyter-matplotlib", "@jupyter-widgets/jupyterlab-manager"):
        assert name in listed, listed
    start = _as_pod_user(binder, ["env"], cwd=Path("/"))
    assert start.returncode == 0, start.stderr
    assert "TIMENS_LAB_MODE=auto" in start.stdout.splitlines()


@pytest.fixture(scope="module")
def locked_down_probe(binder: dict[str, Path]) -> dict[str, Any]:
    """What the probe says in the simulation, from the Binder venv, as nobody."""
    done = _as_pod_user(binder, ["python", "-m", "timens_lab", "probe", "--json"], cwd=Path("/"))
    report = json.loads(done.stdout)
    assert report["mode"] == "unavailable", report
    assert "ENOSPC" in report["reason"]
    return report


def _notebooks() -> list[Any]:
    found = [pytest.param(p, id=p.stem) for p in NOTEBOOKS]
    return [*found, pytest.param(None, id="smoke")]


def _texts(nb: dict[str, Any]) -> str:
    out = []
    for cell in nb["cells"]:
        for o in cell.get("outputs", []):
            out.append("".join(o.get("text", "")))
            for mime in ("text/plain", "text/html", "text/markdown"):
                value = o.get("data", {}).get(mime, "")
                out.append("".join(value) if isinstance(value, list) else value)
    return "\n".join(out)


@pytest.mark.slow
@pytest.mark.notebooks
@pytest.mark.parametrize("notebook", _notebooks())
def test_notebook_runs_in_replay_where_the_kernel_says_no(
        binder: dict[str, Path], locked_down_probe: dict[str, Any], notebook: Path | None) -> None:
    work = binder["top"] / f"run-{notebook.stem if notebook else 'smoke'}"
    shutil.copytree(binder["repo"] / "notebooks", work)
    src = work / "smoke.ipynb"
    if notebook is None:
        import nbformat

        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in SMOKE])
        nbformat.write(nb, src)
    else:
        src = work / notebook.name
    for path in [work, *work.rglob("*")]:
        _give(path)
    dst = work / f"executed-{src.name}"
    done = _as_pod_user(binder, ["python", "-c", RUNNER, str(src), str(dst), str(work)], cwd=work)
    assert done.returncode == 0, f"{src.name} failed in the locked-down Binder env:\n" + \
        done.stderr[-6000:]
    text = _texts(json.loads(dst.read_text()))
    assert "REPLAY" in text, f"{src.name} shows no replay banner"
    assert locked_down_probe["reason"] in text, \
        f"{src.name}'s banner does not give the probe's reason ({locked_down_probe['reason']!r})"
