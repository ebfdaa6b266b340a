"""The probe's pure parts: parsers, fake /proc trees, errno → hint rules, verdicts, JSON, table."""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import platform
from pathlib import Path
from typing import Any

import pytest

from timens_lab import cli
from timens_lab.commands.probe import format_table
from timens_lab.probing import check as probe_mod
from timens_lab.probing.check import (
    Facts,
    ProbeResult,
    Status,
    assess,
    gather_facts,
    parse_kernel_version,
)
from timens_lab.probing.check import parse_status as parse_status_text
from timens_lab.probing.rules import Attempt, explain
from timens_lab.testing import locked_down_argv

ALL_CAPS = 0x000001FFFEFFFFFF  # CapEff of root on the test machine
DOCKER_CAPS = 0x00000000A80425FB  # Docker's default: no CAP_SYS_ADMIN (21) nor CAP_SYS_TIME (25)
OK = {"ok": True, "ns": "time:[4026532177]", "monotonic_ns": 86_400_123_456_789,
      "boottime_ns": 172_800_987_654_321, "clone3_errno": 0}


def fail(stage: str, err: int | None) -> dict[str, Any]:
    return {"ok": False, "stage": stage, "errno": err, "detail": os.strerror(err or 0)}


def make_facts(*, euid: int = 0, caps: int = ALL_CAPS, seccomp: int | None = 0,
               release: str = "6.18.44-fc-v657", time_ns: str | None = "time:[4026531834]",
               uid_map: str | None = "0 0 4294967295", env_mode: str = "",
               **sysctls: int | None) -> Facts:
    values: dict[str, int | None] = {
        "user.max_user_namespaces": 96365, "user.max_time_namespaces": 96365,
        "kernel.apparmor_restrict_unprivileged_userns": None,
        "kernel.unprivileged_userns_clone": None,
    }
    values.update({k.replace("__", "."): v for k, v in sysctls.items()})
    return Facts(release=release, version=parse_kernel_version(release), time_ns=time_ns,
                 status=Status(euid=euid, cap_eff=caps, seccomp=seccomp,
                               seccomp_filters=1 if seccomp else 0),
                 uid_map=uid_map, sysctls=values, env_mode=env_mode)


NOBODY = {"euid": 65534, "caps": 0}


# --- parsers -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("release", "expected"), [
    ("6.18.44-fc-v657", (6, 18, 44)),
    ("5.15.0-91-generic", (5, 15, 0)),
    ("6.1.0-18-amd64", (6, 1, 0)),
    ("6.8.0-rc3+", (6, 8, 0)),
    ("5.6", (5, 6, 0)),
    ("4.19.325\n", (4, 19, 325)),
    ("Linux", None),
    ("", None),
])
def test_parse_kernel_version(release: str, expected: tuple[int, int, int] | None) -> None:
    """Releases from upstream, Debian, Ubuntu and -rc kernels parse to (major, minor, patch)."""
    assert expected == parse_kernel_version(release)


def test_parse_kernel_version_agrees_with_platform() -> None:
    """This machine's release parses to what platform.release() starts with."""
    version = parse_kernel_version(os.uname().release)
    assert version is not None
    assert platform.release().startswith(".".join(map(str, version[:2])))


def test_parse_status() -> None:
    """Effective uid is the second Uid field; CapEff is hex; Seccomp lines are optional."""
    text = ("Name:\tpython3\nUid:\t1000\t1001\t1002\t1003\nCapEff:\t0000000000200000\n"
            "NoNewPrivs:\t1\nSeccomp:\t2\nSeccomp_filters:\t3\n")
    status = parse_status_text(text)
    assert (status.euid, status.seccomp, status.seccomp_filters) == (1001, 2, 3)
    assert status.has_cap(21)
    assert not status.has_cap(25)
    bare = parse_status_text("Uid:\t0\t0\t0\t0\nCapEff:\t0000000000000000\n")
    assert (bare.seccomp, bare.seccomp_filters) == (None, None)


def test_parse_status_rejects_other_text() -> None:
    """Text without Uid/CapEff lines is not mistaken for a status file."""
    with pytest.raises(ValueError, match="Uid"):
        parse_status_text("monotonic 0 0\n")


def test_parse_status_agrees_with_os() -> None:
    """The real /proc/self/status gives the euid os.geteuid() gives."""
    assert os.geteuid() == parse_status_text(Path("/proc/self/status").read_text()).euid


# --- facts from a fake /proc -------------------------------------------------------------------

