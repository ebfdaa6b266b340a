"""Helpers for tests, benches and CI: a simulated machine without time namespaces, and kcmp.

:func:`locked_down_argv` wraps a command so that it runs inside a fresh user namespace (util-linux
``unshare --user --map-root-user``) whose ``user.max_time_namespaces`` and
``user.max_user_namespaces`` are 0. In there ``unshare(CLONE_NEWTIME)`` and
``unshare(CLONE_NEWUSER|CLONE_NEWTIME)`` both fail with ENOSPC, so ``timens-lab probe`` says
"unavailable" for real, not because an environment variable told it to. The limits are per user
namespace and writable by that namespace's root (kernel/ucount.c ``set_permissions``;
user_namespaces(7); the tutorial's behaviour 35); the host's limits are untouched and nothing outlives the
command.

>>> import subprocess, sys
>>> argv = locked_down_argv([sys.executable, "-m", "timens_lab", "probe", "--json"])
>>> subprocess.run(argv, capture_output=True).returncode   # doctest: +SKIP
1

Needs util-linux ``unshare`` and permission to create one user namespace (root, or a normal
user where unprivileged user namespaces are allowed).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Sequence

#: The sysctls set to 0 inside the simulated machine.
LOCKED_DOWN_SYSCTLS = ("user.max_time_namespaces", "user.max_user_namespaces")

# Runs as the root of the new user namespace: zero the limits, then become the command (so its
# exit status and signals are the command's own). Exit 125 when the lock-down itself fails, as
# timeout(1) and env(1) do for their own errors.
_LOCK_DOWN = f"""\
import os, sys
try:
    for name in {LOCKED_DOWN_SYSCTLS!r}:
        with open("/proc/sys/" + name.replace(".", "/"), "w") as f:
            f.write("0")
except OSError as err:
    sys.stderr.write(f"error: cannot lock down {{name}}: {{err.strerror}}\\n")
    raise SystemExit(125)
try:
    os.execvp(sys.argv[1], sys.argv[1:])
except OSError as err:
    sys.stderr.write(f"error: cannot run {{sys.argv[1]}}: {{err.strerror}}\\n")
    raise SystemExit(127 if isinstance(err, FileNotFoundError) else 126)
"""

# Root's way in with every id mapped: a child unshares CLONE_NEWUSER, this process (root in the
# parent namespace) writes its uid_map and gid_map, and the child runs the lock-down above as
# root in there. The child dies with us (PR_SET_PDEATHSIG); we exit with its status.
_EVERY_ID = """\
import os, signal, sys
from timens_lab import kernel
ready_r, ready_w = os.pipe()
go_r, go_w = os.pipe()
pid = os.fork()
if pid == 0:
    kernel.set_pdeathsig(signal.SIGKILL)
    kernel.unshare(kernel.CLONE_NEWUSER)
    os.write(ready_w, b"u")
    if os.read(go_r, 1) != b"g":
        os._exit(125)
    os.execv(sys.executable, [sys.executable, "-c", sys.argv[1], *sys.argv[2:]])
os.read(ready_r, 1)
for name in ("uid_map", "gid_map"):
    with open(f"/proc/{pid}/{name}", "w") as f:
        f.write("0 0 4294967295")
os.write(go_w, b"g")
for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(sig, lambda s, _f: os.kill(pid, s))
_, status = os.waitpid(pid, 0)
raise SystemExit(os.waitstatus_to_exitcode(status) % 256)
"""


def locked_down_argv(argv: Sequence[str], *, python: str | None = None,
                     every_id: bool = False) -> list[str]:
    """The argv that runs ``argv`` where time and user namespace limits are 0.

    ``argv[0]`` is looked up in PATH. ``python`` (default: this interpreter) runs the few lines
    that lower the limits before exec'ing ``argv``. ``every_id`` (root only): map every uid and
    gid into the new user namespace, not just root, so that a test can still drop to nobody in
    there, as on a real machine without time namespaces (util-linux maps more than one id only
    through newuidmap(1); root writes the maps itself, user_namespaces(7)).

    Raises:
        ValueError: ``argv`` is empty, or ``every_id`` without root.
        FileNotFoundError: util-linux ``unshare`` is not installed.
    """
    if not argv:
        raise ValueError("locked_down_argv() needs a command")
    if every_id:
        if os.geteuid() != 0:
            raise ValueError("locked_down_argv(every_id=True) needs root: only root may map "
                             "other users' ids")
        return [python or sys.executable, "-c", _EVERY_ID, _LOCK_DOWN, *argv]
    unshare = shutil.which("unshare")
    if unshare is None:
        raise FileNotFoundError("locked_down_argv() needs util-linux unshare (apt-get install "
                                "util-linux)")
    return [unshare, "--user", "--map-root-user", "--", python or sys.executable, "-c",
            _LOCK_DOWN, *argv]


def same_address_space(a: int, b: int) -> bool | None:
    """Do processes ``a`` and ``b`` share one address space? kcmp(2) with KCMP_VM, e.g. a
    namespace holder and its helper (csrc/01-spawn.c: holders are CLONE_VM children). None
    where this build knows no kcmp syscall number (kernel.kcmp_vm).

    Raises:
        OSError: kcmp refused (ESRCH: no such process; EPERM: not ours to compare).
    """
    from . import kernel

    return kernel.kcmp_vm(a, b)
