"""Discovery corner cases: a namespace held only by an fd opened through its (lazily unmounted)
bind mount, checked against lsfd; a pending namespace a process entered and left, checked by a
write attempt; which path names a bind mount seen from two mount namespaces."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from timens_lab.commands.tree import as_json, state_text
from timens_lab.discovery.scan import Scanner, discover
from timens_lab.offsets import NSEC, Offsets

from .test_discovery import Procs, ino, needs_root, record, wait_for

pytestmark = pytest.mark.usefixtures("need_timens")


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A private tmpfs to bind namespaces onto (nsfs bind mounts need a mount to live on)."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "timens-lab-test", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-R", "-l", str(mnt)], check=False)


def lsfd_row(pid: int, fd: int) -> dict[str, str]:
    """util-linux lsfd's view of one fd (it stat()s through /proc/PID/fd/N, as discovery does)."""
    out = subprocess.run(["lsfd", "-J", "-p", str(pid), "-o", "ASSOC,INODE,SOURCE,NAME"],
                         capture_output=True, text=True, check=True).stdout
    rows = json.loads(out)["lsfd"]
    return next(r for r in rows if str(r["assoc"]) == str(fd))


@needs_root
def test_fd_through_a_lazily_unmounted_bind_mount_is_found(procs: Procs, tmpfs: Path) -> None:
    """Opened through `unshare --time=FILE`'s bind mount, then `umount -l` (as `ip netns
    delete`): the fd reads as "/", not time:[N], and is the only holder; lsfd agrees."""
    target = tmpfs / "ns"
    target.touch()
    subprocess.run(["unshare", f"--time={target}", "--monotonic", "321", "--boottime", "654",
                    "true"], check=True)
    inode = ino(str(target))
    keeper = procs.start([sys.executable, "-c", textwrap.dedent(f"""
        import os, sys
        fd = os.open({str(target)!r}, os.O_RDONLY)
        print(fd, flush=True)
        sys.stdin.read()
    """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert keeper.stdout is not None
    fd = int(keeper.stdout.readline())
    subprocess.run(["umount", "-l", str(target)], check=True)
    assert os.readlink(f"/proc/{keeper.pid}/fd/{fd}") == "/"  # the hard case: no time:[N]
    row = lsfd_row(keeper.pid, fd)
    nsfs = os.stat("/proc/self/ns/time").st_dev
    assert (int(row["inode"]), row["source"]) == \
        (inode, f"{os.major(nsfs)}:{os.minor(nsfs)}")
    ns = record(discover(), inode)
    assert (ns.state, ns.sources, ns.fds, ns.mounts) == ("held", ("fd",), ((keeper.pid, fd),), ())
    assert (ns.offsets, ns.offsets_via) == (Offsets(321 * NSEC, 654 * NSEC), "setns")


@needs_root
def test_fd_through_a_mounted_bind_mount_is_found(procs: Procs, tmpfs: Path) -> None:
    """Still mounted, the fd reads as the mount's path: found as an fd and a mount."""
    target = tmpfs / "ns"
    target.touch()
    subprocess.run(["unshare", f"--time={target}", "--monotonic", "5", "true"], check=True)
    keeper = procs.start([sys.executable, "-c", f"import os,sys; print(os.open({str(target)!r}, "
                          "os.O_RDONLY), flush=True); sys.stdin.read()"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert keeper.stdout is not None
    fd = int(keeper.stdout.readline())
    assert os.readlink(f"/proc/{keeper.pid}/fd/{fd}") == str(target)
    ns = record(discover(), ino(str(target)))
    assert (ns.sources, ns.fds, ns.mounts) == (("fd", "mount"), ((keeper.pid, fd),), (str(target),))


def test_entered_and_left_is_not_reported_writable(procs: Procs) -> None:
    """A pending namespace whose first member came and went is frozen (a write gives EACCES): a
    fresh scan says it cannot tell (frozen null, "pending?"), a scanner that saw the member says
    held and frozen."""
    holder = procs.holder()
    assert holder.stdin is not None
    assert holder.stdout is not None
    inode = ino(f"/proc/{holder.pid}/ns/time_for_children")
    watcher = Scanner()
    assert record(watcher.scan(), inode).state == "pending"

    def say(cmd: str) -> str:
        holder.stdin.write(cmd + "\n")  # type: ignore[union-attr]
        holder.stdin.flush()  # type: ignore[union-attr]
        return holder.stdout.readline().strip()  # type: ignore[union-attr]

    member = int(say("f"))
    assert [p.pid for p in record(watcher.scan(), inode).members] == [member]
    assert say("k") == "ok"
    fresh = record(discover(), inode)
    seen = record(watcher.scan(), inode)
    assert say("w 1 1") == "errno 13"  # EACCES: the kernel froze it at the member's entry
    assert (fresh.state, fresh.frozen, state_text(fresh)) == ("pending", None, "pending?")
    assert (seen.state, seen.frozen, state_text(seen)) == ("held", True, "held")
    doc = next(n for n in as_json(discover())["namespaces"] if n["inode"] == inode)
    assert doc["frozen"] is None


def test_tree_help_says_pending_may_be_frozen() -> None:
    """`tree --help` does not promise that a namespace without members is writable."""
    text = subprocess.run([sys.executable, "-m", "timens_lab", "tree", "--help"],
                          capture_output=True, text=True, check=True).stdout
    assert "pending?" in text
    assert "entered and left" in " ".join(text.split())


@needs_root
def test_own_mount_path_is_preferred(procs: Procs, tmpfs: Path) -> None:
    """A bind mount also seen in another mount namespace is named by our own path first (the
    /proc/PID/root/... copy sorts before it alphabetically)."""
    target = tmpfs / "ns"
    target.touch()
    subprocess.run(["unshare", f"--time={target}", "--monotonic", "9", "true"], check=True)
    other = procs.start(["unshare", "-m", "--propagation", "private", "sleep", "60"])

    def copied() -> bool:
        try:
            return os.readlink(f"/proc/{other.pid}/ns/mnt") != os.readlink("/proc/self/ns/mnt") \
                and Path(f"/proc/{other.pid}/comm").read_text().strip() == "sleep"
        except OSError:
            return False
    wait_for("the second mount namespace", copied)
    ns = record(discover(), ino(str(target)))
    assert ns.mounts[0] == str(target)
    assert f"/proc/{other.pid}/root{target}" in ns.mounts
    text = subprocess.run([sys.executable, "-m", "timens_lab", "tree"], capture_output=True,
                          text=True, check=True).stdout
    row = next(line for line in text.splitlines() if f"{ns.inode} " in line)
    assert f"(bind mount {target})" in row