def fake_proc(root: Path, *, status: str | None, sysctls: dict[str, str],
              time_link: str | None = "time:[4026531834]") -> Path:
    (root / "self/ns").mkdir(parents=True)
    (root / "sys/kernel").mkdir(parents=True)
    (root / "sys/user").mkdir(parents=True)
    (root / "sys/kernel/osrelease").write_text("6.8.0-45-generic\n")
    (root / "self/uid_map").write_text("         0          0 4294967295\n")
    if status is not None:
        (root / "self/status").write_text(status)
    if time_link is not None:
        os.symlink(time_link, root / "self/ns/time")
    for name, value in sysctls.items():
        (root / "sys" / name.replace(".", "/")).write_text(value)
    return root


def test_gather_facts_from_fake_proc(tmp_path: Path) -> None:
    """An Ubuntu 24.04 lookalike: AppArmor restriction on, seccomp filter, nobody's creds."""
    proc = fake_proc(tmp_path, status="Uid:\t65534\t65534\t65534\t65534\nCapEff:\t0\nSeccomp:\t2\n",
                     sysctls={"user.max_user_namespaces": "63432\n",
                              "user.max_time_namespaces": "0\n",
                              "kernel.apparmor_restrict_unprivileged_userns": "1\n"})
    facts = gather_facts(proc, environ={"TIMENS_LAB_MODE": " Replay "})
    assert facts.release == "6.8.0-45-generic"
    assert facts.version == (6, 8, 0)
    assert facts.time_ns == "time:[4026531834]"
    assert facts.initial_userns is True
    assert facts.status == Status(euid=65534, cap_eff=0, seccomp=2, seccomp_filters=None)
    assert facts.sysctls == {"user.max_user_namespaces": 63432, "user.max_time_namespaces": 0,
                             "kernel.apparmor_restrict_unprivileged_userns": 1,
                             "kernel.unprivileged_userns_clone": None}
    assert facts.env_mode == "replay"
    assert facts.proc_mounted


def test_gather_facts_without_time_ns_or_proc(tmp_path: Path) -> None:
    """No ns/time link means no CONFIG_TIME_NS; no status file means /proc is missing."""
    proc = fake_proc(tmp_path, status=None, sysctls={}, time_link=None)
    facts = gather_facts(proc, environ={})
    assert (facts.time_ns, facts.proc_mounted) == (None, False)
    result = assess(facts, None)
    assert result.reason == "/proc is not mounted"
    assert "mount -t proc" in result.hint


# --- errno → why and hint ----------------------------------------------------------------------

HINT_CASES = [
    # (which, stage, errno, facts, expected hint)
    ("rootless", "unshare", errno.ENOSPC,
     make_facts(**NOBODY, user__max_user_namespaces=0),
     "sudo sysctl -w user.max_user_namespaces=15000"),
    ("rootless", "unshare", errno.ENOSPC,
     make_facts(user__max_user_namespaces=0, user__max_time_namespaces=0),
     "sysctl -w user.max_user_namespaces=15000 user.max_time_namespaces=15000"),
    ("root", "unshare", errno.ENOSPC, make_facts(user__max_time_namespaces=0),
     "sysctl -w user.max_time_namespaces=15000"),
    # A limit that is merely reached is raised, never lowered to 15000.
    ("root", "unshare", errno.ENOSPC, make_facts(user__max_time_namespaces=20000),
     "sysctl -w user.max_time_namespaces=40000"),
    ("rootless", "unshare", errno.EPERM,
     make_facts(**NOBODY, kernel__apparmor_restrict_unprivileged_userns=1),
     "sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or run as root"),
    ("rootless", "write", errno.EPERM,
     make_facts(**NOBODY, kernel__apparmor_restrict_unprivileged_userns=1),
     "sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or run as root"),
    ("rootless", "unshare", errno.EPERM,
     make_facts(**NOBODY, kernel__unprivileged_userns_clone=0),
     "sudo sysctl -w kernel.unprivileged_userns_clone=1, or run as root"),
    ("rootless", "unshare", errno.EPERM, make_facts(**NOBODY, seccomp=2),
     "a seccomp filter refuses it: in Docker/Podman run with --security-opt seccomp=unconfined "
     "(or --privileged)"),
    ("root", "unshare", errno.EPERM, make_facts(caps=DOCKER_CAPS, seccomp=2),
     "run the container with --privileged, or with --cap-add SYS_ADMIN --cap-add SYS_TIME"),
    ("root", "unshare", errno.EPERM, make_facts(seccomp=2),
     "a seccomp filter refuses it: in Docker/Podman run with --security-opt seccomp=unconfined "
     "(or --privileged)"),
    ("root", "write", errno.EPERM, make_facts(caps=1 << 21),
     "run the container with --privileged, or with --cap-add SYS_ADMIN --cap-add SYS_TIME"),
    ("root", "unshare", errno.EPERM, make_facts(**NOBODY),
     "run as root for root mode; rootless mode needs no privilege"),
    ("root", "unshare", errno.EINVAL, make_facts(release="5.4.0"),
     "use Linux ≥ 5.6 built with CONFIG_TIME_NS=y (most distribution kernels since 2020)"),
    ("root", "unshare", errno.ENOSYS, make_facts(seccomp=2),
     "a seccomp filter refuses it: in Docker/Podman run with --security-opt seccomp=unconfined "
     "(or --privileged)"),
    ("rootless", "unshare", errno.EUSERS, make_facts(**NOBODY),
     "run from a less nested user namespace"),
    ("root", "fork", errno.EAGAIN, make_facts(),
     "raise `ulimit -u` or the pids cgroup limit (pids.max)"),
]


