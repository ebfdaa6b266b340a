"""Whole trees die: the kill-and-reap loop, and the guard that runs it if the helper is killed.

Every process a Lab starts descends from the helper, and the helper is a child subreaper
(prctl(2) PR_SET_CHILD_SUBREAPER): when a command's own child is orphaned — a grandchild whose
parent exited, a daemon that double-forked and called setsid() — the kernel reparents it to the
helper, not to init (kernel/exit.c, find_new_reaper). Reparenting always goes to the nearest
living subreaper ancestor, so no descendant can leave the helper's subtree: a session, a
process group or a nested PID namespace changes nothing (a PID namespace's own orphans go to its
init, which is ours and whose death kills the namespace, pid_namespaces(7)).

Killing a tree is then: SIGKILL every child we have, reap, repeat until waitpid() says ECHILD
(orphans of the killed arrive as new children on the next round). A pid taken from our own
``children`` list is safe to signal: it is our child and not reaped yet, and only we reap it, so
its number cannot have been reused (the single-threaded helper never reaps between reading the
list and signalling).

The helper can itself be SIGKILLed, which no code of its own survives. So the process the Lab
starts is the *guard*: it forks the helper, stays its parent, and is a subreaper too. When the
helper dies, its children (PR_SET_PDEATHSIG=SIGKILL) and every orphan it was holding are
reparented to the guard, which kills and reaps them the same way. The guard sits in its own
process group, so a signal meant for the owner's group (Ctrl-C, a Jupyter kernel restart's
killpg) cannot take both down at once. What is left uncovered: SECURITY.md, "Nothing outlives
its owner".

This file is also the guard's program: after the fork, the guard execs
``python -I -S _reaper.py HELPER_PID OWNER_PIDFD`` (isolated, no site: a few MB instead of a
second copy of the helper's heap; the subreaper attribute survives execve, prctl(2)). So it
imports the standard library only.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
import time
from collections.abc import Callable

#: How long the helper itself spends killing trees at shutdown before giving up (then it exits
#: and the guard, which outlives it, goes on); the owner-death promise is 2 s.
HELPER_DEADLINE = 1.0
#: How long the guard lets the helper shut down after the owner died before it SIGKILLs it.
GUARD_GRACE = 1.2
GUARD_DEADLINE = 5.0


def own_children() -> list[int]:
    """Our unreaped children (live or zombie): /proc/self/task/TID/children (proc(5); we are
    single-threaded, so the one task is all of them), or a /proc scan where the kernel lacks
    CONFIG_PROC_CHILDREN."""
    me = os.getpid()
    try:
        with open(f"/proc/self/task/{me}/children", "rb") as f:
            return [int(p) for p in f.read().split()]
    except FileNotFoundError:
        pass
    return children_of(me)


def children_of(ppid: int) -> list[int]:
    """Processes whose parent is ``ppid``, by a /proc scan (any process's, zombies included)."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    stat = f.read()
            except OSError:
                continue
            if int(stat[stat.rfind(b")") + 2:].split()[1]) == ppid:
                out.append(int(entry))
    return out


def kill_and_reap(deadline: float, reaped: Callable[[int, int], None] = lambda p, s: None,
                  spare: frozenset[int] = frozenset()) -> bool:
    """SIGKILL every child and reap until we have none left (ECHILD) or ``deadline``
    (time.monotonic()) passes. ``reaped(pid, status)`` is told of each; ``spare`` pids are reaped
    but not signalled. True when no child is left. Never blocks: a process stuck in
    uninterruptible sleep costs the deadline, not forever."""
    while True:
        progress = False
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return True
            if pid == 0:
                break
            progress = True
            reaped(pid, status)
        for pid in own_children():
            if pid not in spare:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)  # our unreaped child: see the module docstring
        if time.monotonic() >= deadline:
            return False
        if not progress:
            time.sleep(0.002)  # SIGKILLed processes need a moment to exit; poll, never block


def kill_in_namespaces(inodes: set[int], tracked: Callable[[int], bool],
                       reap: Callable[[], None], deadline: float) -> None:
    """SIGKILL our untracked children (orphans handed to us) whose time namespace is one of
    ``inodes``, round after round — each death hands us the next generation — until a round
    finds none or ``deadline`` passes. ``reap()`` collects the dead between rounds."""
    while True:
        reap()
        found = False
        for pid in own_children():
            if tracked(pid):
                continue  # started by us: an open namespace's, or already handled by the caller
            try:
                ino = os.stat(f"/proc/{pid}/ns/time").st_ino
            except OSError:
                continue  # exited (a zombie has no namespaces): reap() collects it
            if ino in inodes:
                found = True
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)  # our unreaped child: see the module docstring
        if not found or time.monotonic() >= deadline:
            return
        time.sleep(0.002)


def guard(helper: int, owner_fd: int) -> int:
    """The guard's life: wait for the helper (``helper``, our child) to exit, SIGKILLing it if
    the owner (``owner_fd``, a pidfd, or -1) dies and it has not exited within GUARD_GRACE;
    then kill and reap whatever it left to us. Returns the exit status for the guard."""
    # Our unreaped child: its pid cannot be reused before we reap it, so this is that process.
    helper_fd = os.pidfd_open(helper)
    poller = select.poll()
    poller.register(helper_fd, select.POLLIN)
    if owner_fd >= 0:
        poller.register(owner_fd, select.POLLIN)
    killed_at: float | None = None
    while True:
        timeout = None if killed_at is None else max(0.0, killed_at - time.monotonic())
        events = dict(poller.poll(None if timeout is None else int(timeout * 1000) + 1))
        if helper_fd in events:
            break
        if owner_fd in events and killed_at is None:
            poller.unregister(owner_fd)
            killed_at = time.monotonic() + GUARD_GRACE
        if killed_at is not None and time.monotonic() >= killed_at:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(helper_fd, signal.SIGKILL)
            break
    status = 0
    def note(pid: int, st: int) -> None:
        nonlocal status
        if pid == helper:
            status = os.waitstatus_to_exitcode(st)
    kill_and_reap(time.monotonic() + GUARD_DEADLINE, note)
    os.close(helper_fd)
    return status if status >= 0 else 128 - status


def owner_pidfd() -> int | None:
    """A pidfd of our parent; -1 without pidfds (Linux < 5.3: socket EOF must do); None when the
    parent is already gone. Opened, then re-checked against getppid(): had the parent died in
    between, we would have been reparented and the pid could have been recycled; while it is
    still our parent it cannot have been reaped."""
    owner = os.getppid()
    try:
        fd = os.pidfd_open(owner)
    except ProcessLookupError:
        return None
    except OSError:
        return -1
    if os.getppid() != owner:
        os.close(fd)
        return None
    return fd


def exec_guard(helper: int, owner_fd: int) -> int:
    """In the guard, right after the fork: become the small guard program; if that fails, be
    the guard in this process. Never returns to the caller's code otherwise."""
    if owner_fd >= 0:
        os.set_inheritable(owner_fd, True)
    with contextlib.suppress(OSError):
        os.execv(sys.executable, [sys.executable, "-I", "-S", os.path.abspath(__file__),
                                  str(helper), str(owner_fd)])
    return guard(helper, owner_fd)


if __name__ == "__main__":
    # The guard program (exec_guard): SIGINT/SIGHUP stay ignored across execve, as set before.
    raise SystemExit(guard(int(sys.argv[1]), int(sys.argv[2])))
