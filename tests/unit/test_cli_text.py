"""What the command line prints fits an 80-column terminal and a LANG=C one (plain ASCII, no
colour): every help text, the probe table, sample/replay reports, the tree, errors.

Each runs ``python -m timens_lab`` as a user would, with ``LANG=C`` and ``COLUMNS=80`` (nothing
else of the locale set), so Python's own C-locale coercion (PEP 538) is in play as it is in a
real C-locale terminal.
"""

from __future__ import annotations

import os
import pty
import subprocess
import sys

import pytest

from timens_lab import cli

WIDTH = 80


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LC_", "LANG", "PYTEST")) and k != "COLUMNS"}
    env.update({"LANG": "C", "COLUMNS": str(WIDTH), "TERM": "dumb", **extra})
    return env


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "timens_lab", *args], capture_output=True,
                          env=env or _env(), timeout=120, check=False, cwd="/")


def _check(text: bytes, what: str) -> str:
    decoded = text.decode("ascii")  # raises on any byte a LANG=C terminal cannot show
    assert "\x1b" not in decoded, f"{what}: an escape sequence (colour?)"
    wide = [line for line in decoded.splitlines() if len(line) > WIDTH]
    assert not wide, f"{what}: {len(wide)} line(s) over {WIDTH} columns: {wide}"
    return decoded


@pytest.mark.parametrize("command", ["", *cli.command_names()])
def test_help_fits_80_columns_in_ascii_and_has_examples(command: str) -> None:
    args = [command, "--help"] if command else ["--help"]
    r = _run(*args)
    assert r.returncode == 0, r.stderr
    text = _check(r.stdout, f"timens-lab {command} --help")
    assert "\nexamples:\n  timens-lab " in text
    assert r.stderr == b""


def test_replay_report_and_list_fit() -> None:
    """A shipped recording's report (the same formatter as `sample`), and the list."""
    r = _run("replay", "quick")
    assert r.returncode == 0, r.stderr
    text = _check(r.stdout, "replay quick")
    assert "monotonic_coarse" in text and "configured: monotonic -5s" in text  # U+2212 in UTF-8
    _check(r.stderr, "replay quick (stderr)")
    r = _run("replay", "--list")
    assert r.returncode == 0
    _check(r.stdout, "replay --list")


def test_tree_fits_and_draws_in_ascii() -> None:
    """The tree fits and is ASCII; with -p (members under their namespace: at least this test's
    own process, so a branch exists even where no other namespace does) the branches are
    drawn as lsns draws them without UTF-8."""
    r = _run("tree")
    assert r.returncode == 0, r.stderr
    _check(r.stdout, "tree")
    _check(r.stderr, "tree notes")
    r = _run("tree", "-p")
    assert r.returncode == 0, r.stderr
    assert "`-" in r.stdout.decode("ascii")  # the last child


def test_a_utf8_locale_keeps_its_characters() -> None:
    """The other half: with a UTF-8 locale, the tree is drawn with box characters."""
    r = _run("tree", "-p", env=_env(LANG="C.UTF-8"))
    assert r.returncode == 0
    assert "└─".encode() in r.stdout


def test_errors_are_ascii_one_line_each() -> None:
    r = _run("run", "--monotonic", "abc", "--", "true")
    assert r.returncode == 2
    lines = _check_ascii_only(r.stderr).splitlines()
    assert [line.split(":")[0] for line in lines] == ["error", "hint"]


def _check_ascii_only(data: bytes) -> str:
    text = data.decode("ascii")
    assert "\x1b" not in text
    return text


def test_probe_table_fits_an_80_column_terminal() -> None:
    """On a terminal (a pty here), the probe wraps its details to the terminal's width."""
    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen([sys.executable, "-m", "timens_lab", "probe"], stdout=follower,
                                stderr=subprocess.PIPE, env=_env(), cwd="/")
        os.close(follower)
        chunks = []
        while True:
            try:
                data = os.read(leader, 65536)
            except OSError:  # EIO: the child closed the pty
                break
            if not data:
                break
            chunks.append(data)
        proc.wait(timeout=60)
    finally:
        os.close(leader)
        if proc.stderr:
            proc.stderr.close()
    text = _check(b"".join(chunks).replace(b"\r\n", b"\n"), "probe on a terminal")
    assert "CHECK" in text and ("time namespaces: usable" in text or "unavailable:" in text)


@pytest.mark.parametrize(("env", "utf8"), [
    ({"LANG": "C.UTF-8"}, True),
    ({"LANG": "en_US.utf8"}, True),
    ({"LANG": "C"}, False),
    ({}, False),
    ({"LANG": "C", "LC_CTYPE": "C.UTF-8"}, False),          # Python's PEP 538 coercion
    ({"LC_CTYPE": "C.UTF-8"}, False),                      # the same, LANG unset
    ({"LANG": "de_DE.UTF-8", "LC_CTYPE": "C.UTF-8"}, True),
    ({"LANG": "en_US.UTF-8", "LC_ALL": "C"}, False),        # LC_ALL wins, as in setlocale(3)
    ({"LANG": "C", "LC_ALL": "en_US.UTF-8"}, True),
    ({"LANG": "C", "LC_CTYPE": "en_US.UTF-8"}, True),
])
def test_utf8_terminal_reads_the_locale_like_setlocale(env: dict[str, str], utf8: bool) -> None:
    assert cli.utf8_terminal(env) is utf8
