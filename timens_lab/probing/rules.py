"""The probe's judgement: each check from the facts, and errno → (why, one-line remediation).

Pure functions over :class:`timens_lab.probing.check.Facts` and the child's report, so every rule is
unit-tested with invented machines (Ubuntu with AppArmor, Docker with seccomp, limits at 0).
The errno meanings follow unshare(2), time_namespaces(7) and kernel-timens.md §10.
"""

from __future__ import annotations

import dataclasses
import errno as E
from collections.abc import Mapping
from typing import Any

from ..offsets import format_duration
from .check import CAP_SYS_ADMIN, CAP_SYS_TIME, EXEC_SEMANTICS_KERNEL, MIN_KERNEL, Check, Facts

CONFIG_HINT = "use Linux ≥ 5.6 built with CONFIG_TIME_NS=y (most distribution kernels since 2020)"
SECCOMP_HINT = ("a seccomp filter refuses it: in Docker/Podman run with "
                "--security-opt seccomp=unconfined (or --privileged)")
CONTAINER_CAPS_HINT = ("run the container with --privileged, or with "
                       "--cap-add SYS_ADMIN --cap-add SYS_TIME")
REPORT_HINT = "unexpected: please report the output of `timens-lab probe --json`"
PROC_HINT = "mount /proc (mount -t proc proc /proc): timens_offsets and ns links live there"
REINSTALL_HINT = "reinstall timens-lab (pip install -e .) and run `timens-lab probe` again"
#: A generous limit to suggest when a user.* sysctl is 0 (distributions default to ~memory/16k).
SUGGESTED_LIMIT = 15000
CALLS = {"root": "unshare(CLONE_NEWTIME)", "rootless": "unshare(CLONE_NEWUSER|CLONE_NEWTIME)"}
USER_NS = "user.max_user_namespaces"
TIME_NS = "user.max_time_namespaces"
APPARMOR = "kernel.apparmor_restrict_unprivileged_userns"
USERNS_CLONE = "kernel.unprivileged_userns_clone"


@dataclasses.dataclass(frozen=True, slots=True)
class Attempt:
    """One live attempt as :mod:`timens_lab.probing._child` reported it."""

    ok: bool
    stage: str = ""
    errno: int | None = None
    detail: str = ""
    ns: str = ""
    monotonic_ns: int = 0
    boottime_ns: int = 0
    clone3_errno: int | None = None

    @classmethod
    def from_report(cls, data: Mapping[str, Any] | None) -> Attempt | None:
        if not data:
            return None
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    @property
    def errname(self) -> str:
        return E.errorcode.get(self.errno, f"errno {self.errno}") if self.errno else self.stage


def _limit(facts: Facts, name: str) -> str:
    """``name=N`` raising the sysctl: 15000 from 0 or a small value, else double the current."""
    now = facts.sysctls.get(name) or 0
    return f"{name}={SUGGESTED_LIMIT if now < SUGGESTED_LIMIT else 2 * now}"


def explain(which: str, attempt: Attempt, facts: Facts) -> tuple[str, str]:
    """Why ``attempt`` (``which`` is "root" or "rootless") failed, and the fix, each one line."""
    err, stage = attempt.errno, attempt.stage
    if stage == "unshare":
        return _explain_unshare(which, err, facts)
    if stage == "write" and err == E.EPERM:
        if which == "root":
            return ("no CAP_SYS_TIME, which writing offsets needs (time_namespaces(7))",
                    CONTAINER_CAPS_HINT if facts.status.euid == 0 else "run as root")
        if facts.sysctls.get(APPARMOR) == 1 and not facts.privileged:
            return _apparmor(facts)
        return ("no CAP_SYS_TIME in the new user namespace: a security module removed it",
                "run as root, or allow user namespaces for this program in the security module")
    if stage == "fork" and err == E.EAGAIN:
        return ("fork failed: process limit reached",
                "raise `ulimit -u` or the pids cgroup limit (pids.max)")
    if stage == "verify":
        return (attempt.detail, REPORT_HINT)
    if stage == "internal":
        return (attempt.detail, REINSTALL_HINT)
    return (f"{attempt.errname} at {stage}: {attempt.detail}", REPORT_HINT)


