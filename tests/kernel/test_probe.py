"""`timens-lab probe` for real: as root, as nobody, and on a simulated locked-down machine.

Each verdict is checked against util-linux unshare(1), an independent implementation: the probe's
root check passes exactly when `unshare --time` works, its rootless check exactly when
`unshare --user --time` works, and where they fail they fail with the same errno.
"""

from __future__ import annotations

import errno
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from tests.conftest import as_nobody
from timens_lab.testing import locked_down_argv

pytestmark = pytest.mark.kernel

Wrap = Callable[[Sequence[str]], list[str]]
PROBE = [sys.executable, "-m", "timens_lab", "probe", "--json"]
BOOT = 100_000  # seconds of boottime offset for the util-linux cross-check
#: Where to run: as ourselves, as nobody (setpriv; the same as "self" unless we are root), and in
#: a user namespace whose namespace limits are 0.
ENVIRONMENTS: dict[str, Wrap] = {"self": list, "nobody": as_nobody, "locked_down": locked_down_argv}
EXPECTED_AS_ROOT = {"self": "root", "nobody": "rootless", "locked_down": "unavailable"}


@pytest.fixture
def locked_down_ok() -> None:
    """Skip where the locked-down simulation cannot start (no user namespaces for us)."""
    done = subprocess.run(locked_down_argv([sys.executable, "-c", "pass"]), capture_output=True,
                          text=True, timeout=60, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot run the locked-down simulation here: {done.stderr.strip()}")


def environment(request: pytest.FixtureRequest, env: str) -> Wrap:
    """The wrapper for ``env``, skipping where it cannot run or would repeat "self"."""
    if env == "nobody" and os.geteuid() != 0:
        pytest.skip("as a normal user, nobody's run is the same as our own")
    if env == "locked_down":
        request.getfixturevalue("locked_down_ok")
    return ENVIRONMENTS[env]


def run(argv: Sequence[str], **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith("PYTEST") and k != "TIMENS_LAB_MODE"}
    clean.update(HOME="/tmp", **env)
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=60, env=clean,
                          cwd="/", check=False)


def probe_json(wrap: Wrap, **env: str) -> tuple[int, dict[str, Any]]:
    done = run(wrap(PROBE), **env)
    assert done.stderr == ""
    return done.returncode, json.loads(done.stdout)


def checks(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in data["checks"]}


def host_uptime() -> float:
    with open("/proc/uptime") as f:
        return float(f.read().split()[0])


def util_linux(wrap: Wrap, *flags: str) -> tuple[bool, str]:
    """Run `unshare FLAGS --time --boottime BOOT --fork cat /proc/uptime`; (worked, stderr)."""
    before = host_uptime()
    done = run(wrap(["unshare", *flags, "--time", "--boottime", str(BOOT), "--fork",
                     "cat", "/proc/uptime"]))
    after = host_uptime()
    if done.returncode != 0:
        return False, done.stderr
    inside = float(done.stdout.split()[0])
    # /proc/uptime has centisecond resolution; the reader's boottime offset shifts it
    # (kernel-timens.md §6), so the namespace really got the offset.
    assert before + BOOT - 0.01 <= inside <= after + BOOT + 0.01
    return True, ""


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_probe_mode(env: str, request: pytest.FixtureRequest) -> None:
    """Root gets mode root, nobody rootless, the locked-down machine unavailable (exit 1)."""
    if env != "locked_down":  # the same for every user; the other two need root to mean much
        request.getfixturevalue("need_root")
    wrap, expected = environment(request, env), EXPECTED_AS_ROOT[env]
    code, data = probe_json(wrap)
    assert data["mode"] == expected
    assert data["time_namespaces"] == (expected != "unavailable")
    assert code == (0 if data["time_namespaces"] else 1)
    assert data["kernel"] == os.uname().release
    assert all(c["hint"] for c in data["checks"] if c["ok"] is False)


def test_probe_root_details(need_root: None) -> None:
    """As root every check passes, and both ways in were tried for real."""
    _, data = probe_json(list)
    found = checks(data)
    assert [name for name, c in found.items() if c["ok"] is False] == []
    for name in ("timens_root", "timens_rootless"):
        assert re.search(r"-> time:\[\d+\]; a forked child saw monotonic \+86400",
                         found[name]["detail"])
    assert (data["reason"], data["hint"]) == ("", "")


