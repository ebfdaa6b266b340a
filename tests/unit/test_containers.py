"""containers.py on fake /proc and /run trees: every runtime's state file, cgroup path and
supervising process, pid reuse, and what stays unknown."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from timens_lab.discovery.containers import Container, ContainerIndex, from_ancestor, from_cgroup

DOCKER_ID = "3f2a" + "0" * 60


def proc_entry(proc: Path, pid: int, *, ppid: int = 1, comm: str = "sh", start: int = 100,
               cgroup: str = "0::/user.slice\n", argv: tuple[str, ...] = ()) -> None:
    d = proc / str(pid)
    d.mkdir(parents=True)
    # proc_pid_stat(5): pid (comm) state ppid ... num_threads(20) itrealvalue(21) starttime(22)
    fields = ["S", str(ppid)] + ["0"] * 15 + ["1", "0", str(start)] + ["0"] * 20
    (d / "stat").write_text(f"{pid} ({comm}) {' '.join(fields)}\n")
    (d / "comm").write_text(comm + "\n")
    (d / "cgroup").write_text(cgroup)
    (d / "cmdline").write_bytes(b"\0".join(a.encode() for a in (argv or (comm,))) + b"\0")


@pytest.fixture
def roots(tmp_path: Path) -> tuple[Path, Path]:
    return tmp_path / "proc", tmp_path / "run"


class TestCgroupPaths:
    @pytest.mark.parametrize(("text", "expected"), [
        (f"0::/system.slice/docker-{DOCKER_ID}.scope\n", ("docker", DOCKER_ID)),
        (f"12:memory:/docker/{DOCKER_ID}\n0::/\n", ("docker", DOCKER_ID)),
        (f"0::/machine.slice/libpod-{DOCKER_ID}.scope/container\n", ("podman", DOCKER_ID)),
        (f"0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{DOCKER_ID}.scope\n",
         ("podman", DOCKER_ID)),
        (f"0::/kubepods.slice/kubepods-pod1.slice/cri-containerd-{DOCKER_ID}.scope\n",
         ("containerd", DOCKER_ID)),
        (f"0::/kubepods.slice/crio-{DOCKER_ID}.scope\n", ("cri-o", DOCKER_ID)),
        ("0::/lxc.payload.web/init.scope\n", ("lxc", "web")),
        ("4:memory:/lxc/db\n", ("lxc", "db")),
        ("0::/machine.slice/machine-my\\x2dbox.scope/payload\n", ("systemd-nspawn", "my-box")),
    ])
    def test_known_runtimes(self, text: str, expected: tuple[str, str]) -> None:
        """Each runtime's cgroup naming gives its runtime and id."""
        c = from_cgroup(text)
        assert c is not None
        assert expected == (c.runtime, c.id)
        assert c.source.startswith("cgroup /")

    @pytest.mark.parametrize("text", ["0::/\n", "0::/user.slice/user-0.slice/session-1.scope\n",
                                      "4:memory:/process_api/993edcca\n", "", "garbage"])
    def test_not_a_container(self, text: str) -> None:
        """Ordinary cgroups are not containers."""
        assert from_cgroup(text) is None


class TestAncestors:
    def test_conmon_names_a_podman_container(self) -> None:
        """conmon's -c/-n argv carries Podman's id and name."""
        c = from_ancestor("conmon", ["conmon", "--api-version", "1", "-c", DOCKER_ID, "-n", "web"],
                          10)
        assert c == Container("podman", DOCKER_ID, "web", None, "ancestor 10 conmon")
        assert c.label == f"podman web ({DOCKER_ID[:12]})"

    def test_shim_namespace_moby_is_docker(self) -> None:
        """containerd-shim-runc-v2 in namespace moby is Docker; any other is containerd."""
        argv = ["containerd-shim-runc-v2", "-namespace", "moby", "-id", DOCKER_ID, "-address", "x"]
        assert from_ancestor("containerd-shim", argv, 5).runtime == "docker"  # type: ignore[union-attr]
        argv[2] = "k8s.io"
        assert from_ancestor("containerd-shim", argv, 5).runtime == "containerd"  # type: ignore[union-attr]

    def test_nspawn_and_lxc(self) -> None:
        """systemd-nspawn -M NAME and lxc-start -n NAME."""
        assert from_ancestor("systemd-nspawn", ["systemd-nspawn", "-M", "box", "-D", "/x"],
                             3).id == "box"  # type: ignore[union-attr]
        assert from_ancestor("lxc-start", ["lxc-start", "-n", "c1"], 3).id == "c1"  # type: ignore[union-attr]
        assert from_ancestor("bash", ["bash"], 3) is None


