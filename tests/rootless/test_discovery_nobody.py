"""Discovery as uid 65534: an honest partial view — labelled, never guessed, never a crash —
in which nobody's own rootless namespaces are still complete."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import as_nobody, run_py_as_nobody
from timens_lab.discovery.scan import discover
from timens_lab.offsets import NSEC, Offsets

pytestmark = pytest.mark.usefixtures("need_root", "need_timens")

# Runs as nobody: make a rootless namespace, discover, report as JSON, clean up.
AS_NOBODY = textwrap.dedent("""
    import json, os, signal, subprocess, sys, time
    from timens_lab.discovery.scan import discover
    p = subprocess.Popen(["unshare", "-U", "-r", "--time", "--monotonic", "5", "--boottime", "9",
                          "--fork", "--kill-child", "sleep", "60"], start_new_session=True)
    try:
        for _ in range(500):
            kids = open(f"/proc/{p.pid}/task/{p.pid}/children").read().split()
            if kids and open(f"/proc/{kids[0]}/comm").read().strip() == "sleep":
                break
            time.sleep(0.01)
        sleep = int(kids[0])
        inode = os.stat(f"/proc/{sleep}/ns/time").st_ino
        d = discover()
        ns = d.get(inode)
        init = d.get(0xEFFFFFFA)
        print(json.dumps({
            "partial": d.partial, "hidden": d.hidden_pids, "notes": list(d.notes),
            "inodes": [n.inode for n in d.namespaces], "sleep": sleep, "inode": inode,
            "userns": os.stat(f"/proc/{sleep}/ns/user").st_ino,
            "self_userns": os.stat("/proc/self/ns/user").st_ino,
            "ns_id": ns.ns_id, "offsets": [ns.offsets.monotonic_ns, ns.offsets.boottime_ns],
            "owner": list(ns.owner), "members": [m.pid for m in ns.members],
            "ns_partial": list(ns.partial), "init_members": len(init.members),
            "init_uids": sorted({m.uid for m in init.members})}))
        sys.stdout.flush()
        sys.stdin.read()   # keep the namespace alive until the root side has looked too
    finally:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
""")


@pytest.fixture
def root_namespace() -> Iterator[int]:
    """A namespace only root can see: inode of its member's ns/time."""
    p = subprocess.Popen(["unshare", "--time", "--monotonic", "123", "--fork", "--kill-child",
                          "sleep", "60"], start_new_session=True)
    try:
        for _ in range(500):
            kids = Path(f"/proc/{p.pid}/task/{p.pid}/children").read_text().split()
            if kids and Path(f"/proc/{kids[0]}/comm").read_text().strip() == "sleep":
                break
            time.sleep(0.01)
        yield os.stat(f"/proc/{kids[0]}/ns/time").st_ino
    finally:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()


def test_partial_view_as_nobody(root_namespace: int) -> None:
    """Nobody sees its own rootless namespace fully; root's processes are counted as hidden,
    root's namespace is not listed, and root sees the same namespace with the same identity."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env["HOME"] = "/tmp"
    p = subprocess.Popen(as_nobody([sys.executable, "-c", AS_NOBODY]), stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                         cwd="/")
    try:
        assert p.stdout is not None
        line = p.stdout.readline()
        assert line, p.communicate(timeout=30)[1]
        seen = json.loads(line)
        root_view = discover()
    finally:
        _out, err = p.communicate(timeout=30)  # closes stdin: the nobody side cleans up
    assert p.returncode == 0, err
    assert "Traceback" not in err

    # Labelled: partial, with a count and words, not silently shorter.
    assert (seen["partial"], seen["hidden"] > 0) == (True, True)
    assert any("hidden" in note for note in seen["notes"])
    # Not guessed: root's namespace is simply absent from nobody's list.
    assert root_namespace not in seen["inodes"]
    assert root_namespace in {ns.inode for ns in root_view.namespaces}
    # Its own namespace: complete.
    assert seen["ns_partial"] == []
    assert seen["offsets"] == [5 * NSEC, 9 * NSEC]
    assert seen["owner"] == [seen["userns"], seen["self_userns"]]
    assert seen["members"] == [seen["sleep"]]
    # Root sees the same namespace, by the same never-reused id, with the same facts.
    mine = root_view.get(seen["inode"])
    assert mine is not None
    assert (mine.ns_id, mine.offsets, list(mine.owner)) == \
        (seen["ns_id"], Offsets(5 * NSEC, 9 * NSEC), seen["owner"])
    # Nobody's view of the initial namespace holds only what it may see: its own processes.
    init = root_view.get(0xEFFFFFFA)
    assert init is not None
    assert seen["init_members"] < len(init.members)
    assert seen["init_uids"] == [65534]


def test_tree_command_as_nobody() -> None:
    """`timens-lab tree` as nobody: exit 0, a table, and notes on stderr saying what is hidden."""
    result = run_py_as_nobody("from timens_lab.cli import main; raise SystemExit(main(['tree']))")
    assert (result.returncode, "Traceback" in result.stderr) == (0, False)
    assert result.stdout.startswith("NS ")
    assert "note:" in result.stderr
    assert "hidden" in result.stderr


def test_json_as_nobody_is_marked_partial() -> None:
    """The JSON says partial and counts hidden processes."""
    result = run_py_as_nobody(
        "from timens_lab.cli import main; raise SystemExit(main(['tree', '--json']))")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert (doc["partial"], doc["hidden_pids"] > 0, doc["version"]) == (True, True, 1)
