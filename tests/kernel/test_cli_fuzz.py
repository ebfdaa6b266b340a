"""Property test: `timens-lab run` with arbitrary offsets runs or refuses cleanly and leaks nothing."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.test_fuzz_input import duration_text
from timens_lab.cli import main
from timens_lab.engine._reaper import children_of

pytestmark = pytest.mark.usefixtures("need_timens")


def _children() -> set[int]:
    return set(children_of(os.getpid()))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(mono=st.one_of(st.none(), duration_text), boot=st.one_of(st.none(), duration_text))
def test_run_with_any_offsets(mono: str | None, boot: str | None,
                              capfd: pytest.CaptureFixture[str]) -> None:
    fds_before = set(os.listdir("/proc/self/fd"))
    children_before = _children()
    argv = ["run"]
    if mono is not None:
        argv.append(f"--monotonic={mono}")
    if boot is not None:
        argv.append(f"--boottime={boot}")
    try:
        code = main([*argv, "--", "true"])
    except SystemExit as exit_:
        code = exit_.code
    err = capfd.readouterr().err
    assert code in (0, 2), err
    assert "Traceback" not in err
    if code == 2:
        assert "error: " in err
    assert set(os.listdir("/proc/self/fd")) == fds_before
    assert _children() <= children_before
