"""Holders are known by handle, never by number (issue 14): a holder killed from outside and its
pid taken by a stranger; a nested create that fails after entering its parent."""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from timens_lab.engine.lab import Lab
from timens_lab.errors import NamespaceGoneError, NamespaceLimitError, OffsetsFrozenError

pytestmark = pytest.mark.usefixtures("need_timens")

# Runs as pid 1 of a fresh PID namespace, so forcing the next pid (ns_last_pid) disturbs no one.
REUSE = textwrap.dedent("""
    import json, os, signal, subprocess, sys, time
    from timens_lab.engine.lab import Lab
    from timens_lab.errors import TimensError

    def wait(cond, what):
        deadline = time.monotonic() + 10
        while not cond():
            if time.monotonic() > deadline:
                sys.exit(f"timed out: {what}")
            time.sleep(0.005)

    def offsets(pid):
        with open(f"/proc/{pid}/timens_offsets") as f:
            return f.read()

    lab = Lab()
    ns = lab.namespace(monotonic=1)
    holder = ns.holder_pid
    os.kill(holder, signal.SIGKILL)
    wait(lambda: not os.path.exists(f"/proc/{holder}"), "the helper reaps the holder")
    # The stranger: a process whose own time_for_children is a fresh namespace nothing has
    # entered (it unshared and does not exec), so a misdirected write would succeed.
    STRANGER = ("from timens_lab import kernel; import time; "
                "kernel.unshare(kernel.CLONE_NEWTIME); time.sleep(600)")
    for _ in range(20):
        with open("/proc/sys/kernel/ns_last_pid", "w") as f:
            f.write(str(holder - 1))
        stranger = subprocess.Popen([sys.executable, "-c", STRANGER])
        if stranger.pid == holder:
            break
        stranger.kill()
        stranger.wait()
    else:
        sys.exit("could not make a stranger take the holder's pid")
    link = lambda name: os.readlink(f"/proc/{holder}/ns/{name}")
    wait(lambda: link("time") != link("time_for_children"), "the stranger unshares")
    out = {"before": offsets(holder)}
    for name, call in (("edit", lambda: ns.set_offsets(monotonic=3600)),
                       ("read", lambda: ns.offsets),
                       ("spawn", lambda: ns.spawn(["true"]))):
        try:
            call()
            out[name] = None
        except TimensError as err:
            out[name] = [type(err).__name__, str(err)]
    ns.close()
    lab.close()
    out["after"] = offsets(holder)
    out["stranger_alive"] = stranger.poll() is None
    stranger.kill()
    stranger.wait()
    print(json.dumps(out), flush=True)
""")


def test_a_recycled_holder_pid_is_never_signalled_or_re_offset() -> None:
    """A holder SIGKILLed from outside, its pid reused by a stranger (forced through
    ns_last_pid in a PID namespace of our own): the offsets edit, the read and a spawn raise
    NamespaceGoneError, the stranger's timens_offsets are unchanged, and it survives both
    ns.close() and lab.close()."""
    if shutil.which("unshare") is None:
        pytest.skip("needs util-linux unshare")
    # As root, a PID namespace directly; otherwise inside a user namespace we are root in
    # (writing ns_last_pid needs CAP_SYS_ADMIN over the PID namespace's owner).
    userns = [] if os.geteuid() == 0 else ["--user", "--map-root-user"]
    result = subprocess.run(
        ["unshare", *userns, "--pid", "--fork", "--mount-proc", sys.executable, "-c", REUSE],
        capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    out = json.loads(result.stdout.splitlines()[-1])
    print(out)
    for call in ("edit", "read", "spawn"):
        assert out[call] is not None, f"{call} acted on the stranger"
        assert out[call][0] == NamespaceGoneError.__name__
        assert out[call][1] == "namespace gone: its holder died (killed by signal 9)"
    assert out["after"] == out["before"]
    assert out["stranger_alive"]


def test_gone_error_is_typed_with_a_hint(lab: Lab) -> None:
    """The gone error is a NoSuchNamespaceError with a hint; closing the namespace still works."""
    ns = lab.namespace(monotonic=1)
    pidfd = os.pidfd_open(ns.holder_pid)  # the holder is alive: this is it
    signal.pidfd_send_signal(pidfd, signal.SIGKILL)
    assert select.select([pidfd], [], [], 10)[0]  # it has exited (readable pidfd)
    os.close(pidfd)
    with pytest.raises(NamespaceGoneError) as info:
        ns.set_offsets(monotonic=2)
    assert "close" in info.value.hint
    ns.close()
    assert ns.state == "closed"
    assert lab.namespace(monotonic=3).offsets.monotonic_ns == 3_000_000_000


def test_failed_nested_create_marks_the_parent_frozen(need_timens: str) -> None:
    """User namespaces nest at most 32 deep: the holder that fails there had already joined its
    parent with setns, which froze the parent. The Lab says so, and the kernel agrees."""
    with Lab(rootless=True) as lab:
        ns = lab.namespace(monotonic=1)
        for _ in range(40):
            try:
                ns = ns.namespace(monotonic=1)
            except NamespaceLimitError as err:
                assert err.context.get("frozen")
                break
        else:
            pytest.fail("40 nested user namespaces were allowed (the kernel's limit is 32)")
        assert ns.state == "frozen"
        assert lab._call("describe", ns=ns.id)["frozen"]
        with pytest.raises(OffsetsFrozenError):
            ns.set_offsets(monotonic=2)  # the kernel's word (EACCES)


def test_signals_stay_blocked_until_the_holder_reported(lab: Lab, tmp_path: Path) -> None:
    """strace of the helper: a shared-memory holder's report is read with every signal still
    blocked, and only then unblocked (csrc/01-spawn.c), so no signal can cut the read short while
    the holder, which shares our errno, is still running on the request."""
    if shutil.which("strace") is None:
        pytest.skip("needs strace")
    log = tmp_path / "strace.txt"
    helper = lab.helper_pid
    tracer = subprocess.Popen(["strace", "-f", "-qq", "-o", str(log), "-e",
                               "trace=clone,clone3,read,rt_sigprocmask", "-p", str(helper)],
                              stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 10
        while _tracer(helper) == 0:
            if tracer.poll() is not None or time.monotonic() > deadline:
                pytest.skip(f"cannot ptrace the helper: {tracer.stderr.read().strip()}")  # type: ignore[union-attr]
            time.sleep(0.01)
        lab.namespace(monotonic=1)
    finally:
        tracer.terminate()
        tracer.wait()
        tracer.stderr.close()  # type: ignore[union-attr]
    lines = [line for line in log.read_text().splitlines() if line.startswith(f"{helper} ")]
    clone = next(i for i, line in enumerate(lines) if "CLONE_VM" in line)
    report = next(i for i, line in enumerate(lines[clone:], clone)
                  if ("read(" in line or "read resumed" in line) and line.endswith("= 8"))
    unblock = next(i for i, line in enumerate(lines[clone:], clone)
                   if "rt_sigprocmask(SIG_SETMASK, []" in line)
    assert report < unblock, "\n".join(lines[clone:unblock + 3])


def _tracer(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("TracerPid:"))
