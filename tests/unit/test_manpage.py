"""The man page is the parser's (no drift), and renders in 80 columns without troff warnings."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO
from timens_lab import cli

sys.path.insert(0, str(REPO / "scripts"))
import manpage

PAGE = REPO / "man" / "timens-lab.1"


def test_committed_page_matches_the_parser() -> None:
    assert PAGE.read_text() == manpage.render(), "man/timens-lab.1 is stale: run `make man`"


def test_page_renders_in_80_columns_with_every_command() -> None:
    if shutil.which("man") is None:
        if os.environ.get("CI"):
            pytest.fail("man is missing (apt-get install man-db groff-base)")
        pytest.skip("man is not installed (apt-get install man-db groff-base)")
    env = {**os.environ, "MANWIDTH": "80", "LANG": "C.UTF-8", "MAN_KEEP_FORMATTING": ""}
    r = subprocess.run(["man", "--warnings", "-l", str(PAGE)], capture_output=True, text=True,
                       env=env, timeout=60, check=False)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    text = r.stdout
    assert not [line for line in text.splitlines() if len(line) > 80]
    for name in cli.command_names():
        assert re.search(rf"\n   {name}\n       timens-lab +{name} ", text), name
    assert text.count("Examples") == len(cli.command_names()) + 1  # each command and the main
    for section in ("NAME", "SYNOPSIS", "EXIT STATUS", "ENVIRONMENT", "FILES", "SEE ALSO"):
        assert f"\n{section}\n" in text
