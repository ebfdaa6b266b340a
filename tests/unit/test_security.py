"""SECURITY.md's promises, one test each where a unit test can hold them."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest
from timens_lab._timens import lib

import timens_lab
from timens_lab import kernel

PACKAGE = Path(timens_lab.__file__).parent
FORBIDDEN_CALLS = ("clock_settime", "settimeofday", "adjtimex", "clock_adjtime", "capset",
                   "stime")


def test_no_setuid_files() -> None:
    """Nothing shipped is setuid or setgid."""
    for path in PACKAGE.rglob("*"):
        mode = path.stat().st_mode
        assert not mode & (stat.S_ISUID | stat.S_ISGID), path


def test_binding_cannot_set_clocks_or_grant_capabilities() -> None:
    """No C source calls a clock-setting or capability-granting function, and lib has none."""
    for src in (PACKAGE / "csrc").glob("*"):
        text = src.read_text()
        for name in FORBIDDEN_CALLS:
            assert not re.search(rf"\b{name}\s*\(", text), f"{src.name} calls {name}()"
    exported = dir(lib)
    for name in FORBIDDEN_CALLS:
        assert not any(name in sym for sym in exported), name


def test_no_shell_anywhere() -> None:
    """No module asks a shell to run anything (shell=True, os.system, os.popen)."""
    pattern = re.compile(r"shell\s*=\s*True|os\.system\(|os\.popen\(|\bpopen\(|\bsystem\(")
    for src in [*PACKAGE.rglob("*.py"), *(PACKAGE / "csrc").glob("*.c")]:
        assert not pattern.search(src.read_text()), src


def test_rootless_is_the_default_without_cap_sys_admin(tmp_path: Path) -> None:
    """CapEff decides, not the uid: root without CAP_SYS_ADMIN must go rootless too."""
    status = tmp_path / "status"
    status.write_text("Name:\tx\nCapEff:\t0000000000000000\n")
    assert not kernel.has_effective_cap(kernel.CAP_SYS_ADMIN, str(status))
    status.write_text("Name:\tx\nCapEff:\t000001ffffffffff\n")
    assert kernel.has_effective_cap(kernel.CAP_SYS_ADMIN, str(status))


def test_recordings_are_private(tmp_path: Path) -> None:
    """A recording is created 0600 whatever the umask."""
    from timens_lab.recording.tap import RecordingWriter

    old = os.umask(0o022)
    try:
        writer = RecordingWriter(tmp_path / "x.tnsrec", {"note": "test"})
        try:
            assert stat.S_IMODE(os.stat(writer.partial).st_mode) == 0o600
        finally:
            writer.abort()
    finally:
        os.umask(old)


def test_helper_refuses_unknown_c_entry_points() -> None:
    """Only tns_*_main entry points can be started; anything else is a typed refusal."""
    from timens_lab.engine._helper_ops import Ops
    from timens_lab.errors import SpawnError

    ops = Ops()
    for name in ("system", "tns_unshare", "tns_spawn", "execve", "tns_nope_main"):
        with pytest.raises(SpawnError, match="no C entry point"):
            ops.op_start_c({"fn": name, "arg": ""}, [])


def test_lab_command_listens_on_loopback(tmp_path: Path) -> None:
    from timens_lab.cli import build_parser
    from timens_lab.commands.lab import argv_for

    args = build_parser().parse_args(["lab", "--dir", str(tmp_path)])
    argv = argv_for(args, tmp_path)
    assert "--ip=127.0.0.1" in argv
    assert not any("token" in a.lower() for a in argv)


@pytest.mark.parametrize("command", [["lab"], ["demo"], ["demo", "--jupyterlab"]])
@pytest.mark.parametrize("ip", ["0.0.0.0", "192.0.2.1", "::", "example.org"])  # noqa: S104
def test_servers_refuse_to_listen_beyond_loopback(command: list[str], ip: str, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """Bad input: exit 2, one error and one hint (port forwarding), nothing written."""
    import importlib.util

    from timens_lab import cli

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object())
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("TIMENS_LAB_DIR", raising=False)
    assert cli.main([*command, "--ip", ip]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(f"error: --ip {ip} is not a loopback address")
    assert err[1].startswith("hint: ") and "ssh -L" in err[1]
    assert list(tmp_path.iterdir()) == []


def test_voila_sends_no_tracebacks_to_the_page(tmp_path: Path) -> None:
    """The demo turns Voila's show_tracebacks off explicitly (it was on)."""
    from timens_lab.cli import build_parser
    from timens_lab.commands.demo import argv_for

    args = build_parser().parse_args(["demo"])
    argv = argv_for(args, tmp_path / "demo.ipynb")
    assert "--VoilaConfiguration.show_tracebacks=False" in argv
    assert not any("show_tracebacks=True" in a or "token=" in a for a in argv)
