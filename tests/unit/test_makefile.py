"""`make test` as root checks, before building anything, that nobody can run the interpreter and
read the checkout (the rootless tests need both), and says in one line what to pass."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None
                                or shutil.which("make") is None,
                                reason="the check runs as root, with setpriv and make")


def _check(tmp_path: Path, python: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["make", "-s", "--no-print-directory", "-C", str(REPO), "check-nobody",
                           f"PYTHON={python}", f"VENV={tmp_path / 'no-venv'}"],
                          capture_output=True, text=True, timeout=60, check=False)


def test_an_interpreter_nobody_can_run_passes(tmp_path: Path) -> None:
    r = _check(tmp_path, "/usr/bin/python3")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout == ""


def test_a_private_interpreter_fails_at_once_with_one_line(tmp_path: Path) -> None:
    """A copy of Python in a 0700 folder (as a pyenv build under /root is): one error line
    that names it and says what to pass; no venv was made."""
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    python = private / "python3"
    shutil.copy2(os.path.realpath("/usr/bin/python3"), python)
    r = _check(tmp_path, str(python))
    assert r.returncode != 0
    lines = r.stdout.splitlines()
    assert len(lines) == 1, r.stdout
    assert lines[0].startswith(f"error: nobody cannot run {python} ")
    assert "PYTHON=/usr/bin/python3" in lines[0]
    assert not (tmp_path / "no-venv").exists()
