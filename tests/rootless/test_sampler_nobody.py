"""The sampler as uid 65534 (nobody), rootless through a user namespace, for real.

tests/rootless/test_kernel_suite_as_nobody.py already re-runs tests/kernel/test_sampler.py as
nobody; here the issue's acceptance command runs as nobody, and we check from outside (as
root) that its samplers really were unprivileged and in user namespaces of their own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import NOBODY, REPO, as_nobody, run_py_as_nobody

pytestmark = pytest.mark.usefixtures("need_root")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "COV"))}
    env["HOME"] = "/tmp"
    return env


def test_sample_json_as_nobody() -> None:
    """`timens-lab sample --ns monotonic=3600,boottime=7200 --duration 2 --json` as nobody:
    MONOTONIC/BOOTTIME within 1 µs, REALTIME within 1 µs of 0, 0 drops at 1 kHz."""
    result = subprocess.run(
        as_nobody([sys.executable, "-m", "timens_lab", "sample", "--ns",
                   "monotonic=3600,boottime=7200", "--duration", "2", "--json"]),
        capture_output=True, text=True, timeout=120, env=_env(), cwd=REPO, check=False)
    assert result.returncode == 0, result.stderr
    host, ns = json.loads(result.stdout)["channels"]
    assert ns["configured"] == {"monotonic_ns": 3600 * 10**9, "boottime_ns": 7200 * 10**9}
    for clock, want in (("monotonic", 3600e9), ("boottime", 7200e9), ("realtime", 0.0),
                        ("monotonic_raw", 3600e9)):
        row = ns["offsets"][clock]
        assert abs(row["measured_ns"] - want) < 1_000, (clock, row)
        assert row["within_bound"] == 1.0, (clock, row)
    assert (host["drops"], ns["drops"]) == (0, 0)
    assert ns["samples"] > 1000


def test_rootless_samplers_are_unprivileged_and_in_their_own_user_namespace() -> None:
    """Seen from root: nobody's samplers run as uid 65534, the namespace one in a new user ns."""
    code = textwrap.dedent("""
        import json, sys, time
        from timens_lab import Lab
        from timens_lab.clocks.sampler import SamplerSet
        with Lab() as lab:
            ns = lab.namespace(monotonic="1h")
            with SamplerSet.start(lab, [ns], rate=100) as src:
                print(json.dumps([c.pid for c in src.channels()]), flush=True)
                sys.stdin.readline()
    """)
    with subprocess.Popen(as_nobody([sys.executable, "-c", code]), stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True, env=_env(), cwd="/") as proc:
        _check_samplers(proc)


def _check_samplers(proc: subprocess.Popen[str]) -> None:
    try:
        assert proc.stdout is not None
        assert proc.stdin is not None
        host_pid, ns_pid = json.loads(proc.stdout.readline())
        for pid in (host_pid, ns_pid):
            uids = _status(pid)["Uid"].split()
            assert uids == [str(NOBODY)] * 4
        init_user = os.stat("/proc/self/ns/user").st_ino
        assert os.stat(f"/proc/{host_pid}/ns/user").st_ino == init_user
        assert os.stat(f"/proc/{ns_pid}/ns/user").st_ino != init_user
        assert os.stat(f"/proc/{ns_pid}/ns/time").st_ino != os.stat("/proc/self/ns/time").st_ino
        proc.stdin.write("\n")
        proc.stdin.flush()
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _status(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return dict(line.split(":\t", 1) for line in lines if ":\t" in line)


def test_nobody_cannot_read_root_rings() -> None:
    """A root sampler's ring is a memfd reachable only through its fd: nobody cannot open it."""
    from timens_lab.clocks.ring import Ring

    with Ring(16) as ring:
        path = f"/proc/{os.getpid()}/fd/{ring.fd}"
        result = run_py_as_nobody(f"open({path!r}, 'rb')")
        assert result.returncode != 0
        assert "PermissionError" in result.stderr
