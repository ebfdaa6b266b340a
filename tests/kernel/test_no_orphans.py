"""Nothing outlives its owner (issue 10): SIGKILL with samplers, a Jupyter kernel restart, and
failures in the middle of a spawn."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from timens_lab.engine.lab import PIPE, Lab

pytestmark = pytest.mark.usefixtures("need_timens")

OWNER = textwrap.dedent("""
    import json, sys
    from timens_lab.engine.lab import Lab
    lab = Lab()
    nss = [lab.namespace(monotonic=i, boottime=2 * i) for i in range(int(sys.argv[1]))]
    pids = [lab.helper_pid, *(ns.holder_pid for ns in nss)]
    pids += [ns.spawn(["sleep", "600"]).pid for ns in nss]
    source = lab.samplers(nss, rate=10)
    pids += [source.host.pid, *(s.pid for s in source.samplers.values())]
    print(json.dumps(pids), flush=True)
    sys.stdin.read()
""")


def _alive(pids: list[int]) -> list[int]:
    out = []
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            out.append(pid)
    return out


def _wait_gone(pids: list[int], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    while (left := _alive(pids)) and time.monotonic() < deadline:
        time.sleep(0.02)
    return left


@pytest.mark.slow
def test_sigkill_with_100_namespaces_samplers_and_commands() -> None:
    """SIGKILL of the owner of 100 namespaces, 100 commands and 101 samplers: 0 left after 2 s."""
    owner = subprocess.Popen([sys.executable, "-c", OWNER, "100"], stdin=PIPE, stdout=PIPE, text=True)
    try:
        pids = json.loads(owner.stdout.readline())
        assert len(pids) == 1 + 100 + 100 + 101
        assert len(_alive(pids)) == len(pids)
        owner.kill()
        owner.wait()
        left = _wait_gone(pids, 2.0)
        print(f"SIGKILL of the owner: {len(pids)} processes, {len(left)} alive 2 s later")
        assert left == []
    finally:
        owner.kill()
        owner.wait()
        owner.stdin.close()
        owner.stdout.close()


def test_jupyter_kernel_restart_leaves_nothing() -> None:
    """Restarting a Jupyter kernel (SIGKILL of the old one) takes its Lab's processes along."""
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3")
    try:
        code = ("import json; from timens_lab.engine.lab import Lab\n"
                "lab = Lab(); nss = [lab.namespace(monotonic=i) for i in range(10)]\n"
                "pids = [lab.helper_pid] + [n.holder_pid for n in nss] + "
                "[n.spawn(['sleep', '600']).pid for n in nss]\n"
                "print(json.dumps(pids))")
        reply = kc.execute_interactive(code, timeout=60, output_hook=_collect)
        assert reply["content"]["status"] == "ok"
        pids = json.loads(_collect.text.pop())
        assert len(_alive(pids)) == 21
        km.restart_kernel(now=True)
        assert _wait_gone(pids, 2.0) == []
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def _collect(msg: dict) -> None:
    if msg["msg_type"] == "stream":
        _collect.text.append(msg["content"]["text"])


_collect.text = []  # type: ignore[attr-defined]


def test_failures_mid_spawn_leave_no_process_or_fd(lab: Lab) -> None:
    """A spawn refused before the child enters (bad cwd, missing command) leaves no process,
    pipe or pidfd, and the namespace stays pending — the kernel agrees (offsets still writable)."""
    from timens_lab.errors import SpawnError

    ns = lab.namespace(monotonic=1)
    fds = set(os.listdir("/proc/self/fd"))
    for kw in ({"cwd": "/no/such/dir"}, {"cwd": "/etc/passwd"}):
        with pytest.raises(SpawnError):
            ns.spawn(["true"], stdout=PIPE, stderr=PIPE, **kw)
    with pytest.raises(SpawnError):
        ns.spawn(["/no/such/binary"], stdin=PIPE)
    assert set(os.listdir("/proc/self/fd")) == fds
    helper_children = Path(f"/proc/{lab.helper_pid}/task/{lab.helper_pid}/children").read_text()
    assert helper_children.split() == [str(ns.holder_pid)]
    assert ns.state == "pending"
    ns.set_offsets(monotonic=2)  # the kernel's word: nothing entered


def test_failure_after_entry_reports_the_namespace_frozen(lab: Lab, tmp_path: Path) -> None:
    """exec failing inside the namespace froze it: the state and the error say so. (A script
    whose interpreter is missing passes every pre-check and fails in execve with ENOENT.)"""
    from timens_lab.errors import OffsetsFrozenError, SpawnError

    ns = lab.namespace(monotonic=1)
    script = tmp_path / "script"
    script.write_text("#!/no/such/interpreter\n")
    script.chmod(0o755)
    with pytest.raises(SpawnError, match="now frozen"):
        ns.spawn([str(script)])
    assert ns.state == "frozen"
    with pytest.raises(OffsetsFrozenError):
        ns.set_offsets(monotonic=2)