def test_probe_nobody_details(need_root: None) -> None:
    """As nobody the root attempt is n/a with EPERM, and rootless works."""
    _, data = probe_json(as_nobody)
    found = checks(data)
    assert found["timens_root"]["ok"] is None
    assert "EPERM" in found["timens_root"]["detail"]
    assert found["timens_rootless"]["ok"] is True
    assert "inside a new user namespace" in found["clone3_newtime"]["detail"]
    assert found["privilege"]["detail"].startswith("euid 65534")


def test_probe_locked_down_hints(locked_down_ok: None) -> None:
    """Limits at 0: ENOSPC for both ways in, each hint naming the sysctls to raise."""
    _, data = probe_json(locked_down_argv)
    found = checks(data)
    assert "ENOSPC" in data["reason"]
    assert "user.max_time_namespaces=0" in data["reason"]
    assert data["hint"] == "sysctl -w user.max_time_namespaces=15000"
    assert found["timens_rootless"]["hint"] == (
        "sysctl -w user.max_user_namespaces=15000 user.max_time_namespaces=15000")
    for name in ("user.max_user_namespaces", "user.max_time_namespaces"):
        assert (found[name]["ok"], found[name]["detail"][:2]) == (False, "0:")
        assert found[name]["hint"] == f"sysctl -w {name}=15000"


def test_locked_down_sysctls_read_zero(locked_down_ok: None) -> None:
    """Inside locked_down_argv both limits read 0; outside they are untouched."""
    names = ["/proc/sys/user/max_time_namespaces", "/proc/sys/user/max_user_namespaces"]
    done = run(locked_down_argv(["cat", *names]))
    assert (done.returncode, done.stdout.split()) == (0, ["0", "0"])
    for name in names:
        with open(name) as f:
            assert int(f.read()) > 0


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_probe_agrees_with_util_linux(env: str, request: pytest.FixtureRequest) -> None:
    """The probe's root/rootless checks pass exactly when util-linux unshare does, same errno."""
    wrap = environment(request, env)
    _, data = probe_json(wrap)
    found = checks(data)
    for name, flags in (("timens_root", ()), ("timens_rootless", ("--user",))):
        worked, stderr = util_linux(wrap, *flags)
        assert (found[name]["ok"] is True) == worked, (name, found[name], stderr)
        if not worked:
            errname = re.search(r": (E[A-Z]+): ", found[name]["detail"])
            assert errname is not None, found[name]
            assert os.strerror(getattr(errno, errname.group(1))) in stderr


def test_replay_mode_is_forced() -> None:
    """TIMENS_LAB_MODE=replay: unavailable with the documented reason, nothing attempted."""
    code, data = probe_json(list, TIMENS_LAB_MODE="replay")
    assert (code, data["mode"]) == (1, "unavailable")
    assert data["reason"] == "forced by TIMENS_LAB_MODE=replay"
    assert checks(data)["timens_root"]["ok"] is None


# Runs probe() in a multi-threaded process (as a Jupyter kernel is) that is a child subreaper,
# so any process the probe left behind, even an orphaned grandchild, would be our child.
LEAK_CHECK = """
import json, os, threading
from pathlib import Path
from timens_lab import kernel
from timens_lab.probing.check import probe

kernel.set_child_subreaper(True)
stop = threading.Event()
thread = threading.Thread(target=stop.wait)
thread.start()
fds = sorted(os.listdir("/proc/self/fd"))
result = probe()
children = [pid for task in os.listdir("/proc/self/task")
            for pid in Path(f"/proc/self/task/{task}/children").read_text().split()]
threads = threading.active_count()
stop.set()
thread.join()
print(json.dumps({"mode": result.mode, "children": children, "threads": threads,
                  "fds": [fds, sorted(os.listdir("/proc/self/fd"))]}))
"""


@pytest.mark.parametrize("env", ["self", "nobody"])
def test_probe_leaves_nothing_from_threaded_caller(env: str,
                                                   request: pytest.FixtureRequest) -> None:
    """From a threaded process: the CLI's mode, no process left, no fd left, no warning."""
    wrap = environment(request, env)
    expected = probe_json(wrap)[1]["mode"]
    done = run(wrap([sys.executable, "-W", "error", "-c", LEAK_CHECK]))
    assert done.stderr == ""
    out = json.loads(done.stdout)
    assert (out["mode"], out["threads"], out["children"]) == (expected, 2, [])
    assert out["fds"][0] == out["fds"][1]
