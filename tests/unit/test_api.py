"""The public surface: every name in __all__ resolves, lazily, and nothing heavy loads early."""

from __future__ import annotations

import subprocess
import sys

import timens_lab


def test_all_matches_the_lazy_table_and_resolves() -> None:
    assert sorted(timens_lab.__all__) == sorted([*timens_lab._LAZY, "__version__"])
    for name in timens_lab.__all__:
        assert getattr(timens_lab, name) is not None, name
    # Importing the probing sub-package must not shadow the function (it once did, when the
    # probe was a module called `probe`).
    from timens_lab.probing import check
    assert timens_lab.probe is check.probe


def test_import_is_light() -> None:
    """`import timens_lab` (what the CLI and the helper pay) loads neither numpy nor matplotlib."""
    code = ("import sys, timens_lab; "
            "print(sorted(m for m in ('numpy', 'matplotlib', 'ipywidgets') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_cli_run_does_not_pay_for_other_commands() -> None:
    """`timens-lab run` imports only its own subcommand: no numpy (that is `sample`'s cost)."""
    code = ("import sys; from timens_lab.cli import main; rc = main(['run', '--', 'true']); "
            "print(rc, 'numpy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["0", "False"]
