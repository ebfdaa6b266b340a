"""discover() against namespaces made by util-linux, by hand and by the Lab, checked with lsns,
nsenter and /proc read directly (root, or rootless when run as nobody by tests/rootless)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from timens_lab.discovery import trees
from timens_lab.discovery.scan import Discovery, NamespaceInfo, discover
from timens_lab.discovery.watch import Watcher
from timens_lab.offsets import NSEC, Offsets

pytestmark = pytest.mark.usefixtures("need_timens")
ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="needs root (plain CLONE_NEWTIME, mount)")

# A process that unshares and waits, so the namespace stays *pending* (it must not exec:
# exec would move it inside, kernel-timens.md finding 1). Commands on stdin: "w M B" rewrites
# the offsets, "f" forks a member, "k" kills it; EOF ends it.
HOLDER = textwrap.dedent("""
    import ctypes, os, signal, sys
    libc = ctypes.CDLL(None, use_errno=True)
    flags = 0x80 if os.geteuid() == 0 else 0x10000080   # CLONE_NEWTIME [| CLONE_NEWUSER]
    if libc.unshare(flags) != 0:
        sys.exit(f"unshare: {os.strerror(ctypes.get_errno())}")
    def write(m, b):
        fd = os.open("/proc/self/timens_offsets", os.O_WRONLY)
        try:
            os.write(fd, f"monotonic {m} 0\\nboottime {b} 0\\n".encode())
        finally:
            os.close(fd)
    write(3600, 7200)
    print("ready", flush=True)
    child = None
    for line in sys.stdin:
        cmd = line.split()
        try:
            if cmd[0] == "w":
                write(*cmd[1:]); print("ok", flush=True)
            elif cmd[0] == "f":
                child = os.fork()
                if child == 0:
                    signal.pause(); os._exit(0)
                print(child, flush=True)
            elif cmd[0] == "k":
                os.kill(child, signal.SIGKILL); os.waitpid(child, 0); print("ok", flush=True)
        except OSError as err:
            print(f"errno {err.errno}", flush=True)
""")


class Procs:
    """Every process a test starts, each in its own session; all killed at teardown."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen[str]] = []

    def start(self, argv: list[str], **kw: Any) -> subprocess.Popen[str]:
        p = subprocess.Popen(argv, start_new_session=True, text=True, **kw)
        self.started.append(p)
        return p

    def holder(self) -> subprocess.Popen[str]:
        p = self.start([sys.executable, "-c", HOLDER], stdin=subprocess.PIPE,
                       stdout=subprocess.PIPE)
        assert p.stdout is not None
        assert p.stdout.readline().strip() == "ready"
        return p

    def close(self) -> None:
        for p in reversed(self.started):
            with contextlib.suppress(ProcessLookupError):  # our own session: it and its children
                os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=10)
            for stream in (p.stdin, p.stdout):
                if stream is not None:
                    stream.close()


def wait_for(what: str, check: Callable[[], Any], timeout: float = 10) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.02)
    pytest.fail(f"timed out waiting for {what}")


def child_of(pid: int, comm: str) -> int:
    """The child of ``pid`` once it runs ``comm`` (util-linux unshare --fork: after exec)."""
    def find() -> int | None:
        try:
            kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            for kid in kids:
                if Path(f"/proc/{kid}/comm").read_text().strip() == comm:
                    return int(kid)
        except OSError:
            pass
        return None
    return int(wait_for(f"{comm} under {pid}", find))


def ino(path: str) -> int:
    return os.stat(path).st_ino


def offsets_of(pid: int) -> Offsets:
    """Independent read: the kernel's own file, parsed by offsets.Offsets."""
    return Offsets.from_proc(Path(f"/proc/{pid}/timens_offsets").read_text())


def record(d: Discovery, inode: int) -> NamespaceInfo:
    ns = d.get(inode)
    assert ns is not None, f"namespace {inode} not discovered"
    return ns


