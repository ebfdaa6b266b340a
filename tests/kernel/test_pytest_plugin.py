"""The shipped pytest plugin, run through pytester in a subprocess (as a user's suite would,
the plugin found through its pytest11 entry point): uptime after 49.7 days, a callable, errors
brought back, rootless by default, nothing left running."""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.usefixtures("need_timens")

USER_SUITE = '''
import os, time

def uptime_days():
    with open("/proc/uptime") as f:
        return float(f.read().split()[0]) / 86400

def boom():
    return 1 / 0

def test_command_sees_49_7_days_of_uptime(timens):
    done = timens.run(["cat", "/proc/uptime"], boottime="49.7d")
    assert done.returncode == 0
    assert 49.7 * 86400 < float(done.stdout.split()[0]) < 49.7 * 86400 + uptime_days() * 86400 + 60

def test_callable_sees_it_too(timens):
    here = uptime_days()
    there = timens.call(uptime_days, boottime="49.7d")
    assert 49.7 < there - here < 49.7 + 1 / 86400 * 60

def test_exceptions_come_back(timens):
    try:
        timens.call(boom)
    except ZeroDivisionError:
        return
    raise AssertionError("no ZeroDivisionError")

def test_monotonic_offset_and_rootless_default(timens):
    before = time.monotonic()
    done = timens.run(["python3", "-c", "import time; print(time.monotonic())"], monotonic="-1s")
    assert float(done.stdout) < before
    user = timens.run(["readlink", "/proc/self/ns/user"]).stdout.strip()
    assert user != os.readlink("/proc/self/ns/user")

def test_daemon_is_killed_at_teardown(timens):
    child = timens.spawn(["sleep", "600"], boottime="1d")
    with open("sleep.pid", "w") as f:
        f.write(str(child.pid))
'''


def test_entry_point_is_registered() -> None:
    """pip-installed timens-lab registers the plugin with pytest (pytest11)."""
    assert "timens_lab.pytest_plugin" in {e.value for e in entry_points(group="pytest11")}


def test_user_suite_passes_and_leaves_nothing(pytester: pytest.Pytester) -> None:
    """A user's tests with the timens fixture pass; the daemon they spawned is gone after."""
    pytester.makepyfile(test_user=USER_SUITE)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=5)
    pid = int((pytester.path / "sleep.pid").read_text())
    comm = Path(f"/proc/{pid}/comm")
    assert not comm.exists() or comm.read_text().strip() != "sleep"


def test_unpicklable_callable_is_explained(pytester: pytest.Pytester) -> None:
    """A lambda cannot travel: CallError says to define the function at module level."""
    pytester.makepyfile(test_lambda='''
import pytest
from timens_lab.pytest_plugin import CallError

def test_lambda(timens):
    with pytest.raises(CallError, match="module level"):
        timens.call(lambda: 1)
''')
    pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q").assert_outcomes(passed=1)
