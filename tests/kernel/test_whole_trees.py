"""Whole trees die with the Lab (issue 14): close(), SIGKILL of the owner, SIGKILL of the helper
and a Jupyter kernel restart, each with a grandchild tree, a double-forked daemon and a
SIGTERM-ignoring process under each of 20 namespaces.

Descendants are counted independently of timens-lab: every process started carries a unique
token in its environment (inherited by its children, whoever reparents them), and /proc/*/environ
is scanned for it, so orphans reparented anywhere are found too.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from timens_lab.engine.lab import PIPE

pytestmark = pytest.mark.usefixtures("need_timens")

VAR = "TIMENS_LAB_TREE_TOKEN"
NAMESPACES = 20
#: Per namespace: a tree of grandchildren; a daemon that double-forks into its own session (its
#: parent exits at once); a shell that ignores SIGTERM, as does its child (SIG_IGN survives exec).
TREES = [
    ["sh", "-c", "sh -c 'sleep 1001 & sleep 1001; :' & sleep 1001; :"],
    ["sh", "-c", "(setsid sh -c 'sleep 1002; :' &); :"],
    ["sh", "-c", "trap '' TERM; sleep 1003 & wait; :"],
]
SLEEPS_PER_NS = 5  # three 1001, one 1002, one 1003
BUILD = textwrap.dedent(f"""
    import json, os
    from timens_lab.engine.lab import Lab
    def build(token):
        lab = Lab()
        env = {{**os.environ, {VAR!r}: token}}
        for i in range({NAMESPACES}):
            ns = lab.namespace(monotonic=i)
            for argv in {TREES!r}:
                ns.spawn(argv, env=env)
        return lab
""")
OWNER = BUILD + textwrap.dedent("""
    import sys
    lab = build(sys.argv[1])
    print(json.dumps([lab.helper_pid, lab._proc.pid]), flush=True)
    sys.stdin.read()
