"""Support for the helper's operations: error meaning, command lookup, host clocks, /proc bits.

Split from _helper_ops.py so that module stays about what each request does.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import shutil
import stat
from typing import Any

from .. import kernel
from ..errors import (
    InvalidOffsetError,
    MultiThreadedError,
    NamespaceLimitError,
    NoSuchNamespaceError,
    OffsetRangeError,
    PrivilegeError,
    ResourceLimitError,
    SpawnError,
    TimensError,
)
from ..offsets import read_offsets

# Must match the enum in csrc/01-spawn.c.
STAGES = {1: "prctl(PR_SET_PDEATHSIG)", 2: "setns(CLONE_NEWUSER)", 3: "setns(CLONE_NEWTIME)",
          4: "unshare", 5: "write /proc/self/setgroups", 6: "write /proc/self/uid_map",
          7: "write /proc/self/gid_map", 8: "set up stdio", 9: "pass fds", 10: "chdir",
          11: "execve", 12: "setpgid", 13: "write /proc/self/timens_offsets", 14: "report"}
INIT_TIME_NS = 4026531834  # PROC_TIME_INIT_INO (include/linux/proc_ns.h)


def spawn_error(err: int, stage: str, what: str, argv: list[str] | None) -> TimensError:
    """Give each (stage, errno) its meaning; kernel-timens.md §2.4, §10 and unshare(2)."""
    name = argv[0] if argv else "process"
    # fcntl(F_DUPFD) says EINVAL, not EMFILE, when every fd up to RLIMIT_NOFILE is taken.
    fd_limit = stage in ("set up stdio", "pass fds") and err == errno.EINVAL
    if fd_limit:
        return ResourceLimitError(f"cannot {what}: {stage}: no free file descriptor below "
                                  "RLIMIT_NOFILE", errno=errno.EMFILE)
    if err in (errno.EMFILE, errno.ENFILE) or (stage == "fork" and err == errno.EAGAIN):
        return ResourceLimitError(f"cannot {what}: {stage}: {os.strerror(err)}", errno=err)
    if stage == "unshare" and err == errno.ENOSPC:
        return NamespaceLimitError(
            f"cannot {what}: ENOSPC from unshare — a limit is reached "
            f"(user.max_time_namespaces={sysctl('max_time_namespaces')}, "
            f"user.max_user_namespaces={sysctl('max_user_namespaces')}, or user namespaces "
            "nested 32 deep)", errno=err)
    if stage in ("unshare", "setns(CLONE_NEWUSER)", "setns(CLONE_NEWTIME)",
                 "write /proc/self/uid_map", "write /proc/self/gid_map") and err == errno.EPERM:
        return PrivilegeError(f"cannot {what}: {stage} was refused (EPERM)", errno=err)
    if stage == "setns(CLONE_NEWTIME)" and err == errno.EUSERS:
        return MultiThreadedError(f"cannot {what}: setns refused a multi-threaded caller", errno=err)
    if stage == "write /proc/self/timens_offsets":
        if err == errno.ERANGE:
            return OffsetRangeError("the kernel refused the offsets (ERANGE): host clock + offset "
                                    "must stay within 0 … 4611686018 s", errno=err)
        if err == errno.EPERM:
            return PrivilegeError("no CAP_SYS_TIME to set offsets (EPERM)", errno=err)
        return InvalidOffsetError(f"the kernel refused the offsets: {os.strerror(err)}", errno=err)
    if stage == "report":
        return SpawnError(f"cannot {what}: the child died before it reported "
                          f"(killed from outside?): {os.strerror(err)}", errno=err)
    if stage == "execve" and err == errno.ENOENT:
        return SpawnError(f"command not found: {name}", errno=err, exit_status=127)
    if stage == "execve":
        return SpawnError(f"cannot run {name}: {os.strerror(err)}", errno=err, exit_status=126)
    return SpawnError(f"cannot {what}: {stage} failed: {os.strerror(err)}", errno=err)


def resolve(cmd: str, env: list[str] | None, cwd: str | None) -> str:
    """The file execve() will run, checked before the child enters a namespace: a failure
    after entry would freeze a pending namespace for nothing."""
    if "/" in cmd:
        path = cmd if os.path.isabs(cmd) or not cwd else os.path.join(cwd, cmd)
        try:
            mode = os.stat(path).st_mode
        except OSError:
            raise SpawnError(f"command not found: {cmd}", errno=errno.ENOENT,
                             exit_status=127) from None
        if stat.S_ISDIR(mode) or not os.access(path, os.X_OK):
            raise SpawnError(f"cannot run {cmd}: not an executable file", errno=errno.EACCES,
                             exit_status=126)
        return path
    path = os.environ.get("PATH", os.defpath)
    for item in env or []:
        if item.startswith("PATH="):
            path = item[5:]
    found = shutil.which(cmd, path=path)
    if found is None:
        raise SpawnError(f"command not found: {cmd}", errno=errno.ENOENT, exit_status=127)
    return found


def host_clocks() -> tuple[int, int] | None:
    """The initial namespace's MONOTONIC and BOOTTIME: the kernel's range check uses those (§0.5).

    None when we cannot know them (we sit in a namespace whose offsets we cannot read).
    """
    own = _own_offsets()
    if own is None:
        return None
    return (kernel.clock_gettime_ns(kernel.CLOCKS["monotonic"]) - own[0],
            kernel.clock_gettime_ns(kernel.CLOCKS["boottime"]) - own[1])


@functools.cache
def _own_offsets() -> tuple[int, int] | None:
    """Our own namespace's offsets, read once: the helper never changes namespace, and the
    offsets of a namespace with a process in it are frozen (kernel-timens.md §0.6)."""
    own_ns = inode("/proc/self/ns/time")
    if own_ns == INIT_TIME_NS:
        return 0, 0
    if own_ns is not None and own_ns == inode("/proc/self/ns/time_for_children"):
        own = read_offsets("self")  # valid only when the two links match (finding 7)
        return own.monotonic_ns, own.boottime_ns
    return None


def inode(path: str) -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def sysctl(name: str) -> str:
    try:
        with open(f"/proc/sys/user/{name}") as f:
            return f.read().strip()
    except OSError:
        return "?"


def returncode(status: int | None) -> int | None:
    if status is None:
        return None
    return os.waitstatus_to_exitcode(status)


def close_quiet(fd: int) -> None:
    if fd >= 0:
        with contextlib.suppress(OSError):
            os.close(fd)


def open_target(target: dict[str, Any], root: bool) -> tuple[int, int]:
    """An fd of the time namespace to join, and of the user namespace to join first (or -1)."""
    path = f"/proc/{int(target['pid'])}/ns/time" if "pid" in target else str(target["path"])
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError as err:
        raise NoSuchNamespaceError(f"{path} does not exist (no such process?)") from err
    except PermissionError as err:
        raise PrivilegeError(f"cannot open {path}: permission denied (the ptrace access "
                             "check of proc(5): another user's process, or a protected one)",
                             errno=err.errno) from err
    try:
        nstype = kernel.ns_ioctl(fd, kernel.NS_GET_NSTYPE)
    except OSError as err:
        os.close(fd)
        raise NoSuchNamespaceError(f"{path} is not a namespace file") from err
    if nstype != kernel.CLONE_NEWTIME:
        os.close(fd)
        raise NoSuchNamespaceError(f"{path} is a namespace, but not a time namespace")
    user_fd = -1
    if not root:
        # setns(2) needs CAP_SYS_ADMIN over the owner: join the owning user namespace first
        # when it is not ours (as nsenter -U does).
        owner = kernel.ns_ioctl(fd, kernel.NS_GET_USERNS)
        if os.fstat(owner).st_ino != inode("/proc/self/ns/user"):
            user_fd = owner
        else:
            os.close(owner)
    return fd, user_fd