@pytest.mark.parametrize(("which", "stage", "err", "facts", "expected"), HINT_CASES)
def test_hint_for_errno(which: str, stage: str, err: int, facts: Facts, expected: str) -> None:
    """Each known errno at each stage maps to its one-line, correct remediation."""
    why, hint = explain(which, Attempt(ok=False, stage=stage, errno=err), facts)
    assert expected == hint
    assert why
    assert "\n" not in why + hint


# --- verdicts ----------------------------------------------------------------------------------

def test_assess_root() -> None:
    """Root with CAP_SYS_ADMIN whose attempt worked: mode root, no reason, no hint."""
    result = assess(make_facts(), {"root": OK, "rootless": OK, "ns_get_id": {"id": 2}})
    assert (result.time_namespaces, result.mode, result.reason,
                                      result.hint) == (True, "root", "", "")
    assert all(c.ok is not False for c in result.checks)
    assert "+86400.123456789s" in result.check("timens_root").detail


def test_assess_nobody() -> None:
    """Without privilege the root attempt is not applicable (None) and rootless is the mode."""
    result = assess(make_facts(**NOBODY), {"root": fail("unshare", errno.EPERM),
                                           "rootless": OK, "ns_get_id": {"id": 2}})
    assert (result.time_namespaces, result.mode) == (True, "rootless")
    assert result.check("timens_root").ok is None
    assert "EPERM" in result.check("timens_root").detail
    assert result.check("privilege").ok is None


def test_assess_locked_down() -> None:
    """Limits at 0 inside a user namespace: unavailable, ENOSPC, hints naming the sysctls."""
    facts = make_facts(uid_map="0 0 1", user__max_user_namespaces=0, user__max_time_namespaces=0)
    result = assess(facts, {"root": fail("unshare", errno.ENOSPC),
                            "rootless": fail("unshare", errno.ENOSPC), "ns_get_id": {"id": 2}})
    assert (result.time_namespaces, result.mode) == (False, "unavailable")
    assert "ENOSPC" in result.reason
    assert "user.max_time_namespaces=0" in result.reason
    assert result.hint == "sysctl -w user.max_time_namespaces=15000"
    assert (result.check("timens_rootless").hint
            == "sysctl -w user.max_user_namespaces=15000 user.max_time_namespaces=15000")
    assert result.check("user.max_user_namespaces").ok is False
    assert result.check("clone3_newtime").ok is None
    assert "uid_map 0 0 1" in result.check("privilege").detail


def test_assess_ubuntu_apparmor() -> None:
    """Ubuntu ≥ 23.10 as a normal user: rootless refused, the AppArmor sysctl is the fix."""
    facts = make_facts(euid=1000, caps=0, release="6.8.0-45-generic",
                       kernel__apparmor_restrict_unprivileged_userns=1)
    result = assess(facts, {"root": fail("unshare", errno.EPERM),
                            "rootless": fail("write", errno.EPERM), "ns_get_id": {"id": None}})
    assert result.mode == "unavailable"
    assert result.hint.startswith("sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0")
    assert result.check("kernel.apparmor_restrict_unprivileged_userns").ok is False
    assert result.check("ns_get_id").ok is False
    assert not result.check("ns_get_id").required


def test_assess_apparmor_does_not_blame_root() -> None:
    """The AppArmor restriction is shown as harmless when the caller is privileged."""
    facts = make_facts(kernel__apparmor_restrict_unprivileged_userns=1)
    result = assess(facts, {"root": OK, "rootless": OK, "ns_get_id": {"id": 2}})
    assert result.check("kernel.apparmor_restrict_unprivileged_userns").ok is True