""")


def _state(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    return stat[stat.rfind(b")") + 2:][:1].decode()


def _alive(pids: list[int]) -> list[int]:
    return [p for p in pids if _state(p) not in (None, "Z")]


def marked(token: str) -> dict[int, str]:
    """Live processes whose environment carries ``token``: pid → command line."""
    needle = f"{VAR}={token}".encode()
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            env = Path(f"/proc/{entry}/environ").read_bytes()
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if needle in env.split(b"\0") and _state(int(entry)) not in (None, "Z"):
            out[int(entry)] = cmd.replace(b"\0", b" ").decode(errors="replace").strip()
    return out


def _wait_sleeps(token: str, timeout: float = 30.0) -> dict[int, str]:
    """Wait until every sleep of every tree runs (the daemon forks asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        procs = marked(token)
        sleeps = [c for c in procs.values() if c.startswith("sleep 100")]
        if len(sleeps) >= NAMESPACES * SLEEPS_PER_NS or time.monotonic() >= deadline:
            assert len(sleeps) == NAMESPACES * SLEEPS_PER_NS, sorted(procs.values())
            return procs
        time.sleep(0.05)


def _wait_gone(token: str, extra: list[int], timeout: float) -> tuple[dict[int, str], list[int]]:
    deadline = time.monotonic() + timeout
    while True:
        left, helpers = marked(token), _alive(extra)
        if (not left and not helpers) or time.monotonic() >= deadline:
            return left, helpers
        time.sleep(0.02)


def _kill_leftovers(token: str) -> None:
    for pid in marked(token):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def _owner(token: str) -> tuple[subprocess.Popen[str], int, int]:
    owner = subprocess.Popen([sys.executable, "-c", OWNER, token], stdin=PIPE, stdout=PIPE,
                             text=True)
    helper, guard = json.loads(owner.stdout.readline())  # type: ignore[union-attr]
    return owner, helper, guard


def _stop(owner: subprocess.Popen[str]) -> None:
    owner.kill()
    owner.wait()
    for stream in (owner.stdin, owner.stdout):
        if stream is not None:
            stream.close()


def test_close_kills_whole_trees_within_2_s() -> None:
    """lab.close() returns within 2 s and leaves no descendant, no helper and no guard."""
    token = uuid.uuid4().hex
    ns: dict[str, object] = {}
    exec(BUILD, ns)  # noqa: S102 - our own constant: the builder the other scenarios' owners run
    lab = ns["build"](token)  # type: ignore[operator]
    try:
        procs = _wait_sleeps(token)
        helpers = [lab.helper_pid, lab._proc.pid]
        started = time.monotonic()
        lab.close()
        took = time.monotonic() - started
        left, alive = _wait_gone(token, helpers, 2.0)
        print(f"close(): {len(procs)} marked processes, close took {took:.3f} s, "
              f"{len(left)} left 2 s later")
        assert took < 2.0
        assert left == {} and alive == []
    finally:
        lab.close()
        _kill_leftovers(token)


@pytest.mark.parametrize("victim", ["owner", "helper"])
def test_sigkill_leaves_no_descendant(victim: str) -> None:
    """SIGKILL of the owner, or of the helper itself: 0 descendants and no helper 2 s later."""
    token = uuid.uuid4().hex
    owner, helper, guard = _owner(token)
    try:
        procs = _wait_sleeps(token)
        os.kill(owner.pid if victim == "owner" else helper, signal.SIGKILL)
        left, alive = _wait_gone(token, [helper, guard], 2.0)
        print(f"SIGKILL of the {victim}: {len(procs)} marked processes, {len(left)} left 2 s "
              f"later: {sorted(left.values())[:5]}")
        assert left == {} and alive == []
    finally:
        _stop(owner)
        _kill_leftovers(token)


def test_jupyter_kernel_restart_kills_whole_trees() -> None:
    """A kernel restart SIGKILLs the kernel's whole process group (jupyter_client killpg):
    helper included. The guard, in its own group, still kills every descendant."""
    from jupyter_client.manager import start_new_kernel

    token = uuid.uuid4().hex
    km, kc = start_new_kernel(kernel_name="python3")
    texts: list[str] = []

    def collect(msg: dict) -> None:  # type: ignore[type-arg]
        if msg["msg_type"] == "stream":
            texts.append(msg["content"]["text"])

    try:
        code = BUILD + (f"lab = build({token!r})\n"
                        "print(json.dumps([lab.helper_pid, lab._proc.pid]))")
        reply = kc.execute_interactive(code, timeout=120, output_hook=collect)
        assert reply["content"]["status"] == "ok", reply["content"]
        helpers = json.loads(texts[-1])
        procs = _wait_sleeps(token)
        km.restart_kernel(now=True)
        left, alive = _wait_gone(token, helpers, 2.0)
        print(f"kernel restart: {len(procs)} marked processes, {len(left)} left 2 s later")
        assert left == {} and alive == []
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
        _kill_leftovers(token)


def test_namespace_close_kills_its_trees_and_spares_the_others(need_timens: str) -> None:
    """ns.close() kills the trees started in that namespace (and in one nested in it),
    daemons included, while another namespace's trees keep running."""
    from timens_lab.engine.lab import Lab

    closed, kept = uuid.uuid4().hex, uuid.uuid4().hex
    with Lab() as lab:
        doomed = lab.namespace(monotonic=1)
        nested = doomed.namespace(monotonic=2)
        other = lab.namespace(monotonic=3)
        for ns, token in ((nested, closed), (other, kept)):
            for argv in TREES:
                ns.spawn(argv, env={**os.environ, VAR: token})
        deadline = time.monotonic() + 30
        while min(_sleeps(closed), _sleeps(kept)) < SLEEPS_PER_NS and time.monotonic() < deadline:
            time.sleep(0.05)
        before = marked(kept)
        assert _sleeps(closed) == _sleeps(kept) == SLEEPS_PER_NS
        doomed.close()
        left, _ = _wait_gone(closed, [], 2.0)
        assert left == {}
        assert marked(kept) == before
    _kill_leftovers(closed)
    _kill_leftovers(kept)


def _sleeps(token: str) -> int:
    return sum(c.startswith("sleep 100") for c in marked(token).values())
