"""Can this machine create time namespaces, and if not, why not and what fixes it?

:func:`probe` answers in well under a second: it reads what /proc says (kernel version,
CONFIG_TIME_NS, credentials, user-namespace sysctls, AppArmor, seccomp), then *tries* both ways
in (root: ``unshare(CLONE_NEWTIME)``; rootless: ``unshare(CLONE_NEWUSER|CLONE_NEWTIME)``), each in
a throwaway fork of a fresh single-threaded child process (:mod:`timens_lab.probing._child`) that
writes offsets and checks that a grandchild sees them. Nothing runs in the calling process, which
may be a multi-threaded Jupyter kernel; nothing is left behind.

``TIMENS_LAB_MODE=replay`` forces ``mode="unavailable"`` without trying anything, so notebooks and
CI take their replay path deterministically (``auto``, ``live`` or unset: probe for real).

>>> result = probe()                                   # doctest: +SKIP
>>> result.mode, result.time_namespaces                # doctest: +SKIP
('rootless', True)
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from .._pyexec import python_argv

Mode = Literal["root", "rootless", "unavailable"]

#: Environment variable that selects the run mode (jupyter-and-tooling.md §4.3).
MODE_ENV = "TIMENS_LAB_MODE"
#: Modes that never touch the kernel: the probe reports "unavailable" without trying.
FORCED_MODES = frozenset({"replay"})
#: Time namespaces were merged in 5.6 ("ns: Introduce Time Namespace", 769071ac9f20).
MIN_KERNEL = (5, 6)
#: exec() switches to time_for_children since 6.2 (2b5f9dad32ed, kernel-timens.md §2.2).
EXEC_SEMANTICS_KERNEL = (6, 2)
CAP_SYS_ADMIN = 21  # include/uapi/linux/capability.h
CAP_SYS_TIME = 25
SYSCTLS = ("user.max_user_namespaces", "user.max_time_namespaces",
           "kernel.apparmor_restrict_unprivileged_userns", "kernel.unprivileged_userns_clone")
CHILD_TIMEOUT = 5.0
_INITIAL_UID_MAP = ("0", "0", "4294967295")


@dataclasses.dataclass(frozen=True, slots=True)
class Check:
    """One line of the probe: ``ok`` is True, False, or None (not applicable / skipped).

    ``required`` is False for features timens-lab can do without (exec semantics, clone3,
    NS_GET_ID): their absence is shown as "no", not as a failure.
    """

    name: str
    ok: bool | None
    detail: str
    hint: str = ""
    required: bool = True


@dataclasses.dataclass(frozen=True, slots=True)
class ProbeResult:
    """The probe's verdict, its evidence (``checks``) and how long it took."""

    time_namespaces: bool
    mode: Mode
    kernel: str
    reason: str
    hint: str
    checks: list[Check]
    elapsed_ms: float = 0.0

    def check(self, name: str) -> Check:
        """The check called ``name`` (KeyError if there is none)."""
        for item in self.checks:
            if item.name == name:
                return item
        raise KeyError(name)

    def summary(self) -> str:
        """One line for a CLI footer or a notebook banner."""
        if self.time_namespaces:
            return f"time namespaces: usable ({self.mode})"
        return f"time namespaces: unavailable: {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent)


# --- pure parsers ------------------------------------------------------------------------------

_VERSION = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?")


def parse_kernel_version(release: str) -> tuple[int, int, int] | None:
    """``"6.18.44-fc-v657"`` → (6, 18, 44); ``"6.8.0-rc3+"`` → (6, 8, 0); junk → None."""
    m = _VERSION.match(release.strip())
    if not m:
        return None
    return int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)


@dataclasses.dataclass(frozen=True, slots=True)
class Status:
    """The lines of /proc/PID/status the probe needs (proc(5))."""

    euid: int
    cap_eff: int
    seccomp: int | None  # 0 disabled, 1 strict, 2 filter; None: kernel without CONFIG_SECCOMP
    seccomp_filters: int | None

    def has_cap(self, cap: int) -> bool:
        return bool(self.cap_eff >> cap & 1)