def unshare_sleep(procs: Procs, *args: str) -> tuple[int, int]:
    """util-linux ``unshare ARGS --fork --kill-child sleep 60``: (unshare pid, sleep pid)."""
    p = procs.start(["unshare", *args, "--fork", "--kill-child", "sleep", "60"])
    return p.pid, child_of(p.pid, "sleep")


def lsns() -> dict[int, int]:
    out = subprocess.run(["lsns", "-t", "time", "-J"], capture_output=True, text=True,
                         check=True).stdout
    return {int(n["ns"]): int(n["nprocs"])
            for n in json.loads(out or '{"namespaces": []}')["namespaces"]}


def counts(d: Discovery) -> dict[int, int]:
    return {ns.inode: len(ns.members) for ns in d.namespaces if ns.members}


# --- namespaces made by others


@needs_root
def test_util_linux_root_namespace(procs: Procs) -> None:
    """unshare --time --monotonic 123 --boottime 456: offsets, owner, member and holder."""
    unshare, sleep = unshare_sleep(procs, "--time", "--monotonic", "123", "--boottime", "456")
    ns = record(discover(), ino(f"/proc/{sleep}/ns/time"))
    assert offsets_of(sleep) == ns.offsets == Offsets(123 * NSEC, 456 * NSEC)
    assert (ns.state, ns.frozen, [p.pid for p in ns.members], ns.holders) == \
        ("active", True, [sleep], (unshare,))
    assert ns.owner == (ino("/proc/self/ns/user"),)
    assert ns.ns_id is not None
    assert ns.partial == ()


def test_util_linux_rootless_namespace(procs: Procs) -> None:
    """unshare -U -r --time: owned by its new user namespace, whose parent is ours."""
    _, sleep = unshare_sleep(procs, "-U", "-r", "--time", "--monotonic", "5", "--boottime", "9")
    d = discover()
    ns = record(d, ino(f"/proc/{sleep}/ns/time"))
    userns = ino(f"/proc/{sleep}/ns/user")
    assert ns.owner == (userns, ino("/proc/self/ns/user"))
    assert offsets_of(sleep) == ns.offsets == Offsets(5 * NSEC, 9 * NSEC)
    assert [p.pid for p in ns.members] == [sleep]
    assert (d.user_namespaces[userns].parent, d.user_namespaces[userns].owner_uid) == \
        (ino("/proc/self/ns/user"), os.geteuid())
    assert ns.partial == ()


@needs_root
def test_bind_mounted_namespace(procs: Procs, tmp_path: Path) -> None:
    """unshare --time=FILE then exit: held by the mount alone, offsets read by setns."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "timens-lab-test", str(mnt)], check=True)
    target = mnt / "ns"
    try:
        target.touch()
        subprocess.run(["unshare", f"--time={target}", "--monotonic", "500", "--boottime", "7000",
                        "true"], check=True)
        ns = record(discover(), ino(str(target)))
        seen = subprocess.run(["nsenter", f"--time={target}", "cat", "/proc/self/timens_offsets"],
                              capture_output=True, text=True, check=True).stdout
        assert Offsets.from_proc(seen) == ns.offsets == Offsets(500 * NSEC, 7000 * NSEC)
        assert (ns.state, ns.sources, ns.mounts, ns.offsets_via) == \
            ("held", ("mount",), (str(target),), "setns")
        assert ns.members == ()
        assert ns.inode not in lsns()
    finally:
        subprocess.run(["umount", str(target)], check=False)
        subprocess.run(["umount", str(mnt)], check=True)


def test_pending_namespace(procs: Procs) -> None:
    """unshare without fork: pending, found through time_for_children, invisible to lsns, and
    discovery does not freeze it (its offsets can still be rewritten afterwards)."""
    holder = procs.holder()
    inode = ino(f"/proc/{holder.pid}/ns/time_for_children")
    ns = record(discover(), inode)
    assert (ns.state, ns.frozen, ns.members, ns.holders, ns.sources) == \
        ("pending", None, (), (holder.pid,), ("time_for_children",))
    assert ns.offsets == offsets_of(holder.pid) == Offsets(3600 * NSEC, 7200 * NSEC)
    assert inode not in lsns()
    assert holder.stdin is not None
    assert holder.stdout is not None
    holder.stdin.write("w 60 70\n")
    holder.stdin.flush()
    assert holder.stdout.readline().strip() == "ok"
    assert record(discover(), inode).offsets == Offsets(60 * NSEC, 70 * NSEC)


@needs_root
def test_thread_holds_a_pending_namespace(procs: Procs) -> None:
    """A thread that unshared holds a namespace its leader's links do not show."""
    code = textwrap.dedent("""
        import ctypes, os, threading
        libc = ctypes.CDLL(None, use_errno=True)
        def run():
            assert libc.unshare(0x80) == 0
            tid = threading.get_native_id()
            fd = os.open(f"/proc/{tid}/timens_offsets", os.O_WRONLY)
            os.write(fd, b"monotonic 11 0\\nboottime 22 0\\n"); os.close(fd)
            print(tid, flush=True)
            threading.Event().wait()
        threading.Thread(target=run, daemon=True).start()
        threading.Event().wait()
    """)
    p = procs.start([sys.executable, "-c", code], stdout=subprocess.PIPE)
    assert p.stdout is not None
    tid = int(p.stdout.readline())
    ns = record(discover(), ino(f"/proc/{p.pid}/task/{tid}/ns/time_for_children"))
    assert (ns.state, ns.sources, ns.threads, ns.offsets_via) == \
        ("pending", ("thread",), ((p.pid, tid),), f"tid {tid}")
    assert ns.offsets == Offsets(11 * NSEC, 22 * NSEC)