class TestIndex:
    def test_crun_state_file_and_descendants(self, roots: tuple[Path, Path]) -> None:
        """/run/crun/ID/status names its init and every descendant; others are not in it."""
        proc, run = roots
        (run / "crun" / "web").mkdir(parents=True)
        (run / "crun" / "web" / "status").write_text(json.dumps(
            {"pid": 40, "process-start-time": 555}))
        proc_entry(proc, 40, start=555, comm="sleep")
        proc_entry(proc, 41, ppid=40)
        proc_entry(proc, 42, ppid=41)
        proc_entry(proc, 50)
        idx = ContainerIndex(str(proc), str(run))
        web = Container("crun", "web", None, 40, f"{run}/crun/web/status")
        assert [idx.of(p) for p in (40, 41, 42, 50)] == [web, web, web, None]

    def test_rootless_crun_and_runc_state(self, roots: tuple[Path, Path]) -> None:
        """/run/user/UID/crun and runc's state.json (init_process_pid), Docker's runc copy."""
        proc, run = roots
        (run / "user" / "1000" / "crun" / "mine").mkdir(parents=True)
        (run / "user" / "1000" / "crun" / "mine" / "status").write_text('{"pid": 60}')
        (run / "runc" / "r1").mkdir(parents=True)
        (run / "runc" / "r1" / "state.json").write_text(
            '{"init_process_pid": 70, "init_process_start": 9}')
        (run / "docker" / "runtime-runc" / "moby" / DOCKER_ID).mkdir(parents=True)
        (run / "docker" / "runtime-runc" / "moby" / DOCKER_ID / "state.json").write_text(
            '{"init_process_pid": 80}')
        proc_entry(proc, 60)
        proc_entry(proc, 70, start=9)
        proc_entry(proc, 80)
        idx = ContainerIndex(str(proc), str(run))
        assert [(idx.of(p).runtime, idx.of(p).id) for p in (60, 70, 80)] == [  # type: ignore[union-attr]
            ("crun", "mine"), ("runc", "r1"), ("docker", DOCKER_ID)]

    def test_reused_pid_is_not_the_container(self, roots: tuple[Path, Path]) -> None:
        """A state file whose pid now belongs to a process started at another time is stale."""
        proc, run = roots
        (run / "crun" / "old").mkdir(parents=True)
        (run / "crun" / "old" / "status").write_text('{"pid": 40, "process-start-time": 1}')
        proc_entry(proc, 40, start=999)
        assert ContainerIndex(str(proc), str(run)).of(40) is None

    def test_containerd_task_and_nspawn_machine(self, roots: tuple[Path, Path]) -> None:
        """containerd's init.pid and /run/systemd/machines/NAME LEADER=."""
        proc, run = roots
        task = run / "containerd" / "io.containerd.runtime.v2.task" / "default" / "c9"
        task.mkdir(parents=True)
        (task / "init.pid").write_text("90")
        (run / "systemd" / "machines").mkdir(parents=True)
        (run / "systemd" / "machines" / "box").write_text("NAME=box\nLEADER=95\nCLASS=container\n"
                                                          "SERVICE=systemd-nspawn\n")
        (run / "systemd" / "machines" / "unit:machine-box.scope").write_text("")
        proc_entry(proc, 90)
        proc_entry(proc, 95)
        idx = ContainerIndex(str(proc), str(run))
        assert (idx.of(90).runtime, idx.of(90).id) == ("containerd", "c9")  # type: ignore[union-attr]
        assert (idx.of(95).runtime, idx.of(95).name) == ("systemd-nspawn", "box")  # type: ignore[union-attr]

    def test_cgroup_then_ancestry(self, roots: tuple[Path, Path]) -> None:
        """Without state files: the cgroup names Docker; a conmon grandparent names Podman."""
        proc, run = roots
        proc_entry(proc, 30, cgroup=f"0::/system.slice/docker-{DOCKER_ID}.scope\n")
        proc_entry(proc, 20, comm="conmon", argv=("conmon", "-c", "abc", "-n", "db"))
        proc_entry(proc, 21, ppid=20)
        proc_entry(proc, 22, ppid=21)
        idx = ContainerIndex(str(proc), str(run))
        assert idx.of(30).runtime == "docker"  # type: ignore[union-attr]
        assert (idx.of(22).runtime, idx.of(22).name) == ("podman", "db")  # type: ignore[union-attr]

    def test_corrupt_state_is_ignored(self, roots: tuple[Path, Path]) -> None:
        """Garbage in a state file is no container, and no exception."""
        proc, run = roots
        (run / "crun" / "x").mkdir(parents=True)
        (run / "crun" / "x" / "status").write_text("{not json")
        (run / "runc" / "y").mkdir(parents=True)
        (run / "runc" / "y" / "state.json").write_text('["a list"]')
        proc_entry(proc, 5)
        assert ContainerIndex(str(proc), str(run)).of(5) is None