def test_assess_docker_default() -> None:
    """Root in a default Docker container: no CAP_SYS_ADMIN, seccomp filter, both refused."""
    facts = make_facts(caps=DOCKER_CAPS, seccomp=2)
    result = assess(facts, {"root": fail("unshare", errno.EPERM),
                            "rootless": fail("unshare", errno.EPERM), "ns_get_id": {"id": 2}})
    assert result.mode == "unavailable"
    assert "--privileged" in result.hint
    assert result.check("privilege").ok is False
    assert result.check("timens_root").ok is False
    assert result.check("seccomp").ok is False


def test_assess_old_kernel_still_usable() -> None:
    """On 5.15 the optional features are "no" but root mode works."""
    old = dict(OK, clone3_errno=errno.EINVAL)
    result = assess(make_facts(release="5.15.0-91-generic"),
                    {"root": old, "rootless": old, "ns_get_id": {"id": None}})
    assert result.mode == "root"
    for name in ("exec_semantics", "clone3_newtime", "ns_get_id"):
        check = result.check(name)
        assert (check.ok, check.required) == (False, False), name
        assert check.hint.startswith("optional"), name


def test_assess_no_config_time_ns() -> None:
    """No /proc/self/ns/time: the kernel is the reason and nothing was attempted."""
    result = assess(make_facts(time_ns=None, release="5.4.0-150-generic"), None)
    assert result.reason == "kernel 5.4.0-150-generic is older than 5.6"
    assert "CONFIG_TIME_NS=y" in result.hint
    assert result.check("config_time_ns").ok is False
    assert result.check("kernel").ok is False


def test_assess_forced_replay() -> None:
    """TIMENS_LAB_MODE=replay: unavailable with a fixed reason; live checks are skipped."""
    result = assess(make_facts(env_mode="replay"), None)
    assert (result.time_namespaces, result.reason) == (False, "forced by TIMENS_LAB_MODE=replay")
    assert result.check("timens_root").ok is None
    assert "TIMENS_LAB_MODE=replay" in result.check("timens_root").detail


def test_assess_child_failed() -> None:
    """A probe child that could not run is the reason, with a reinstall hint."""
    result = assess(make_facts(), None, "the probe child failed: ImportError: _timens")
    assert result.reason == "the probe child failed: ImportError: _timens"
    assert "reinstall" in result.hint


SCENARIOS = {
    "root": (make_facts(), {"root": OK, "rootless": OK, "ns_get_id": {"id": 2}}),
    "docker": (make_facts(caps=DOCKER_CAPS, seccomp=2),
               {"root": fail("unshare", errno.EPERM), "rootless": fail("unshare", errno.EPERM),
                "ns_get_id": {"id": 2}}),
    "locked": (make_facts(user__max_user_namespaces=0, user__max_time_namespaces=0),
               {"root": fail("unshare", errno.ENOSPC), "rootless": fail("unshare", errno.ENOSPC),
                "ns_get_id": {"id": 2}}),
}


@pytest.mark.parametrize("name", SCENARIOS)
def test_json_shape(name: str) -> None:
    """to_json() has the documented fields and types; every failure carries a one-line hint."""
    data = json.loads(assess(*SCENARIOS[name]).to_json())
    assert {"time_namespaces", "mode", "kernel", "reason", "hint", "checks",
            "elapsed_ms"} == set(data)
    assert data["mode"] in ("root", "rootless", "unavailable")
    assert data["time_namespaces"] == (data["mode"] != "unavailable")
    assert bool(data["reason"]) != data["time_namespaces"]
    assert "\n" not in data["reason"] + data["hint"]
    for check in data["checks"]:
        assert {"name", "ok", "detail", "hint", "required"} == set(check)
        assert check["ok"] in (True, False, None)
        assert "\n" not in check["detail"] + check["hint"]
        if check["ok"] is False:
            assert check["hint"], check["name"]
    assert len({c["name"] for c in data["checks"]}) == len(data["checks"])


# --- probe(): caching and TIMENS_LAB_MODE ------------------------------------------------------

