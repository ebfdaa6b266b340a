"""Sampling namespaces we did not create: a pending one is refused (and stays writable) unless
--freeze / freeze=True, which says so before entering; bad pids and files are bad input."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from timens_lab.errors import NoSuchNamespaceError, PendingNamespaceError
from timens_lab.offsets import NSEC
from timens_lab.session.foreign import join, look

from .test_discovery import Procs, ino, offsets_of, unshare_sleep

pytestmark = pytest.mark.usefixtures("need_timens")


def say(holder: subprocess.Popen[str], cmd: str) -> str:
    assert holder.stdin is not None
    assert holder.stdout is not None
    holder.stdin.write(cmd + "\n")
    holder.stdin.flush()
    return holder.stdout.readline().strip()


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "timens_lab", *args], capture_output=True,
                          text=True, timeout=120, check=False)


def test_cli_refuses_to_freeze_a_pending_namespace(procs: Procs) -> None:
    """`sample --ns-file` of a pending namespace: error + hint, exit 2, and its offsets can
    still be written afterwards (nothing entered it)."""
    holder = procs.holder()
    path = f"/proc/{holder.pid}/ns/time_for_children"
    done = cli("sample", "--ns-file", path, "--duration", "0.2")
    lines = done.stderr.splitlines()
    assert done.returncode == 2, done.stderr
    assert lines[0].startswith("error: ") and "pending" in lines[0]
    assert lines[1].startswith("hint: ") and "--freeze" in lines[1]
    assert "Traceback" not in done.stderr
    assert say(holder, "w 11 22") == "ok"
    assert offsets_of(holder.pid).monotonic_ns == 11 * NSEC


def test_cli_freeze_says_so_first_and_freezes(procs: Procs) -> None:
    """With --freeze it is sampled, a note on stderr came before the report, and afterwards the
    kernel refuses a write (EACCES): frozen, as announced."""
    holder = procs.holder()
    path = f"/proc/{holder.pid}/ns/time_for_children"
    done = cli("sample", "--ns-file", path, "--freeze", "--duration", "0.3", "--json")
    assert done.returncode == 0, done.stderr
    assert "entering anyway" in done.stderr.splitlines()[0]
    assert say(holder, "w 1 1") == "errno 13"


def test_join_refuses_pending_then_freezes_when_asked(lab: Any, procs: Procs) -> None:
    """The Python API: PendingNamespaceError, then freeze=True warns before entering."""
    holder = procs.holder()
    path = f"/proc/{holder.pid}/ns/time_for_children"
    with pytest.raises(PendingNamespaceError) as err:
        join(lab, path=path)
    assert err.value.hint and "freeze" in err.value.hint
    assert say(holder, "w 5 6") == "ok"
    said: list[str] = []
    ns = join(lab, path=path, freeze=True, warn=said.append)
    assert len(said) == 1 and "pending" in said[0]
    assert ns.inode == ino(path)
    assert (ns.offsets.monotonic_ns, ns.offsets.boottime_ns) == (5 * NSEC, 6 * NSEC)  # type: ignore[union-attr]
    with ns.sampler(rate=100):
        pass
    assert say(holder, "w 7 7") == "errno 13"


def test_join_by_pid_and_mixing_with_ns(procs: Procs) -> None:
    """--pid and --ns mix: one channel per namespace, the joined one labelled by its process."""
    _, sleep = unshare_sleep(procs, "-U", "-r", "--time", "--monotonic", "77")
    done = cli("sample", "--ns", "monotonic=1h", "--pid", str(sleep), "--duration", "0.5")
    assert done.returncode == 0, done.stderr
    assert f"pid{sleep}  time:[{ino(f'/proc/{sleep}/ns/time')}]" in done.stdout
    assert f"pid {sleep} sleep" in done.stdout
    assert "ns1  time:[" in done.stdout


def test_bad_targets_are_bad_input() -> None:
    """A pid that does not exist, a file that is not there: exit 2 with a hint, nothing left."""
    for args in (["--pid", "999999999"], ["--ns-file", "/nonexistent/ns"]):
        done = cli("sample", *args, "--duration", "0.1")
        assert done.returncode == 2, done.stderr
        assert done.stderr.startswith("error: ") and "\nhint: " in done.stderr
    with pytest.raises(NoSuchNamespaceError):
        look(pid=999999999)
    with pytest.raises(NoSuchNamespaceError):
        look(path="/nonexistent/ns")