def test_namespace_held_by_an_fd(procs: Procs) -> None:
    """When its last process exits, an open fd keeps it: state held, source fd."""
    group, sleep = unshare_sleep(procs, "-U", "-r", "--time", "--monotonic", "42")
    keeper = procs.start([sys.executable, "-c", textwrap.dedent(f"""
        import os, sys
        fd = os.open("/proc/{sleep}/ns/time", os.O_RDONLY)
        print(fd, flush=True)
        sys.stdin.read()
    """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert keeper.stdout is not None
    fd = int(keeper.stdout.readline())
    inode = ino(f"/proc/{sleep}/ns/time")
    os.killpg(group, signal.SIGKILL)
    wait_for("sleep to exit", lambda: not Path(f"/proc/{sleep}").exists())
    ns = record(discover(), inode)
    assert (ns.state, ns.sources, ns.fds, ns.members) == ("held", ("fd",), ((keeper.pid, fd),), ())
    if ROOT:
        assert (ns.offsets, ns.offsets_via) == (Offsets(42 * NSEC, 0), "setns")
    else:  # entering needs CAP_SYS_ADMIN in our own user namespace too: say so, don't guess
        assert ns.offsets is None
        assert any("offsets unreadable" in r for r in ns.partial)


# --- the independent source


def test_set_and_process_counts_agree_with_lsns(procs: Procs) -> None:
    """Namespaces with members and their process counts equal lsns -t time -J (which also
    counts itself, in our time_for_children namespace); pending ones are extra."""
    unshare_sleep(procs, "-U", "-r", "--time")
    unshare_sleep(procs, "-U", "-r", "--time", "--monotonic", "7")
    pending = procs.holder()
    own = ino("/proc/self/ns/time_for_children")
    for _ in range(20):  # other tests may start or end processes meanwhile: wait for calm
        d1, theirs, d2 = discover(), lsns(), discover()
        if counts(d1) != counts(d2):
            continue
        expected = counts(d1)
        expected[own] = expected.get(own, 0) + 1
        if theirs == expected:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"never agreed with lsns: ours {counts(d1)}, lsns {theirs}")
    extra = {ns.inode for ns in d1.namespaces} - set(theirs)
    assert ino(f"/proc/{pending.pid}/ns/time_for_children") in extra
    assert all(d1.get(i).members == () for i in extra)  # type: ignore[union-attr]


# --- watching, trees and the command


def test_watch_sees_the_life_of_a_namespace(procs: Procs) -> None:
    """appeared (pending) → frozen + member_joined → member_left → vanished."""
    holder = procs.holder()
    assert holder.stdin is not None
    assert holder.stdout is not None
    inode = ino(f"/proc/{holder.pid}/ns/time_for_children")
    w = Watcher()
    first = [e for e in w.poll() if e.inode == inode]
    assert [(e.kind, e.state) for e in first] == [("appeared", "pending")]

    def mine() -> list[tuple[str, int | None]]:
        return [(e.kind, e.pid) for e in w.poll() if e.inode == inode]

    holder.stdin.write("f\n")
    holder.stdin.flush()
    member = int(holder.stdout.readline())
    assert mine() == [("frozen", None), ("member_joined", member)]
    holder.stdin.write("k\n")
    holder.stdin.flush()
    assert holder.stdout.readline().strip() == "ok"
    assert mine() == [("member_left", member)]
    holder.stdin.close()
    holder.wait(timeout=10)
    assert mine() == [("vanished", None)]


def test_lineage_and_owner_trees(procs: Procs) -> None:
    """A rootless namespace hangs under its user namespace (owner) and under ours (lineage),
    its offsets marked as set, not inherited."""
    _, sleep = unshare_sleep(procs, "-U", "-r", "--time", "--monotonic", "5")
    inode, userns = ino(f"/proc/{sleep}/ns/time"), ino(f"/proc/{sleep}/ns/user")
    d = discover()
    owner = trees.owner_tree(d)
    assert owner.nodes[f"time:{inode}"].parent == f"user:{userns}"
    assert owner.nodes[f"pid:{sleep}"].parent == f"time:{inode}"
    lineage = trees.lineage_tree(d)
    node = lineage.nodes[f"time:{inode}"]
    assert node.parent == f"time:{ino('/proc/self/ns/time')}"
    assert node.detail.startswith("monotonic +5s set, boottime 0 inherited")


def test_lab_namespaces_and_spawn_hints(lab: Any) -> None:
    """The engine's namespaces are found with their offsets; its lineage hints place a nested
    namespace under its parent."""
    outer = lab.namespace(monotonic="1h", boottime="2d")
    inner = outer.namespace(monotonic="2h")
    child = inner.spawn(["sleep", "60"])
    try:
        d = discover()
        assert record(d, outer.inode).offsets == Offsets(3600 * NSEC, 2 * 86400 * NSEC)
        assert [p.pid for p in record(d, inner.inode).members] == [child.pid]
        tree = trees.lineage_tree(d, lab.lineage())
        assert tree.nodes[f"time:{inner.inode}"].parent == f"time:{outer.inode}"
    finally:
        child.kill()
        child.wait()


def test_tree_command(procs: Procs) -> None:
    """`timens-lab tree` shows the namespace with +2m3s/+7m36s; --json documents the same."""
    _, sleep = unshare_sleep(procs, "-U", "-r", "--time", "--monotonic", "123", "--boottime",
                             "456")
    inode = ino(f"/proc/{sleep}/ns/time")
    run = [sys.executable, "-m", "timens_lab", "tree"]
    text = subprocess.run(run, capture_output=True, text=True, check=True).stdout
    row = next(line for line in text.splitlines() if f"{inode} " in line)
    assert "+2m3s/+7m36s" in row
    doc = json.loads(subprocess.run([*run, "--json", "--by", "lineage"], capture_output=True,
                                    text=True, check=True).stdout)
    ns = next(n for n in doc["namespaces"] if n["inode"] == inode)
    assert (doc["version"], ns["offsets"]["monotonic"], ns["nprocs"]) == (1, "+2m3s", 1)


def test_tree_watch_command_exits_after_count() -> None:
    """--watch --json prints the document, then one JSON line per event; --count stops it."""
    out = subprocess.run([sys.executable, "-m", "timens_lab", "tree", "--watch", "--json",
                          "--interval", "0.05", "--count", "2"], capture_output=True, text=True,
                         check=True, timeout=60).stdout.splitlines()
    assert json.loads(out[0])["version"] == 1
    assert all(json.loads(line)["event"] for line in out[1:])
