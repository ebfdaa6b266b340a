"""The pytest plugin where time namespaces are unavailable: its tests are skipped with the
probe's reason (TIMENS_LAB_MODE=replay forces the probe to say unavailable), never failed."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]


def test_skips_with_the_probes_reason(pytester: pytest.Pytester,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test asking for `timens` is skipped, and -rs shows why and how to fix it."""
    monkeypatch.setenv("TIMENS_LAB_MODE", "replay")
    pytester.makepyfile(test_user='''
def test_needs_namespaces(timens):
    raise AssertionError("must not run")

def test_without_the_fixture():
    pass
''')
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*SKIPPED*time namespaces unavailable: forced by "
                                 "TIMENS_LAB_MODE=replay*"])


def test_root_mode_without_root_is_skipped_not_failed(pytester: pytest.Pytester,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The ini option timens_rootless is registered (strict config accepts it)."""
    monkeypatch.setenv("TIMENS_LAB_MODE", "replay")
    pytester.makeini("[pytest]\ntimens_rootless = false\n")
    pytester.makepyfile(test_user="def test_x(timens):\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--strict-config", "-rs")
    result.assert_outcomes(skipped=1)
