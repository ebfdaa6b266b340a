"""`timens-lab run` and `enter` as a user types them, checked against /proc and util-linux."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.usefixtures("need_timens")

CLI = [sys.executable, "-m", "timens_lab"]
READ = ("import json, time; print(json.dumps([time.clock_gettime(time.CLOCK_MONOTONIC), "
        "time.clock_gettime(time.CLOCK_REALTIME), float(open('/proc/uptime').read().split()[0])]))")


def cli(*args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60, check=False, **kw)


def host() -> tuple[float, float, float]:
    return (time.clock_gettime(time.CLOCK_MONOTONIC), time.clock_gettime(time.CLOCK_REALTIME),
            float(Path("/proc/uptime").read_text().split()[0]))


def test_run_shifts_monotonic_and_uptime_not_realtime() -> None:
    """MONOTONIC = host + 3600 s, /proc/uptime = host + 7200 s, REALTIME unchanged."""
    before = host()
    r = cli("run", "--monotonic", "3600", "--boottime", "7200", "--", sys.executable, "-c", READ)
    after = host()
    assert r.returncode == 0, r.stderr
    mono, real, uptime = json.loads(r.stdout)
    assert before[0] + 3600 <= mono <= after[0] + 3600
    assert before[1] <= real <= after[1]
    assert before[2] + 7200 - 0.02 <= uptime <= after[2] + 7200 + 0.02


def test_shell_program_sees_the_same_uptime_as_util_linux() -> None:
    """A shell reading /proc/uptime agrees with util-linux unshare (root) within a few ms."""
    ours = cli("run", "--boottime", "2d", "--", "sh", "-c", "cat /proc/uptime")
    assert ours.returncode == 0, ours.stderr
    if os.geteuid() == 0:
        theirs = subprocess.run(["unshare", "--time", "--boottime", "172800", "--fork", "cat",
                                 "/proc/uptime"], capture_output=True, text=True, check=True)
    else:
        theirs = subprocess.run(["unshare", "--user", "--time", "--boottime", "172800", "--fork",
                                 "cat", "/proc/uptime"], capture_output=True, text=True, check=True)
    assert abs(float(ours.stdout.split()[0]) - float(theirs.stdout.split()[0])) < 1.0


@pytest.mark.parametrize(("argv", "status"), [
    (["sh", "-c", "exit 3"], 3),
    (["sh", "-c", "kill -TERM $$"], 128 + signal.SIGTERM),
    (["no-such-command-xyz"], 127),
    (["/etc/passwd"], 126),
])
def test_run_exit_status(argv: list[str], status: int) -> None:
    r = cli("run", "--", *argv)
    assert status == r.returncode
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["--monotonic", "abc"], "not a duration: 'abc'"),
    (["--monotonic", "1e30s"], "beyond the kernel's limit"),
    (["--boottime", "-100y"], "before zero"),
])
def test_bad_offsets_one_clear_line_exit_2(args: list[str], message: str) -> None:
    """Bad input: exit 2, an error line and a hint line, no traceback, nothing started."""
    r = cli("run", *args, "--", "true")
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert lines[0].startswith("error: ") and message in lines[0]
    assert lines[1].startswith("hint: ")
    assert "Traceback" not in r.stderr


def test_sample_style_spec_errors() -> None:
    r = cli("run", "--monotonic", "realtime=5", "--", "true")
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_run_command_dies_when_timens_lab_is_sigkilled() -> None:
    """SIGKILL of `timens-lab run` takes the command with it (no orphan)."""
    proc = subprocess.Popen([*CLI, "run", "--monotonic", "1h", "--", "sleep", "300"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        sleeper = _wait_for_sleep_under(proc.pid)
        proc.kill()
        proc.wait()
        assert _gone(sleeper, 2.0)
    finally:
        proc.kill()
        proc.wait()
        proc.stderr.close()


def test_enter_joins_the_targets_namespace() -> None:
    """enter PID, -t PID and --ns-file all land where PID is (readlink is the judge)."""
    target = subprocess.Popen([*CLI, "run", "--monotonic", "777", "--", "sleep", "60"])
    try:
        sleeper = _wait_for_sleep_under(target.pid)
        want = os.readlink(f"/proc/{sleeper}/ns/time")
        for args in ([str(sleeper)], ["-t", str(sleeper)], ["--ns-file", f"/proc/{sleeper}/ns/time"]):
            r = cli("enter", *args, "--", "readlink", "/proc/self/ns/time")
            assert r.returncode == 0, r.stderr
            assert want == r.stdout.strip()
        r = cli("enter", str(sleeper), "--", sys.executable, "-c", READ)
        assert abs(json.loads(r.stdout)[0] - time.clock_gettime(time.CLOCK_MONOTONIC) - 777) < 1
    finally:
        target.kill()
        target.wait()


@pytest.mark.parametrize(("args", "code", "message"), [
    (["999999999", "--", "true"], 125, "does not exist"),
    (["--ns-file", "/etc/passwd", "--", "true"], 125, "not a namespace file"),
    (["--", "true"], 2, "which namespace"),
    (["1"], 2, "no command given"),
])
def test_enter_errors(args: list[str], code: int, message: str) -> None:
    r = cli("enter", *args)
    assert code == r.returncode
    assert message in r.stderr and "Traceback" not in r.stderr


def _wait_for_sleep_under(pid: int, timeout: float = 10.0) -> int:
    """The `sleep` the Lab's helper started for the CLI process ``pid`` (sleep → helper →
    guard → CLI)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    if Path(f"/proc/{entry}/comm").read_text().strip() != "sleep":
                        continue
                    helper = _ppid(int(entry))
                    owner = _ppid(_ppid(helper))
                except (OSError, ValueError, IndexError):
                    continue
                if owner == pid:
                    return int(entry)
        time.sleep(0.02)
    raise AssertionError(f"no sleep started under pid {pid}")


def _gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        if state == "Z":
            return True
        time.sleep(0.02)
    return False


def _ppid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def test_cli_run_does_not_pay_for_other_commands() -> None:
    """`timens-lab run` imports only its own subcommand: no numpy (that is `sample`'s cost).

    It really runs `true` in a new time namespace, so it lives here and not in tests/unit."""
    code = ("import sys; from timens_lab.cli import main; rc = main(['run', '--', 'true']); "
            "print(rc, 'numpy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["0", "False"]