def _apparmor(facts: Facts) -> tuple[str, str]:
    return (f"AppArmor ({APPARMOR}=1) gives unprivileged user namespaces no capabilities",
            facts.sysctl_cmd(f"{APPARMOR}=0") + ", or run as root")


# One return per errno reads like unshare(2)'s ERRORS section.
def _explain_unshare(which: str, err: int | None, facts: Facts) -> tuple[str, str]:
    filtered = facts.status.seccomp in (1, 2)
    if err == E.ENOSPC:
        # The counts walk up the user-namespace chain (inc_ucount), and a new user namespace
        # counts against ours: both limits apply to the rootless call (kernel-timens.md §10).
        names = [TIME_NS] if which == "root" else [USER_NS, TIME_NS]
        shown = [n for n in names if facts.sysctls.get(n) == 0] or names
        now = ", ".join(f"{n}={facts.sysctls.get(n)}" for n in shown)
        return (f"namespace limit reached ({now}, here or in a parent user namespace)",
                facts.sysctl_cmd(*(_limit(facts, n) for n in shown)))
    if err == E.EPERM and which == "root":
        if not facts.privileged:
            if facts.status.euid == 0:
                return ("root without CAP_SYS_ADMIN (a container?)", CONTAINER_CAPS_HINT)
            return (f"needs CAP_SYS_ADMIN; uid {facts.status.euid} has not",
                    "run as root for root mode; rootless mode needs no privilege")
        if filtered:
            return ("refused despite CAP_SYS_ADMIN: seccomp filter", SECCOMP_HINT)
        return ("refused despite CAP_SYS_ADMIN: a security module (SELinux, AppArmor) denies it",
                "look for the denial in the audit log (journalctl -k | grep -i denied)")
    if err == E.EPERM:
        if facts.sysctls.get(USERNS_CLONE) == 0 and not facts.privileged:
            return (f"{USERNS_CLONE}=0 forbids user namespaces to unprivileged users",
                    facts.sysctl_cmd(f"{USERNS_CLONE}=1") + ", or run as root")
        if facts.sysctls.get(APPARMOR) == 1 and not facts.privileged:
            return _apparmor(facts)
        if filtered:
            return ("user namespaces refused by a seccomp filter", SECCOMP_HINT)
        return ("user namespaces refused here (chroot, security module or container policy)",
                "run as root, or in a container started with --privileged")
    if err == E.EUSERS:
        return ("user namespaces nested too deep (the kernel allows 32 levels)",
                "run from a less nested user namespace")
    if err == E.EINVAL:
        return ("the kernel does not accept the flags (no CONFIG_TIME_NS or CONFIG_USER_NS)",
                CONFIG_HINT + (" and CONFIG_USER_NS=y" if which == "rootless" else ""))
    if err == E.ENOSYS:
        return ("unshare(2) is filtered (seccomp answers ENOSYS)", SECCOMP_HINT)
    return (f"unexpected {E.errorcode.get(err or 0, err)}", REPORT_HINT)


def _call(which: str, attempt: Attempt) -> str:
    if attempt.stage == "write":
        return "write /proc/self/timens_offsets"
    return CALLS[which] if attempt.stage == "unshare" else attempt.stage


# --- checks ------------------------------------------------------------------------------------

def kernel_check(facts: Facts) -> Check:
    if facts.version is None:
        return Check("kernel", None, f"{facts.release} (version not recognised)")
    need = ".".join(map(str, MIN_KERNEL))
    if facts.version >= MIN_KERNEL:
        return Check("kernel", True, f"{facts.release} (time namespaces since {need})")
    return Check("kernel", False, f"{facts.release}: older than {need}", CONFIG_HINT)


def config_check(facts: Facts) -> Check:
    if not facts.proc_mounted:
        return Check("config_time_ns", False, "/proc is not mounted", PROC_HINT)
    if facts.time_ns is None:
        return Check("config_time_ns", False, "no /proc/self/ns/time: built without CONFIG_TIME_NS",
                     CONFIG_HINT)
    return Check("config_time_ns", True, f"/proc/self/ns/time -> {facts.time_ns}")


