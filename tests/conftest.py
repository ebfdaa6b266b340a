"""Shared fixtures: privilege helpers, the probe-based skip, and leak checks.

Tests are split by what they need (STYLE.md §9): ``tests/unit`` (no privilege, fake /proc
trees), ``tests/kernel`` (real namespaces as the current user: root, or rootless for a normal
user) and ``tests/rootless`` (the same calls run as uid 65534 through setpriv when we are root).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from hypothesis import settings

# No example database: the suite also runs as nobody from a checkout nobody may not write to,
# and a replayed database would make property tests depend on earlier runs.
settings.register_profile("timens-lab", database=None)
settings.load_profile("timens-lab")

REPO = Path(__file__).resolve().parent.parent
NOBODY = 65534


def as_nobody(argv: Sequence[str]) -> list[str]:
    """argv run as uid/gid 65534 with no groups (or unchanged when we are not root)."""
    if os.geteuid() != 0:
        return list(argv)
    return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *argv]


def run_py_as_nobody(code: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run Python code as nobody with this venv's interpreter; cwd is a directory nobody can read."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env["HOME"] = "/tmp"
    return subprocess.run(as_nobody([sys.executable, "-c", code, *args]), capture_output=True,
                          text=True, timeout=timeout, env=env, cwd="/", check=False)


def _probe_mode() -> str:
    try:
        from timens_lab.probing.check import probe
    except ImportError:  # pragma: no cover - probe not built yet
        return "unavailable"
    return probe().mode


@pytest.fixture(scope="session")
def timens_mode() -> str:
    """root / rootless / unavailable, as the probe sees this process."""
    return _probe_mode()


@pytest.fixture
def need_timens(timens_mode: str) -> str:
    if timens_mode == "unavailable":
        from timens_lab.probing.check import probe

        pytest.skip(f"time namespaces unavailable here: {probe().reason}")
    return timens_mode


@pytest.fixture
def need_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (runs the rootless half as nobody through setpriv)")
    if shutil.which("setpriv") is None:  # pragma: no cover
        pytest.skip("needs util-linux setpriv")


@pytest.fixture
def lab(need_timens: str) -> Iterator[object]:
    from timens_lab import Lab

    with Lab() as lab:
        yield lab
