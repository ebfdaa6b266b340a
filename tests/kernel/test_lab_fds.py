"""File descriptors and messages between a Lab and its helper (issue 14, items 8, 9 and 10)."""

from __future__ import annotations

import fcntl
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from timens_lab.engine import _wire
from timens_lab.engine.lab import PIPE, Lab
from timens_lab.errors import MessageTooLargeError

pytestmark = pytest.mark.usefixtures("need_timens")

TIMENS_LAB = str(Path(sys.executable).parent / "timens-lab")


def _run_py(code: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=timeout, check=False)


def test_received_fds_are_close_on_exec(lab: Lab) -> None:
    """A Child's pidfd and pipe ends are FD_CLOEXEC, and a process started with close_fds=False
    (as os.system does) does not get the pidfd (before: recvmsg without MSG_CMSG_CLOEXEC)."""
    child = lab.spawn(["sleep", "30"])
    try:
        assert fcntl.fcntl(child.pidfd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC
        seen = subprocess.run(["ls", "/proc/self/fd"], capture_output=True, text=True,
                              close_fds=False, check=True).stdout.split()
        assert str(child.pidfd) not in seen
    finally:
        child.kill()
        child.wait(30)


def test_fire_and_forget_children_do_not_exhaust_fds() -> None:
    """250 spawns nobody waits for, under RLIMIT_NOFILE=256: each forgotten Child closes its
    pidfd when collected (before: EMFILE around the 240th)."""
    done = _run_py("""
        import gc, os, resource
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
        from timens_lab.engine.lab import Lab
        with Lab() as lab:
            for _ in range(250):
                lab.run(["true"])
            gc.collect()
            print(len(os.listdir("/proc/self/fd")))
    """)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) < 20


def test_wait_and_communicate_above_fd_1024() -> None:
    """poll(2), not select(2): a pidfd and pipes numbered above FD_SETSIZE work (before:
    ValueError: filedescriptor out of range in select())."""
    done = _run_py("""
        import os, resource
        resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))
        null = os.open("/dev/null", os.O_RDONLY)
        filler = [os.dup(null) for _ in range(1100)]
        from timens_lab.engine.lab import Lab, PIPE
        with Lab() as lab:
            child = lab.spawn(["sh", "-c", "cat; echo err >&2"], stdin=PIPE, stdout=PIPE,
                              stderr=PIPE)
            assert min(child.pidfd, child.stdout.fileno(), child.stderr.fileno()) > 1024
            out, err = child.communicate(b"in", timeout=30)
            assert (out, err, child.returncode) == (b"in", b"err\\n", 0), (out, err)
            other = lab.spawn(["true"])
            assert other.pidfd > 1024 and other.wait(30) == 0
        print("ok")
    """)
    assert done.stdout.strip() == "ok", done.stderr


def test_oversized_requests_are_a_typed_error_before_sending(lab: Lab) -> None:
    """The limit is the socket's send buffer (EMSGSIZE past SO_SNDBUF - 32), checked before
    anything is sent; the Lab stays usable (before: raw OSError EMSGSIZE, or ValueError)."""
    limit = _wire.max_message(lab._sock)  # type: ignore[arg-type]
    for argv in (["true", "x" * 100_000, "y" * 100_000, "z" * 100_000],
                 ["true", *["x" * 100_000] * 11]):
        with pytest.raises(MessageTooLargeError) as info:
            lab.run(argv)
        assert info.value.context["limit"] == limit and info.value.hint
    with pytest.raises(MessageTooLargeError):
        lab.spawn(["true"], env={"BIG": "v" * 300_000})
    out, _ = lab.run(["echo", "x" * (limit // 2)], stdout=PIPE).communicate(timeout=30)
    assert len(out) == limit // 2 + 1  # just under the limit still goes through


def test_cli_oversized_argv_exits_125_with_error_and_hint() -> None:
    big = ["x" * 100_000] * 3
    done = subprocess.run([TIMENS_LAB, "run", "--", "true", *big], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 125
    lines = done.stderr.splitlines()
    assert lines[0].startswith("error: ") and lines[1].startswith("hint: ")
    assert "Traceback" not in done.stderr


def test_lab_with_almost_no_fds_is_a_typed_error() -> None:
    """`ulimit -n 6`: Lab() says ResourceLimitError, and the CLI exits 125 with error and hint
    (before: a traceback from socketpair/Popen)."""
    done = _run_py("""
        import resource
        from timens_lab.errors import ResourceLimitError
        from timens_lab.engine.lab import Lab
        resource.setrlimit(resource.RLIMIT_NOFILE, (6, 6))
        try:
            Lab()
        except ResourceLimitError as err:
            print("typed", bool(err.hint))
    """)
    assert done.stdout.strip() == "typed True", done.stderr
    cli = subprocess.run(["prlimit", "--nofile=6", TIMENS_LAB, "run", "--", "true"],
                         capture_output=True, text=True, timeout=60, check=False)
    assert cli.returncode == 125
    assert cli.stderr.startswith("error: ") and "\nhint: " in cli.stderr
    assert "Traceback" not in cli.stderr