def privilege_check(facts: Facts) -> Check:
    st = facts.status
    caps = [name for bit, name in ((CAP_SYS_ADMIN, "CAP_SYS_ADMIN"), (CAP_SYS_TIME, "CAP_SYS_TIME"))
            if st.has_cap(bit)]
    where = {True: "initial user namespace", False: f"user namespace with uid_map {facts.uid_map}",
             None: "user namespace unknown"}[facts.initial_userns]
    detail = f"euid {st.euid}, {' + '.join(caps) or 'no CAP_SYS_ADMIN'} ({where})"
    if facts.privileged:
        return Check("privilege", True, detail)
    if st.euid == 0:
        return Check("privilege", False, detail + ": root without CAP_SYS_ADMIN",
                     CONTAINER_CAPS_HINT)
    return Check("privilege", None, detail + ": not root, so rootless mode")


def attempt_check(name: str, attempt: Attempt | None, facts: Facts, skip: str) -> Check:
    which = name.removeprefix("timens_")
    if attempt is None:
        return Check(name, None, skip)
    if attempt.ok:
        detail = (f"{CALLS[which]} -> {attempt.ns}; a forked child saw monotonic "
                  f"{format_duration(attempt.monotonic_ns)}, boottime "
                  f"{format_duration(attempt.boottime_ns)}")
        if which == "rootless" and facts.privileged:
            detail += " (tried with privilege; unprivileged users may still be refused)"
        return Check(name, True, detail)
    why, hint = explain(which, attempt, facts)
    detail = f"{_call(which, attempt)}: {attempt.errname}: {why}"
    not_applicable = (which == "root" and attempt.errno == E.EPERM and attempt.stage == "unshare"
                      and not facts.privileged and facts.status.euid != 0)
    return Check(name, None if not_applicable else False, detail, hint)


def sysctl_checks(facts: Facts, rootless: Attempt | None) -> list[Check]:
    values = facts.sysctls
    checks = []
    for name, what in ((USER_NS, "user"), (TIME_NS, "time")):
        value = values.get(name)
        if value is None:
            checks.append(Check(name, None, "not present on this kernel"))
        elif value == 0:
            checks.append(Check(name, False, f"0: no {what} namespaces can be created here",
                                facts.sysctl_cmd(_limit(facts, name))))
        else:
            checks.append(Check(name, True, str(value)))
    rootless_ok = rootless is not None and rootless.ok
    policies = ((APPARMOR, 1, _apparmor(facts)[1], "no AppArmor user-namespace mediation"),
                (USERNS_CLONE, 0, facts.sysctl_cmd(f"{USERNS_CLONE}=1") + ", or run as root",
                 "an Ubuntu/Debian kernel patch, not upstream"))
    for name, blocking, hint, absent in policies:
        value = values.get(name)
        if value is None:
            checks.append(Check(name, None, f"not present ({absent})"))
        elif value != blocking:
            checks.append(Check(name, True, str(value)))
        elif facts.privileged:
            checks.append(Check(name, True, f"{value}: restricts unprivileged users only"))
        elif rootless_ok:
            checks.append(Check(name, True, f"{value}, yet this process may use user namespaces"))
        else:
            checks.append(Check(name, False, f"{value}: blocks rootless time namespaces", hint))
    return checks


def seccomp_check(facts: Facts, root: Attempt | None, rootless: Attempt | None) -> Check:
    mode, filters = facts.status.seccomp, facts.status.seccomp_filters
    if mode is None:
        return Check("seccomp", None, "no Seccomp line in /proc/self/status (no CONFIG_SECCOMP)")
    if mode == 0:
        return Check("seccomp", True, "disabled (Seccomp: 0)")
    label = f"filter mode (Seccomp: {mode}, {filters if filters is not None else '?'} filters)"
    natural = root if facts.privileged else rootless
    if natural is None:
        return Check("seccomp", None, f"{label}; not tried")
    blocked = (not natural.ok and natural.stage == "unshare"
               and natural.errno in (E.EPERM, E.ENOSYS))
    if blocked:
        return Check("seccomp", False, f"{label}; unshare refused with {natural.errname}",
                     SECCOMP_HINT)
    return Check("seccomp", True, f"{label}; it did not block unshare")