@pytest.fixture
def fake_child(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []

    def run_child(timeout: float = 5.0) -> tuple[dict[str, Any], str]:
        calls.append(1)
        return {"root": OK, "rootless": OK, "ns_get_id": {"id": 2}}, ""

    monkeypatch.setattr(probe_mod, "run_child", run_child)
    monkeypatch.setattr(probe_mod, "_cache", {})
    monkeypatch.delenv("TIMENS_LAB_MODE", raising=False)
    return calls


def test_probe_is_cached(fake_child: list[int]) -> None:
    """probe() runs the child once per process; refresh=True runs it again."""
    first = probe_mod.probe()
    assert first is probe_mod.probe()
    assert len(fake_child) == 1
    probe_mod.probe(refresh=True)
    assert len(fake_child) == 2


def test_probe_replay_runs_nothing(fake_child: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    """TIMENS_LAB_MODE=replay answers without starting a child, and is not cached as live."""
    monkeypatch.setenv("TIMENS_LAB_MODE", "replay")
    assert probe_mod.probe().reason == "forced by TIMENS_LAB_MODE=replay"
    assert fake_child == []
    monkeypatch.setenv("TIMENS_LAB_MODE", "auto")
    probe_mod.probe()
    assert len(fake_child) == 1


# --- the CLI -----------------------------------------------------------------------------------

def test_table_root() -> None:
    """The table has a row per check and ends with the verdict."""
    result = assess(*SCENARIOS["root"])
    lines = format_table(result).splitlines()
    assert lines[0].split() == ["CHECK", "STATUS", "DETAIL"]
    assert len(result.checks) + 3 == len(lines)
    assert lines[-1] == "time namespaces: usable (root)"


def test_table_failures_show_hints() -> None:
    """FAIL rows are followed by their hint; the verdict gives the reason and the fix."""
    result = assess(*SCENARIOS["locked"])
    text = format_table(result)
    lines = text.splitlines()
    row = next(i for i, line in enumerate(lines) if line.startswith("user.max_user_namespaces "))
    assert lines[row].split()[1] == "FAIL"
    assert lines[row + 1].strip() == "hint: sysctl -w user.max_user_namespaces=15000"
    assert lines[-2] == f"unavailable: {result.reason}"
    assert lines[-1] == f"hint: {result.hint}"


def test_table_optional_feature_is_no() -> None:
    """A missing optional feature reads "no", not FAIL."""
    old = dict(OK, clone3_errno=errno.EINVAL)
    text = format_table(assess(make_facts(), {"root": old, "rootless": old,
                                              "ns_get_id": {"id": 2}}))
    row = next(line for line in text.splitlines() if line.startswith("clone3_newtime"))
    assert row.split()[1] == "no"


def test_table_wraps_to_terminal() -> None:
    """With a terminal width, long details wrap under the detail column."""
    result = assess(*SCENARIOS["locked"])
    lines = format_table(result, columns=120).splitlines()
    assert all(len(line) <= 120 for line in lines[:-2])
    assert len(lines) > len(format_table(result).splitlines())


@pytest.mark.parametrize(("name", "code"), [("root", 0), ("docker", 1), ("locked", 1)])
def test_cli_exit_status(name: str, code: int, monkeypatch: pytest.MonkeyPatch,
                         capsys: pytest.CaptureFixture[str]) -> None:
    """`timens-lab probe --json` prints the result and exits 0 when usable, 1 when not."""
    result = assess(*SCENARIOS[name])
    monkeypatch.setattr("timens_lab.commands.probe.probe", lambda: result)
    for var in ("LC_ALL", "LC_CTYPE"):  # a UTF-8 locale whatever CI has: the table as written
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")
    assert code == cli.main(["probe", "--json"])
    assert json.loads(capsys.readouterr().out) == dataclasses.asdict(result)
    assert code == cli.main(["probe"])
    assert capsys.readouterr().out == format_table(result)


def test_package_probe_is_callable(fake_child: list[int]) -> None:
    """timens_lab.probe() works even after the submodule import rebound the name to the module."""
    import timens_lab

    assert timens_lab.probing.check is probe_mod  # importlib bound the submodule on the package
    result = timens_lab.probe(refresh=True)
    assert isinstance(result, ProbeResult)
    assert result is probe_mod.probe()


# --- testing.locked_down_argv ------------------------------------------------------------------

def test_locked_down_argv_shape() -> None:
    """util-linux unshare, a user namespace mapped to root, then python -c CODE and argv."""
    argv = locked_down_argv(["timens-lab", "probe"], python="/usr/bin/python3")
    assert argv[0].endswith("/unshare")
    assert argv[1:5] == ["--user", "--map-root-user", "--", "/usr/bin/python3"]
    assert argv[5] == "-c"
    compile(argv[6], "<lock-down>", "exec")
    assert "max_time_namespaces" in argv[6]
    assert argv[7:] == ["timens-lab", "probe"]


def test_locked_down_argv_needs_a_command() -> None:
    """An empty command is a clear ValueError, not an unshare usage message."""
    with pytest.raises(ValueError, match="needs a command"):
        locked_down_argv([])
