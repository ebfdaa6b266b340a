"""Which container a process belongs to, from files alone: no daemon, no runtime CLI.

>>> from timens_lab.containers import ContainerIndex
>>> ContainerIndex().of(1234)                              # doctest: +SKIP
Container(runtime='crun', id='web', name=None, pid=1234, source='/run/crun/web/status')

Three daemon-free sources, tried in this order (the first that names the process wins):

1. **Runtime state directories** name each container's init process:
   ``/run/crun/ID/status`` and ``/run/user/UID/crun/ID/status`` (crun: ``pid``,
   ``process-start-time``), ``/run/runc/ID/state.json`` and the containerd/Docker copies under
   ``/run/containerd/runc/NS/`` and ``/run/docker/runtime-runc/NS/`` (runc: ``init_process_pid``,
   ``init_process_start``), ``/run/containerd/io.containerd.runtime.v2.task/NS/ID/init.pid``
   (containerd's shim), ``/run/systemd/machines/NAME`` (systemd-nspawn: ``LEADER=``). The start
   time is compared with ``/proc/PID/stat`` so a reused pid is not mistaken for the container.
   A process is in the container when it *is* that init process or descends from it.
2. **cgroup paths** (``/proc/PID/cgroup``), which every member inherits: ``docker-ID.scope`` or
   ``/docker/ID`` (Docker), ``libpod-ID.scope`` / ``libpod-conmon-ID.scope`` (Podman),
   ``cri-containerd-ID.scope`` (containerd CRI), ``crio-ID.scope`` (CRI-O),
   ``lxc.payload.NAME`` / ``/lxc/NAME`` (LXC), ``machine-NAME.scope`` (systemd-nspawn).
3. **Process ancestry**: a ``conmon`` parent (Podman; its argv carries ``-c ID`` and
   ``-n NAME``), ``containerd-shim*`` (``-id ID``, ``-namespace NS``: ``moby`` is Docker),
   ``lxc-start`` / ``[lxc monitor]`` (``-n NAME``), ``systemd-nspawn`` (``-M``/``--machine``).

What it cannot see stays ``None``: a rootless runtime's state under another user's
``/run/user/UID`` is unreadable to you, and a container started with cgroups disabled and then
re-parented to init (``crun --cgroup-manager=disabled run -d``) is found only through its state
directory. Names are the runtime's own: crun and runc have only an id; Podman's name comes from
conmon's argv, nspawn's from its machine name.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Callable, Iterator, Mapping
from typing import NamedTuple

from . import procfs

RUN = "/run"
#: How far up the process tree ancestry looks (a shim's grandchildren are still its container's).
MAX_HOPS = 64


class Container(NamedTuple):
    """What owns a process or a namespace, as far as files say."""

    runtime: str          # crun, runc, containerd, docker, podman, cri-o, lxc, systemd-nspawn
    id: str               # the runtime's container id (nspawn, LXC: the machine/container name)
    name: str | None      # a human name when the runtime has one apart from the id
    pid: int | None       # the container's init process, when known
    source: str           # where this came from: a state file, "cgroup ...", "ancestor PID comm"

    @property
    def label(self) -> str:
        """``crun web`` / ``podman db (3f2a…)``: short enough for a tree row."""
        # Docker-style 64-hex ids are shown as their usual 12-character prefix; names as given.
        short = self.id[:12] if re.fullmatch(r"[0-9a-f]{32,}", self.id) else self.id
        if self.name and self.name != self.id:
            return f"{self.runtime} {self.name} ({short})"
        return f"{self.runtime} {short}"

    def as_json(self) -> dict[str, object]:
        return {"runtime": self.runtime, "id": self.id, "name": self.name, "pid": self.pid,
                "source": self.source}


# --- cgroup paths (pure)

_HEX = r"([0-9a-f]{12,64})"
_CGROUP_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(rf"/docker-{_HEX}\.scope(?:/|$)"), "docker"),
    (re.compile(rf"/docker/{_HEX}(?:/|$)"), "docker"),
    (re.compile(rf"/libpod-(?:conmon-)?{_HEX}\.scope(?:/|$)"), "podman"),
    (re.compile(rf"/machine-libpod_pod_[0-9a-f]+\.slice/libpod-{_HEX}"), "podman"),
    (re.compile(rf"/cri-containerd-{_HEX}\.scope(?:/|$)"), "containerd"),
    (re.compile(rf"/crio-(?:conmon-)?{_HEX}\.scope(?:/|$)"), "cri-o"),
    (re.compile(r"/lxc\.payload\.([^/]+)(?:/|$)"), "lxc"),
    (re.compile(r"/lxc\.monitor\.([^/]+)(?:/|$)"), "lxc"),
    (re.compile(r"^/lxc/([^/]+)(?:/|$)"), "lxc"),
    # systemd escapes '-' in unit names as \x2d (systemd.unit(5)); nspawn scopes are machine-NAME.
    (re.compile(r"/machine\.slice/machine-([^/]+)\.scope(?:/|$)"), "systemd-nspawn"),
)


def from_cgroup(text: str) -> Container | None:
    """A container named by a /proc/PID/cgroup text (cgroups(7): ``ID:CONTROLLERS:PATH`` lines).

    The unified (``0::``) line is tried first, then the v1 hierarchies in file order.
    """
    paths = []
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3 and parts[2] not in ("", "/"):
            paths.insert(0, parts[2]) if parts[0] == "0" else paths.append(parts[2])
    for path in paths:
        for pattern, runtime in _CGROUP_RULES:
            m = pattern.search(path)
            if m:
                ident = m.group(1)
                if runtime in ("systemd-nspawn", "lxc"):
                    ident = _unescape_unit(ident)
                    if runtime == "systemd-nspawn" and ident.startswith("libpod"):
                        continue
                return Container(runtime, ident, None, None, f"cgroup {path}")
    return None


def _unescape_unit(name: str) -> str:
    return re.sub(r"\\x([0-9a-f]{2})", lambda m: chr(int(m.group(1), 16)), name)


# --- ancestry (pure: argv in, container out)


def _arg(argv: list[str], *names: str) -> str | None:
    for i, a in enumerate(argv):
        for n in names:
            if a == n and i + 1 < len(argv):
                return argv[i + 1]
            if n.startswith("--") and a.startswith(n + "="):
                return a[len(n) + 1:]
    return None


def from_ancestor(comm: str, argv: list[str], pid: int) -> Container | None:
    """A container named by the argv of a supervising ancestor (conmon, a shim, lxc, nspawn)."""
    src = f"ancestor {pid} {comm}"
    if comm == "conmon":
        cid = _arg(argv, "-c", "--cid")
        if cid:
            return Container("podman", cid, _arg(argv, "-n", "--name"), None, src)
    elif comm.startswith("containerd-shim"):
        cid = _arg(argv, "-id", "--id")
        if cid:
            ns = _arg(argv, "-namespace", "--namespace")
            return Container("docker" if ns == "moby" else "containerd", cid, None, None, src)
    elif comm == "lxc-start" or comm.startswith("[lxc monitor]"):
        name = _arg(argv, "-n", "--name") or (argv[-1] if comm.startswith("[lxc") else None)
        if name:
            return Container("lxc", name, name, None, src)
    elif comm == "systemd-nspawn":
        name = _arg(argv, "-M", "--machine")
        if name:
            return Container("systemd-nspawn", name, name, None, src)
    return None


# --- runtime state directories


def _read_text(path: str, limit: int = 1 << 20) -> str | None:
    try:
        with open(path, "rb") as f:
            return f.read(limit).decode("utf-8", "replace")
    except OSError:
        return None


def _json(path: str) -> dict[str, object] | None:
    text = _read_text(path)
    if text is None:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _int(v: object) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _dirs(path: str) -> list[str]:
    try:
        with os.scandir(path) as it:
            return sorted(e.name for e in it if e.is_dir(follow_symlinks=False))
    except OSError:
        return []


def _crun(run: str) -> Iterator[tuple[Container, int | None]]:
    roots = [f"{run}/crun"] + [f"{run}/user/{u}/crun" for u in _dirs(f"{run}/user")]
    for root in roots:
        for cid in _dirs(root):
            path = f"{root}/{cid}/status"
            data = _json(path)
            pid = _int(data.get("pid")) if data else None
            if pid:
                yield (Container("crun", cid, None, pid, path),
                       _int(data.get("process-start-time")) if data else None)


def _runc(run: str) -> Iterator[tuple[Container, int | None]]:
    roots = [(f"{run}/runc", "runc")]
    for base, runtime in ((f"{run}/containerd/runc", "containerd"),
                          (f"{run}/docker/runtime-runc", "docker")):
        roots += [(f"{base}/{ns}", "docker" if ns == "moby" else runtime) for ns in _dirs(base)]
    roots += [(f"{run}/user/{u}/runc", "runc") for u in _dirs(f"{run}/user")]
    for root, runtime in roots:
        for cid in _dirs(root):
            path = f"{root}/{cid}/state.json"
            data = _json(path)
            pid = _int(data.get("init_process_pid")) if data else None
            if pid:
                yield (Container(runtime, cid, None, pid, path),
                       _int(data.get("init_process_start")) if data else None)


def _containerd_tasks(run: str) -> Iterator[tuple[Container, int | None]]:
    base = f"{run}/containerd/io.containerd.runtime.v2.task"
    for ns in _dirs(base):
        for cid in _dirs(f"{base}/{ns}"):
            path = f"{base}/{ns}/{cid}/init.pid"
            text = _read_text(path, 64)
            if text and text.strip().isdigit():
                runtime = "docker" if ns == "moby" else "containerd"
                yield Container(runtime, cid, None, int(text.strip()), path), None


def _nspawn(run: str) -> Iterator[tuple[Container, int | None]]:
    base = f"{run}/systemd/machines"
    try:
        names = sorted(os.listdir(base))
    except OSError:
        return
    for name in names:
        if name.startswith(("unit:", ".")):
            continue
        path = f"{base}/{name}"
        text = _read_text(path, 65536) or ""
        fields = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
        leader = fields.get("LEADER", "")
        if leader.isdigit() and fields.get("CLASS", "container") == "container":
            service = fields.get("SERVICE", "systemd-nspawn")
            runtime = "systemd-nspawn" if service in ("nspawn", "systemd-nspawn") else service
            yield Container(runtime, name, name, int(leader), path), None


STATE_SOURCES: tuple[Callable[[str], Iterator[tuple[Container, int | None]]], ...] = (
    _crun, _runc, _containerd_tasks, _nspawn)


# --- the index


class ContainerIndex:
    """One look at the state directories, then per-process answers (cached by pid).

    Args:
        proc: the proc root (tests pass a fake tree).
        run: the runtime state root (tests pass a fake ``/run``).
    """

    def __init__(self, proc: str = procfs.PROC, run: str = RUN) -> None:
        self.proc, self.run = proc, run
        self.inits: dict[int, Container] = {}
        for source in STATE_SOURCES:
            for c, start in source(run):
                assert c.pid is not None
                if c.pid in self.inits or not self._alive(c.pid, start):
                    continue
                self.inits[c.pid] = c
        self._cache: dict[int, Container | None] = {}

    def _alive(self, pid: int, start: int | None) -> bool:
        """The state file's pid is live and, when the file says when it started, the same one."""
        try:
            st = procfs.read_stat(pid, self.proc)
        except (OSError, ValueError):
            return False
        return start is None or st.starttime == start

    def of(self, pid: int, ppids: Mapping[int, int] | None = None) -> Container | None:
        """The container of ``pid``, or None. ``ppids`` (pid → ppid) saves reading stat files."""
        if pid in self._cache:
            return self._cache[pid]
        found = self._by_state(pid, ppids)
        if found is None:
            found = self._by_cgroup(pid)
        if found is None:
            found = self._by_ancestor(pid, ppids)
        self._cache[pid] = found
        return found

    def _parent(self, pid: int, ppids: Mapping[int, int] | None) -> int | None:
        if ppids is not None and pid in ppids:
            return ppids[pid]
        try:
            return procfs.read_stat(pid, self.proc).ppid
        except (OSError, ValueError):
            return None

    def _by_state(self, pid: int, ppids: Mapping[int, int] | None) -> Container | None:
        if not self.inits:
            return None
        cur: int | None = pid
        for _ in range(MAX_HOPS):
            if cur is None or cur <= 1:
                return None
            if cur in self.inits:
                return self.inits[cur]
            cur = self._parent(cur, ppids)
        return None

    def _by_cgroup(self, pid: int) -> Container | None:
        text = _read_text(f"{self.proc}/{pid}/cgroup", 65536)
        found = from_cgroup(text) if text else None
        if found is None:
            return None
        # The state directory may know the same container's init pid (and the cgroup its id).
        for c in self.inits.values():
            if c.id == found.id:
                return found._replace(pid=c.pid)
        return found

    def _by_ancestor(self, pid: int, ppids: Mapping[int, int] | None) -> Container | None:
        cur = self._parent(pid, ppids)
        for _ in range(MAX_HOPS):
            if cur is None or cur <= 1:
                return None
            with contextlib.suppress(OSError, ValueError):
                comm = procfs.read_comm(cur, self.proc)
                if comm in ("conmon", "lxc-start", "systemd-nspawn") or comm.startswith(
                        ("containerd-shim", "[lxc monitor]")):
                    found = from_ancestor(comm, self._argv(cur), cur)
                    if found is not None:
                        return found
            cur = self._parent(cur, ppids)
        return None

    def _argv(self, pid: int) -> list[str]:
        text = _read_text(f"{self.proc}/{pid}/cmdline", 65536) or ""
        return [a for a in text.split("\0") if a]


def identify(pid: int, proc: str = procfs.PROC, run: str = RUN) -> Container | None:
    """The container of one process (a fresh index: use ContainerIndex for many)."""
    return ContainerIndex(proc, run).of(pid)