def exec_semantics_check(facts: Facts) -> Check:
    need = ".".join(map(str, EXEC_SEMANTICS_KERNEL))
    if facts.version is None:
        return Check("exec_semantics", None, "kernel version not recognised", required=False)
    have = ".".join(map(str, facts.version[:2]))
    if facts.version >= EXEC_SEMANTICS_KERNEL:
        return Check("exec_semantics", True,
                     f"{have} ≥ {need}: exec() enters the unsharer's new namespace; threads, vfork "
                     "and posix_spawn work after unshare", required=False)
    return Check("exec_semantics", False,
                 f"{have} < {need}: exec() stays in the old namespace and threads, vfork and "
                 "posix_spawn fail with EINVAL after unshare (timens-lab forks, so it still works)",
                 f"optional: on Linux ≥ {need} `unshare --time CMD` runs CMD inside, no --fork",
                 required=False)


def clone3_check(root: Attempt | None, rootless: Attempt | None, skip: str) -> Check:
    name = "clone3_newtime"
    for which, attempt in (("root", root), ("rootless", rootless)):
        if attempt is None or not attempt.ok or attempt.clone3_errno is None:
            continue
        where = "" if which == "root" else " (inside a new user namespace)"
        err = attempt.clone3_errno
        if err == 0:
            return Check(name, True, f"clone3(CLONE_NEWTIME) works{where}; its child is born in a "
                         "new namespace whose offsets are frozen at once", required=False)
        if err == E.EINVAL:
            return Check(name, False, f"EINVAL{where}: kernel before 6.3 (a402f1e35313) without "
                         "the stable backport", "optional: Linux ≥ 6.3; timens-lab uses unshare",
                         required=False)
        if err == E.ENOSYS:
            return Check(name, False, f"ENOSYS{where}: clone3 filtered (container seccomp "
                         "profile) or missing (< 5.3)", "optional; " + SECCOMP_HINT,
                         required=False)
        return Check(name, False, f"{E.errorcode.get(err, err)}{where}", REPORT_HINT,
                     required=False)
    return Check(name, None, "skipped: no attempt could create a namespace" if root or rootless
                 else skip, required=False)


def ns_get_id_check(report: Mapping[str, Any] | None, facts: Facts, skip: str) -> Check:
    name = "ns_get_id"
    if not report:
        return Check(name, None, skip, required=False)
    if report.get("id") is not None:
        return Check(name, True, f"NS_GET_ID on {facts.time_ns} -> {report['id']} (64-bit, never "
                     "reused, unlike inode numbers)", required=False)
    if report.get("errno"):
        err = report["errno"]
        return Check(name, False, f"{E.errorcode.get(err, err)}", REPORT_HINT, required=False)
    return Check(name, False, "not supported: namespaces are told apart by inode, which the "
                 "kernel reuses at once", "optional: Linux ≥ 6.18 has NS_GET_ID", required=False)


def verdict(facts: Facts, root: Attempt | None, rootless: Attempt | None,
            live_error: str) -> tuple[str, str]:
    """(reason, hint) when time namespaces are unusable: the failure of the natural path."""
    if not facts.proc_mounted:
        return ("/proc is not mounted", PROC_HINT)
    if facts.time_ns is None:
        old = facts.version is not None and facts.version < MIN_KERNEL
        return (f"kernel {facts.release} " + ("is older than 5.6" if old else
                "was built without CONFIG_TIME_NS (no /proc/self/ns/time)"), CONFIG_HINT)
    if live_error:
        return (live_error, REINSTALL_HINT)
    # Root mode is the natural path with CAP_SYS_ADMIN; rootless is everyone else's.
    which, attempt = ("root", root) if facts.privileged else ("rootless", rootless)
    if attempt is None:
        return ("no attempt ran", REPORT_HINT)
    why, hint = explain(which, attempt, facts)
    return (f"{_call(which, attempt)} failed with {attempt.errname}: {why}", hint)
