"""Real crun containers (root and rootless, with time offsets): discovery and `tree` name them,
and `sample --pid` measures their offsets within 1 µs of /proc/PID/timens_offsets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from timens_lab.discovery.scan import discover
from timens_lab.offsets import NSEC

from ..conftest import as_nobody
from .crun import Crun, need_crun
from .test_discovery import Procs, ino, offsets_of, record, unshare_sleep

pytestmark = pytest.mark.usefixtures("need_timens")
ROOT = os.geteuid() == 0


@pytest.fixture
def crun() -> Iterator[Crun]:
    runtime = Crun(need_crun())
    try:
        yield runtime
    finally:
        runtime.close()


def cli(*args: str, nobody: bool = False) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "timens_lab", *args]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    return subprocess.run(as_nobody(argv) if nobody else argv, capture_output=True, text=True,
                          timeout=120, check=False, cwd="/", env=env)


def test_tree_names_root_and_rootless_crun_containers(crun: Crun) -> None:
    """Each container's namespace (and its member) carries runtime crun and the container's
    name, from crun's state file; offsets are the kernel's; `tree` and `--json` agree."""
    started = []
    if ROOT:
        started.append(crun.start("tl-root", monotonic=86400 * NSEC, boottime=7200 * NSEC + 5,
                                  rootless=False))
    started.append(crun.start("tl-rootless", monotonic=-100 * NSEC,
                              boottime=300000 * NSEC + 123, rootless=True))
    d = discover()
    doc = json.loads(cli("tree", "--json").stdout)
    text = cli("tree").stdout
    for c in started:
        inode = ino(f"/proc/{c.pid}/ns/time")
        ns = record(d, inode)
        assert ns.container is not None
        assert (ns.container.runtime, ns.container.id, ns.container.pid,
                ns.container.source) == ("crun", c.name, c.pid, c.state)
        assert [(p.pid, p.container) for p in ns.members] == [(c.pid, ns.container)]
        assert ns.offsets == offsets_of(c.pid)
        entry = next(n for n in doc["namespaces"] if n["inode"] == inode)
        assert entry["container"] == {"runtime": "crun", "id": c.name, "name": None,
                                      "pid": c.pid, "source": c.state}
        assert entry["members"][0]["container"]["id"] == c.name
        row = next(line for line in text.splitlines() if f"{inode} " in line)
        assert f"crun {c.name}" in row
    if ROOT:  # the rootless one is owned by its own user namespace, the root one by ours
        assert record(d, ino(f"/proc/{started[1].pid}/ns/time")).owner[0] == \
            ino(f"/proc/{started[1].pid}/ns/user")


@pytest.mark.parametrize("rootless", [False, True], ids=["root", "rootless"])
def test_sample_pid_measures_a_container_within_1us(crun: Crun, rootless: bool) -> None:
    """`timens-lab sample --pid <container init>`: measured MONOTONIC and BOOTTIME offsets are
    within 1 µs of /proc/PID/timens_offsets; for the rootless container also when nobody
    samples it (joining the container's user namespace first)."""
    c = crun.start(f"tl-sample-{'rootless' if rootless else 'root'}", monotonic=3 * 86400 * NSEC
                   + 123_456_789, boottime=-5 * NSEC if not rootless else 49 * 86400 * NSEC,
                   rootless=rootless)
    kernel = offsets_of(c.pid)
    runs = [False, True] if rootless and ROOT else [False]
    for nobody in runs:
        done = cli("sample", "--pid", str(c.pid), "--duration", "1", "--clocks",
                   "monotonic,boottime", "--json", nobody=nobody)
        assert done.returncode == 0, done.stderr
        ch = next(ch for ch in json.loads(done.stdout)["channels"] if ch["id"] == f"pid{c.pid}")
        assert ch["ns_inode"] == ino(f"/proc/{c.pid}/ns/time")
        assert ch["label"].endswith(f"[crun {c.name}]")
        measured = {k: ch["offsets"][k]["measured_ns"] for k in ("monotonic", "boottime")}
        assert abs(measured["monotonic"] - kernel.monotonic_ns) <= 1000, (nobody, measured)
        assert abs(measured["boottime"] - kernel.boottime_ns) <= 1000, (nobody, measured)


def test_state_file_names_a_namespace_and_its_members(procs: Procs, tmp_path: Path) -> None:
    """Without crun (and as nobody): a crun-style state file naming a real process labels its
    descendants in their own mount namespace (as a container's are) and their time namespace;
    a process in our mount namespace, and the initial time namespace, never get one."""
    unshare, sleep = unshare_sleep(procs, "-U", "-r", "-m", "--time", "--monotonic", "3")
    start = Path(f"/proc/{unshare}/stat").read_text().rsplit(")", 1)[1].split()[19]
    state = tmp_path / "run" / "crun" / "box"
    state.mkdir(parents=True)
    (state / "status").write_text(json.dumps({"pid": unshare, "process-start-time": int(start)}))
    d = discover(run=str(tmp_path / "run"))
    ns = record(d, ino(f"/proc/{sleep}/ns/time"))
    assert ns.container is not None
    assert (ns.container.runtime, ns.container.id, ns.container.pid) == ("crun", "box", unshare)
    assert d.processes[sleep].container == ns.container      # a descendant of the init
    assert d.processes[unshare].container == ns.container    # the init itself
    assert d.processes[os.getpid()].container is None
    assert all(n.container is None for n in d.namespaces if n.is_initial)
    assert discover(run=str(tmp_path / "nothing")).get(ns.inode).container is None  # type: ignore[union-attr]
