"""Tiny readers over an injectable proc root: namespace links, stat, status, fds, mountinfo.

Pure parsers take text; readers take ``pid`` and ``proc`` (default ``/proc``; tests pass a fake
tree under ``tmp_path``, psutil's ``PROCFS_PATH`` done as a parameter). Readers raise ``OSError``
unchanged — ``PermissionError`` means "hidden from us", ``FileNotFoundError`` and
``ProcessLookupError`` mean "gone" — and the caller decides what that means.

Discovery's per-process hot path reads the same files in C (``kernel.scan_procs``); these readers
serve the rare paths (threads, mount tables, a process with many namespace fds) and are the
reference the C pass is tested against (tests/unit/test_procfs.py).
"""

from __future__ import annotations

import os
import re
from typing import NamedTuple

PROC = "/proc"
#: proc(5): /proc/PID/ns/* links read ``TYPE:[INODE]``.
_LINK = re.compile(r"^([a-z_]+):\[(\d+)\]$")
#: mountinfo escapes space, tab, newline and backslash as octal (fs/proc_namespace.c, show_mountinfo
#: → seq_path with " \t\n\\").
_OCTAL = re.compile(r"\\([0-7]{3})")


class Stat(NamedTuple):
    """The fields of /proc/PID/stat that discovery uses (proc_pid_stat(5))."""

    comm: str
    state: str
    ppid: int
    num_threads: int
    starttime: int  # clock ticks after boot (shifted by the *reader's* boottime offset)


class NsfsMount(NamedTuple):
    """An nsfs bind mount from mountinfo: ``unshare --time=FILE`` or ``mount --bind``."""

    mount_id: int
    nstype: str
    inode: int
    mountpoint: str  # as seen inside the mount namespace of the process whose mountinfo it is


# --- parsers (pure)

def parse_ns_link(text: str) -> tuple[str, int]:
    """``'time:[4026531834]'`` → ``('time', 4026531834)``; ValueError for anything else."""
    m = _LINK.match(text)
    if m is None:
        raise ValueError(f"not a namespace link: {text!r}")
    return m.group(1), int(m.group(2))


def parse_stat(text: str) -> Stat:
    """Parse /proc/PID/stat. comm may hold spaces and ')' so split at the *last* ')'."""
    open_, close = text.index("("), text.rindex(")")
    rest = text[close + 2:].split(" ", 20)  # maxsplit: the 30 fields after starttime are unused
    # After comm: state(3) ppid(4) ... num_threads(20) itrealvalue(21) starttime(22).
    return Stat(comm=text[open_ + 1:close], state=rest[0], ppid=int(rest[1]),
                num_threads=int(rest[17]), starttime=int(rest[19]))


def parse_status_uid(text: str) -> int:
    """The effective uid from /proc/PID/status (``Uid: real effective saved fs``), as ps shows."""
    # find() rather than splitlines(): status is ~1.5 kB and this runs once per process.
    start = text.find("Uid:")
    if start < 0 or (start and text[start - 1] != "\n"):
        raise ValueError("no Uid: line in status")
    end = text.find("\n", start)
    return int(text[start + 4:end if end >= 0 else None].split()[1])


def unescape_mountinfo(field: str) -> str:
    r"""Undo mountinfo's octal escapes: ``/tmp/a\040b`` → ``/tmp/a b``."""
    return _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), field) if "\\" in field else field


def parse_mountinfo_nsfs(text: str, nstype: str = "time") -> list[NsfsMount]:
    """nsfs mounts of ``nstype`` in a mountinfo text (proc(5): fields, ``-``, fstype, source).

    An nsfs mount's *root* field (4th) is the namespace link text, e.g. ``time:[4026532177]``.
    """
    out = []
    for line in text.splitlines():
        if " - nsfs " not in line:
            continue
        fields = line.split(" ")
        try:
            kind, inode = parse_ns_link(unescape_mountinfo(fields[3]))
        except (ValueError, IndexError):
            continue
        if kind == nstype:
            out.append(NsfsMount(int(fields[0]), kind, inode, unescape_mountinfo(fields[4])))
    return out


# --- readers

