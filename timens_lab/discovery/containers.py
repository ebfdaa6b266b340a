"""Which container a process belongs to, from files alone: no daemon, no runtime CLI.

>>> from timens_lab.discovery.containers import ContainerIndex
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

Discovery asks only about processes in a mount namespace other than its own: every runtime
above gives its containers their own (a root filesystem needs one), and ``exec`` into a container
joins it. That spares every host process its cgroup file, which costs the kernel ~5-8 µs a read
(it formats every hierarchy's path): as much as the rest of a scan.

What it cannot see stays ``None``: a rootless runtime's state under another user's
``/run/user/UID`` is unreadable to you, and a container started with cgroups disabled and then
re-parented to init (``crun --cgroup-manager=disabled run -d``) is found only through its state
directory. Names are the runtime's own: crun and runc have only an id; Podman's name comes from
conmon's argv, nspawn's from its machine name.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
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


#: Every rule above needs one of these words: most processes are in no container, and one
#: search rejects them (discovery reads every process's cgroup file).
_ANY = re.compile(r"docker|libpod|containerd|crio|lxc|machine-")


def from_cgroup(text: str) -> Container | None:
    """A container named by a /proc/PID/cgroup text (cgroups(7): ``ID:CONTROLLERS:PATH`` lines).

    The unified (``0::``) line is tried first, then the v1 hierarchies in file order.
    """
    if not _ANY.search(text):
        return None
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
    # os.open/os.read, not open(): this runs once per process in discovery, and the io stack
    # costs several times the syscalls here.
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        chunks, size = [], 0
        while size < limit:
            chunk = os.read(fd, min(65536, limit - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks).decode("utf-8", "replace")
    except OSError:
        return None
    finally:
        os.close(fd)


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
        self._cgroups: dict[bytes, Container | None] = {}
        self._cgroup_files: dict[int, bytes | None] = {}
        # pid → what holds for its descendants: (state-file container of it or an ancestor,
        # container named by it or an ancestor as supervisor); see _lineage.
        self._lines: dict[int, tuple[Container | None, Container | None]] = {}

    def _alive(self, pid: int, start: int | None) -> bool:
        """The state file's pid is live and, when the file says when it started, the same one.

        Both are clock ticks after boot from /proc/PID/stat; the kernel shifts them by the
        reader's boottime offset, so run from inside a time namespace a live container can
        read as gone (then it is simply not named)."""
        try:
            st = procfs.read_stat(pid, self.proc)
        except (OSError, ValueError):
            return False
        return start is None or st.starttime == start

    def of(self, pid: int, ppids: Mapping[int, int] | None = None,
           comms: Mapping[int, str] | None = None) -> Container | None:
        """The container of ``pid``, or None. ``ppids`` (pid → ppid) and ``comms`` (pid → comm),
        as discovery has them, save reading stat and comm files."""
        if pid in self._cache:
            return self._cache[pid]
        state, supervised = self._lineage(pid, ppids, comms)
        found = state or self._by_cgroup(pid) or supervised
        self._cache[pid] = found
        return found

    def prefetch(self, pids: list[int], skip: Iterable[int] = ()) -> None:
        """Read the cgroup files of all these processes at once (one C loop: discovery asks
        about every process, and from Python the reads cost more than the rest together).
        ``skip``: processes whose cgroup must not be read at all (known to be no container's
        by cgroup; state files and ancestry still apply)."""
        from .. import kernel

        self._cgroup_files.update(dict.fromkeys(skip))
        try:
            procfd = os.open(self.proc, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            return
        try:
            texts = kernel.read_proc_files(procfd, pids, "cgroup")
        finally:
            os.close(procfd)
        self._cgroup_files.update(zip(pids, texts, strict=True))

    def _parent(self, pid: int, ppids: Mapping[int, int] | None) -> int | None:
        if ppids is not None and pid in ppids:
            return ppids[pid]
        try:
            return procfs.read_stat(pid, self.proc).ppid
        except (OSError, ValueError):
            return None

    def _lineage(self, pid: int, ppids: Mapping[int, int] | None,
                 comms: Mapping[int, str] | None) -> tuple[Container | None, Container | None]:
        """(container whose init is pid or an ancestor, container named by a supervising
        *ancestor*), memoised per pid so a whole process tree costs one step per process.

        ``_lines[p]`` is what holds for p's descendants: p's own state-file container and its
        own supervisor role included (conmon is not in its container; its children are)."""
        chain: list[int] = []
        cur: int | None = pid
        top: tuple[Container | None, Container | None] = (None, None)
        while cur is not None and cur > 1 and len(chain) < MAX_HOPS:
            if cur in self._lines:
                top = self._lines[cur]
                break
            chain.append(cur)
            cur = self._parent(cur, ppids)
        above = top
        for p in reversed(chain):  # top down: each starts from its parent's answer
            state, supervisor = above
            if p in self.inits:
                state = self.inits[p]
            if supervisor is None:
                supervisor = self._supervisor(p, comms)
            above = self._lines[p] = (state, supervisor)
        own = self._lines.get(pid, (None, None))
        if len(chain) > 1:
            parent = self._lines[chain[1]]
        elif chain:
            parent = top
        else:
            up = self._parent(pid, ppids)
            parent = self._lines.get(up, (None, None)) if up is not None else (None, None)
        return own[0], parent[1]

    def _supervisor(self, pid: int, comms: Mapping[int, str] | None) -> Container | None:
        comm = comms.get(pid) if comms is not None else None
        if comm is None:
            try:
                comm = procfs.read_comm(pid, self.proc)
            except OSError:
                return None
        if comm in ("conmon", "lxc-start", "systemd-nspawn") or comm.startswith(
                ("containerd-shim", "[lxc monitor]")):
            return from_ancestor(comm, self._argv(pid), pid)
        return None

    def _by_cgroup(self, pid: int) -> Container | None:
        if pid in self._cgroup_files:
            data = self._cgroup_files[pid]
        else:
            text = _read_text(f"{self.proc}/{pid}/cgroup", 65536)
            data = text.encode() if text is not None else None
        if not data:
            return None
        if data not in self._cgroups:  # processes of one service or container share the text
            self._cgroups[data] = from_cgroup(data.decode("utf-8", "replace"))
        found = self._cgroups[data]
        if found is None:
            return None
        # The state directory may know the same container's init pid (and the cgroup its id).
        for c in self.inits.values():
            if c.id == found.id:
                return found._replace(pid=c.pid)
        return found

    def _argv(self, pid: int) -> list[str]:
        text = _read_text(f"{self.proc}/{pid}/cmdline", 65536) or ""
        return [a for a in text.split("\0") if a]


def identify(pid: int, proc: str = procfs.PROC, run: str = RUN) -> Container | None:
    """The container of one process (a fresh index: use ContainerIndex for many)."""
    return ContainerIndex(proc, run).of(pid)
