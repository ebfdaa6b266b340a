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


def locked_down_argv(argv: Sequence[str], *, python: str | None = None) -> list[str]:
    """The argv that runs ``argv`` where time and user namespace limits are 0.

    ``argv[0]`` is looked up in PATH. ``python`` (default: this interpreter) runs the few lines
    that lower the limits before exec'ing ``argv``.

    Raises:
        ValueError: ``argv`` is empty.
        FileNotFoundError: util-linux ``unshare`` is not installed.
    """
    if not argv:
        raise ValueError("locked_down_argv() needs a command")
    unshare = shutil.which("unshare")
    if unshare is None:
        raise FileNotFoundError("locked_down_argv() needs util-linux unshare (apt-get install "
                                "util-linux)")
    return [unshare, "--user", "--map-root-user", "--", python or sys.executable, "-c",
            _LOCK_DOWN, *argv]


def same_address_space(a: int, b: int) -> bool | None:
    """Do processes ``a`` and ``b`` share one address space? kcmp(2) with KCMP_VM, e.g. a
    namespace holder and its helper (csrc/01-spawn.c: holders are CLONE_VM children). None
    where the syscall number is not known here (only x86_64 and aarch64 are)."""
    import ctypes
    import os

    nr = {"x86_64": 312, "aarch64": 272}.get(os.uname().machine)
    if nr is None:
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    r = libc.syscall(nr, a, b, 1, 0, 0)  # KCMP_VM = 1 (linux/kcmp.h)
    if r < 0:
        raise OSError(ctypes.get_errno(), f"kcmp({a}, {b}): {os.strerror(ctypes.get_errno())}")
    return r == 0