def parse_status(text: str) -> Status:
    """Parse /proc/PID/status (proc(5)): ``Uid:`` (real, effective…), ``CapEff:``, ``Seccomp:``."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key] = value.strip()
    uids = fields.get("Uid", "").split()
    if len(uids) < 2 or "CapEff" not in fields:
        raise ValueError("not a /proc/PID/status text: no Uid or CapEff line")

    def number(key: str) -> int | None:
        return int(fields[key]) if fields.get(key, "").isdigit() else None

    return Status(euid=int(uids[1]), cap_eff=int(fields["CapEff"], 16),
                  seccomp=number("Seccomp"), seccomp_filters=number("Seccomp_filters"))


# --- facts: what /proc says, without trying anything -------------------------------------------

@dataclasses.dataclass(frozen=True, slots=True)
class Facts:
    release: str
    version: tuple[int, int, int] | None
    time_ns: str | None  # readlink /proc/self/ns/time; None: no CONFIG_TIME_NS
    status: Status
    uid_map: str | None  # None: unreadable; "0 0 4294967295" is the initial user namespace
    sysctls: dict[str, int | None]  # None: not present on this kernel
    env_mode: str = ""
    proc_mounted: bool = True

    @property
    def privileged(self) -> bool:
        return self.status.has_cap(CAP_SYS_ADMIN)

    @property
    def initial_userns(self) -> bool | None:
        return None if self.uid_map is None else tuple(self.uid_map.split()) == _INITIAL_UID_MAP

    def sysctl_cmd(self, *assignments: str) -> str:
        """``sysctl -w a=1 b=2`` (with sudo unless we are root), one command for several values."""
        return ("" if self.status.euid == 0 else "sudo ") + "sysctl -w " + " ".join(assignments)


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def gather_facts(proc: Path = Path("/proc"), environ: Mapping[str, str] = os.environ) -> Facts:
    """Read everything the verdict needs from ``proc`` (a fake tree in unit tests)."""
    release = (_read(proc / "sys/kernel/osrelease") or os.uname().release).strip()
    try:
        time_ns: str | None = os.readlink(proc / "self/ns/time")
    except OSError:
        time_ns = None
    sysctls: dict[str, int | None] = {}
    for name in SYSCTLS:
        raw = _read(proc / "sys" / name.replace(".", "/"))
        sysctls[name] = int(raw) if raw is not None and raw.strip().lstrip("-").isdigit() else None
    uid_map = _read(proc / "self/uid_map")
    status_text = _read(proc / "self/status")
    # Without /proc nothing works (timens_offsets lives there); say so instead of guessing.
    status = (parse_status(status_text) if status_text is not None
              else Status(euid=os.geteuid(), cap_eff=0, seccomp=None, seccomp_filters=None))
    return Facts(release=release, version=parse_kernel_version(release), time_ns=time_ns,
                 status=status, uid_map=" ".join(uid_map.split()) if uid_map is not None else None,
                 sysctls=sysctls, env_mode=environ.get(MODE_ENV, "").strip().lower(),
                 proc_mounted=status_text is not None)


# --- the live attempts, in a fresh child -------------------------------------------------------

def run_child(timeout: float = CHILD_TIMEOUT) -> tuple[dict[str, Any] | None, str]:
    """Run :mod:`timens_lab.probing._child`; returns (its report, "") or (None, why it failed)."""
    # This very copy of timens_lab, never a timens_lab/ in the current directory (_pyexec).
    argv = python_argv("timens_lab.probing._child")
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, check=False)
    except subprocess.TimeoutExpired:  # run() killed it; its forks die by PDEATHSIG
        return None, f"the probe child did not answer within {timeout:g} s"
    except OSError as err:
        return None, f"cannot start {argv[0]}: {err.strerror}"
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        return None, f"the probe child failed: {last}"
    try:
        return json.loads(done.stdout), ""
    except ValueError:
        return None, f"the probe child printed no report: {done.stdout[:80]!r}"


# --- the verdict -------------------------------------------------------------------------------

def assess(facts: Facts, live: Mapping[str, Any] | None, live_error: str = "") -> ProbeResult:
    """Turn facts and the child's report into checks and a verdict (pure; unit-tested)."""
    from . import rules  # it builds Check and reads Facts from this module
    forced = facts.env_mode in FORCED_MODES
    root = rules.Attempt.from_report((live or {}).get("root"))
    rootless = rules.Attempt.from_report((live or {}).get("rootless"))
    if forced:
        skip = f"skipped: {MODE_ENV}={facts.env_mode}"
    else:
        skip = live_error or ("skipped: no time namespaces in this kernel" if facts.time_ns is None
                              else "skipped")
    checks = [
        rules.kernel_check(facts),
        rules.config_check(facts),
        rules.privilege_check(facts),
        rules.attempt_check("timens_root", root, facts, skip),
        rules.attempt_check("timens_rootless", rootless, facts, skip),
        *rules.sysctl_checks(facts, rootless),
        rules.seccomp_check(facts, root, rootless),
        rules.exec_semantics_check(facts),
        rules.clone3_check(root, rootless, skip),
        rules.ns_get_id_check((live or {}).get("ns_get_id"), facts, skip),
    ]
    mode: Mode = "unavailable"
    reason = hint = ""
    if forced:
        reason = f"forced by {MODE_ENV}={facts.env_mode}"
        hint = f"unset {MODE_ENV} (or set it to auto) to use live time namespaces"
    elif root is not None and root.ok and facts.privileged:
        mode = "root"
    elif rootless is not None and rootless.ok:
        mode = "rootless"
    else:
        reason, hint = rules.verdict(facts, root, rootless, live_error)
    return ProbeResult(time_namespaces=mode != "unavailable", mode=mode, kernel=facts.release,
                       reason=reason, hint=hint, checks=checks)


_lock = threading.Lock()
_cache: dict[tuple[int, str], ProbeResult] = {}


def probe(refresh: bool = False) -> ProbeResult:
    """Probe once per process (and per ``TIMENS_LAB_MODE`` value); ``refresh=True`` probes again.

    Never raises for an environment problem: everything that goes wrong becomes a failed check
    with a hint, and the verdict says ``unavailable``.

    .. versionadded:: 0.1
    """
    key = (os.geteuid(), os.environ.get(MODE_ENV, "").strip().lower())
    with _lock:
        if not refresh and key in _cache:
            return _cache[key]
        start = time.perf_counter()
        facts = gather_facts()
        live: dict[str, Any] | None = None
        live_error = ""
        if facts.env_mode not in FORCED_MODES and facts.time_ns is not None:
            live, live_error = run_child()
        result = dataclasses.replace(assess(facts, live, live_error),
                                     elapsed_ms=round((time.perf_counter() - start) * 1000, 1))
        _cache[key] = result
        return result


__all__ = ["Check", "Mode", "ProbeResult", "parse_kernel_version", "parse_status", "probe"]