def list_pids(proc: str = PROC) -> list[int]:
    """Every pid directory under ``proc`` (processes only; threads live under task/)."""
    with os.scandir(proc) as it:
        return [int(e.name) for e in it if e.name.isdigit()]


def read_ns(pid: int | str, name: str = "time", proc: str = PROC) -> int:
    """Inode of ``/proc/PID/ns/NAME`` (``time`` or ``time_for_children``, ``user``, ``mnt``...).

    PermissionError when ptrace access is denied (another user's process, kernel-timens.md §9).
    """
    return parse_ns_link(os.readlink(f"{proc}/{pid}/ns/{name}"))[1]


def read_task_ns(pid: int, tid: int, name: str = "time", proc: str = PROC) -> int:
    """Inode of a thread's own link, ``/proc/PID/task/TID/ns/NAME``."""
    return parse_ns_link(os.readlink(f"{proc}/{pid}/task/{tid}/ns/{name}"))[1]


def _read_small(path: str) -> str:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return os.read(fd, 8192).decode("utf-8", "surrogateescape")
    finally:
        os.close(fd)


def read_stat(pid: int | str, proc: str = PROC) -> Stat:
    """Parsed /proc/PID/stat (comm, state, ppid, num_threads, starttime)."""
    return parse_stat(_read_small(f"{proc}/{pid}/stat"))


def read_uid(pid: int | str, proc: str = PROC) -> int:
    """Effective uid of PID from /proc/PID/status (readable for every process)."""
    return parse_status_uid(_read_small(f"{proc}/{pid}/status"))


def read_comm(pid: int | str, proc: str = PROC) -> str:
    """/proc/PID/comm without its newline (at most 15 characters, TASK_COMM_LEN)."""
    return _read_small(f"{proc}/{pid}/comm").rstrip("\n")


def list_tids(pid: int | str, proc: str = PROC) -> list[int]:
    """Thread ids of PID (the leader's tid equals pid)."""
    with os.scandir(f"{proc}/{pid}/task") as it:
        return [int(e.name) for e in it if e.name.isdigit()]


def fd_namespaces(pid: int | str, nstype: str = "time", proc: str = PROC) -> list[tuple[int, int]]:
    """``(fd, inode)`` for every fd of PID open on an ``nstype`` namespace (``time:[N]`` links).

    PermissionError when PID's fd directory is hidden from us (another user's process).
    """
    prefix = f"{nstype}:["
    out = []
    with os.scandir(f"{proc}/{pid}/fd") as it:
        for entry in it:
            try:
                target = os.readlink(entry.path)
            except OSError:  # closed between getdents and readlink
                continue
            if target.startswith(prefix):
                out.append((int(entry.name), parse_ns_link(target)[1]))
            elif target.startswith("/"):
                inode = _nsfs_inode(entry.path, nstype)
                if inode is not None:
                    out.append((int(entry.name), inode))
    return out


_NSFS_DEV: list[int] = []


def _nsfs_inode(link: str, nstype: str) -> int | None:
    """The namespace inode behind an fd opened through an nsfs bind mount (its link reads as a
    path, or ``/`` once the mount is detached), else None. As 05-discovery.c tns_nsfs_by_path:
    stat through the link, and open only what lives on nsfs to check its type."""
    if not _NSFS_DEV:
        try:
            _NSFS_DEV.append(os.stat("/proc/self/ns/time").st_dev)
        except OSError:
            _NSFS_DEV.append(-1)
    try:
        st = os.stat(link)
    except OSError:
        return None
    if st.st_dev != _NSFS_DEV[0]:
        return None
    try:
        fd = os.open(link, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        from .. import kernel

        kind = kernel.ns_ioctl(fd, kernel.NS_GET_NSTYPE)
    except OSError:
        return None
    finally:
        os.close(fd)
    want = {"time": kernel.CLONE_NEWTIME}.get(nstype)
    return st.st_ino if want is not None and kind == want else None


def nsfs_mounts(pid: int | str = "self", nstype: str = "time", proc: str = PROC) -> list[NsfsMount]:
    """nsfs bind mounts of ``nstype`` visible in PID's mount namespace."""
    path = f"{proc}/{pid}/mountinfo"
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        return parse_mountinfo_nsfs(f.read(), nstype)
