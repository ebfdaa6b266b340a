"""Run every kernel test file again as uid 65534 (nobody): the rootless path, for real.

As root we drop privileges with setpriv and run pytest on one tests/kernel file at a time, so a
failure names its file and shows nobody's own pytest output. As a normal user the kernel suite
already ran rootless, and this file skips.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import NOBODY, REPO, as_nobody

KERNEL_FILES = sorted(p.name for p in (REPO / "tests" / "kernel").glob("test_*.py"))


def _reachable_by_nobody(path: Path) -> bool:
    probe = subprocess.run(as_nobody(["test", "-r", str(path)]), check=False)
    return probe.returncode == 0


@pytest.mark.slow
@pytest.mark.parametrize("name", KERNEL_FILES)
def test_kernel_file_passes_as_nobody(name: str, need_root: None) -> None:
    """The same kernel tests pass as nobody, rootless through a user namespace."""
    for path in (REPO / "tests" / "kernel" / name, Path(sys.executable).resolve()):
        if not _reachable_by_nobody(path):
            pytest.fail(f"uid {NOBODY} cannot read {path}: put the checkout and the venv's "
                        "interpreter where every user can read them (e.g. PYTHON=/usr/bin/python3)")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "COV"))}
    env.update(HOME="/tmp", PYTHONDONTWRITEBYTECODE="1")
    result = subprocess.run(
        as_nobody([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x",
                   f"tests/kernel/{name}"]),
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900, check=False)
    summary = (result.stdout.strip().splitlines() or ["(no output)"])[-1]
    print(f"as nobody: tests/kernel/{name}: {summary}")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in summary
