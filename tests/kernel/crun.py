"""Real crun containers for tests: a busybox rootfs, a config with a time namespace and offsets,
started detached as root or rootless (as nobody), deleted at teardown.

crun 1.8.1 (Debian 12) sets offsets from the annotation ``run.oci.timens_offset``, written
verbatim to /proc/self/timens_offsets (src/libcrun/linux.c at tag 1.8.1: ``write_file
("/proc/self/timens_offsets", v, strlen (v))``); later crun reads the spec's
``linux.timeOffsets``, so both are set. Two quirks of that version on this kind of host:

* A new PID namespace together with a time namespace kills the container at start (crun forks
  the container's first process, PID 1 of the new PID namespace exits, and the kernel kills the
  namespace): the config keeps the host's PID namespace.
* On a hybrid cgroup host (v1 hierarchies plus v2 at /sys/fs/cgroup/unified with a controller)
  crun refuses to run at all, even with ``--cgroup-manager=disabled``: the container is started
  from a private mount namespace in which /sys/fs/cgroup/unified is unmounted.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

import pytest

NOBODY = 65534
HYBRID = Path("/sys/fs/cgroup/unified/cgroup.controllers")
BUSYBOX = ("/bin/busybox", "/usr/bin/busybox")


def need_crun() -> str:
    """crun's path; skip (FAIL under CI=true) when crun or a static busybox is missing."""
    crun = shutil.which("crun")
    busybox = next((b for b in BUSYBOX if os.path.exists(b)), None)
    if crun and busybox:
        return crun
    why = ("crun is not installed" if not crun else "busybox is not installed") + \
        ": `apt-get install crun busybox-static` to run the container tests"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{why} (CI=true: the container tests must run in CI)")
    pytest.skip(why)


class Container(NamedTuple):
    name: str
    pid: int
    rootless: bool
    state: str           # the crun state file, e.g. /run/crun/NAME/status
    bundle: Path


class Crun:
    """Containers started by one test; every one deleted (and its bundle removed) at close."""

    def __init__(self, crun: str) -> None:
        self.crun = crun
        self.started: list[Container] = []
        self.made_runtime_dir: str | None = None
        self.pidfds: list[int] = []

    def _user(self, rootless: bool) -> list[str]:
        if not rootless or os.geteuid() != 0:
            return []
        return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]

    def _env(self, rootless: bool) -> dict[str, str]:
        env = dict(os.environ)
        if rootless:
            uid = NOBODY if os.geteuid() == 0 else os.geteuid()
            env["XDG_RUNTIME_DIR"] = f"/run/user/{uid}"
        return env

    def _runtime_dir(self) -> None:
        """/run/user/UID for a rootless crun's state (created if missing, removed at close)."""
        uid = NOBODY if os.geteuid() == 0 else os.geteuid()
        path = f"/run/user/{uid}"
        if os.path.isdir(path):
            return
        if os.geteuid() != 0:
            pytest.skip(f"{path} does not exist and only root can create it")
        os.makedirs(path, mode=0o700)
        os.chown(path, uid, uid)
        self.made_runtime_dir = path

    def start(self, name: str, *, monotonic: int, boottime: int, rootless: bool) -> Container:
        if not rootless and os.geteuid() != 0:
            pytest.skip("a root container needs root")
        if HYBRID.exists() and HYBRID.read_text().strip() and os.geteuid() != 0:
            pytest.skip("crun refuses hybrid cgroup hosts; the workaround (a private mount "
                        "namespace without /sys/fs/cgroup/unified) needs root")
        if rootless:
            self._runtime_dir()
        bundle = Path(tempfile.mkdtemp(prefix=f"timens-lab-{name}-", dir="/tmp"))
        bundle.chmod(0o755)
        rootfs = bundle / "rootfs"
        for d in ("bin", "proc", "dev", "sys", "tmp"):
            (rootfs / d).mkdir(parents=True)
        busybox = next(b for b in BUSYBOX if os.path.exists(b))
        shutil.copy2(busybox, rootfs / "bin" / "busybox")
        for applet in ("sh", "sleep", "cat"):
            (rootfs / "bin" / applet).symlink_to("busybox")
        if rootless and os.geteuid() == 0:
            for path in [bundle, *bundle.rglob("*")]:
                os.chown(path, NOBODY, NOBODY, follow_symlinks=False)
        spec = [self.crun, "spec"] + (["--rootless"] if rootless else [])
        subprocess.run(self._user(rootless) + spec, cwd=bundle, check=True,
                       env=self._env(rootless))
        config = json.loads((bundle / "config.json").read_text())
        config["process"].update(args=["sleep", "600"], terminal=False)
        config["mounts"] = [m for m in config["mounts"] if m["type"] != "cgroup"]
        if rootless:  # no PID namespace of our own: a fresh proc mount is refused, bind the host's
            for m in config["mounts"]:
                if m["type"] == "proc":
                    m.update(type="bind", source="/proc", options=["rbind", "nosuid", "noexec",
                                                                   "nodev"])
        linux = config["linux"]
        linux.pop("resources", None)
        linux["namespaces"] = [n for n in linux["namespaces"] if n["type"] != "pid"]
        linux["namespaces"].append({"type": "time"})
        off = {"monotonic": monotonic, "boottime": boottime}
        config.setdefault("annotations", {})["run.oci.timens_offset"] = "".join(
            f"{clock} {ns // 10**9} {ns % 10**9}\n" for clock, ns in off.items())
        linux["timeOffsets"] = {clock: {"secs": ns // 10**9, "nanosecs": ns % 10**9}
                                for clock, ns in off.items()}
        (bundle / "config.json").write_text(json.dumps(config))
        if rootless and os.geteuid() == 0:
            os.chown(bundle / "config.json", NOBODY, NOBODY)
        run = [self.crun, "--cgroup-manager=disabled", "run", "-d", name]
        argv = self._user(rootless) + run
        if os.geteuid() == 0 and HYBRID.exists() and HYBRID.read_text().strip():
            # A fixed script; the command travels as "$@", never inside the string.
            argv = ["unshare", "-m", "--propagation", "private", "sh", "-c",
                    'umount /sys/fs/cgroup/unified && exec "$@"', "sh", *argv]
        try:
            subprocess.run(argv, cwd=bundle, check=True, env=self._env(rootless),
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        except BaseException:
            shutil.rmtree(bundle, ignore_errors=True)
            raise
        state = (f"{self._env(True)['XDG_RUNTIME_DIR']}/crun/{name}/status" if rootless
                 else f"/run/crun/{name}/status")
        pid = int(json.loads(Path(state).read_text())["pid"])
        c = Container(name, pid, rootless, state, bundle)
        self.started.append(c)
        self.pidfds.append(os.pidfd_open(pid))  # to kill exactly it at close, never a reused pid
        deadline = time.monotonic() + 10  # crun returns once the process exists; wait for exec
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                if Path(f"/proc/{pid}/comm").read_text().strip() == "sleep":
                    break
            time.sleep(0.02)
        return c

    def close(self) -> None:
        for c in reversed(self.started):
            subprocess.run([*self._user(c.rootless), self.crun, "--cgroup-manager=disabled",
                            "delete", "-f", c.name],
                env=self._env(c.rootless), check=False, capture_output=True)
            shutil.rmtree(c.bundle, ignore_errors=True)
        for fd in self.pidfds:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(fd, signal.SIGKILL)
            os.close(fd)
        if self.made_runtime_dir:
            shutil.rmtree(self.made_runtime_dir, ignore_errors=True)
