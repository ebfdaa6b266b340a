"""What a child inherits: the caller's environment at spawn time, exactly (issue 14, item 3),
and timens-lab's own Python children never import a timens_lab/ from the current directory
(item 4)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from timens_lab._pyexec import python_argv
from timens_lab.engine.lab import PIPE, Lab

pytestmark = pytest.mark.usefixtures("need_timens")

BIN = Path(sys.executable).parent
TIMENS_LAB = str(BIN / "timens-lab")


def _env_of(out: bytes) -> dict[bytes, bytes]:
    """`env -0` output as a dict (values may hold newlines)."""
    return dict(item.split(b"=", 1) for item in out.split(b"\0") if item)


def test_cli_run_env_prints_exactly_the_callers_environment(tmp_path: Path) -> None:
    """`timens-lab run -- env` shows the environment it was given, nothing added or lost
    (before: PYTHONSAFEPATH=1 was added to every child). No LANG/LC_*: CPython's own locale
    coercion (PEP 538, LC_CTYPE=C.UTF-8 in os.environ) must not reach the command either."""
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "TL_ODD": "a b\nc=d",
           "TL_EMPTY": ""}
    done = subprocess.run([TIMENS_LAB, "run", "--", "env", "-0"], env=env, capture_output=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert _env_of(done.stdout) == {k.encode(): v.encode() for k, v in env.items()}


def test_children_see_os_environ_as_it_is_at_spawn_time(lab: Lab) -> None:
    """Changes to os.environ after the Lab started reach later children (set, changed, removed,
    undecodable bytes), in every spawn path; an explicit env= is exactly that env."""
    def seen(**kw: object) -> dict[bytes, bytes]:
        out, _ = lab.run(["env", "-0"], stdout=PIPE, **kw).communicate(timeout=30)
        return _env_of(out)

    assert seen() == dict(os.environb)
    os.environ["TL_LATER"] = "1"
    os.environb[b"TL_BYTES"] = b"\xff\xfe"
    removed = os.environ.pop("HOME", None)
    try:
        assert seen() == dict(os.environb)
        got = _env_of(lab.namespace().spawn(["env", "-0"], stdout=PIPE).communicate(timeout=30)[0])
        assert got == dict(os.environb)
        assert got[b"TL_BYTES"] == b"\xff\xfe" and b"HOME" not in got
        os.environ["TL_LATER"] = "2"
        assert seen()[b"TL_LATER"] == b"2"
        assert seen(env={"ONLY": "this"}) == {b"ONLY": b"this"}
        assert seen()[b"TL_LATER"] == b"2"  # an explicit env= does not become the default
    finally:
        os.environ.pop("TL_LATER", None)
        os.environb.pop(b"TL_BYTES", None)
        if removed is not None:
            os.environ["HOME"] = removed


def test_path_lookup_uses_the_callers_current_path(lab: Lab, tmp_path: Path) -> None:
    """argv[0] is found on PATH as the caller has it now, not as it was when the Lab started."""
    tool = tmp_path / "tl-only-here"
    tool.write_text("#!/bin/sh\necho found\n")
    tool.chmod(0o755)
    old = os.environ["PATH"]
    os.environ["PATH"] = f"{tmp_path}:{old}"
    try:
        out, _ = lab.spawn(["tl-only-here"], stdout=PIPE).communicate(timeout=30)
    finally:
        os.environ["PATH"] = old
    assert out == b"found\n"


def test_a_script_imports_the_module_next_to_it(lab: Lab, tmp_path: Path) -> None:
    """As under `unshare --time`: sys.path[0] is the script's directory (PYTHONSAFEPATH leaked
    into children turned that off)."""
    (tmp_path / "sibling.py").write_text("VALUE = 42\n")
    (tmp_path / "app.py").write_text("import sibling\nprint(sibling.VALUE)\n")
    child = lab.run([sys.executable, str(tmp_path / "app.py")], stdout=PIPE, stderr=PIPE)
    out, err = child.communicate(timeout=60)
    assert (child.returncode, out) == (0, b"42\n"), err


@pytest.fixture
def shadow(tmp_path: Path) -> Path:
    """A directory holding a timens_lab/ that must never be imported."""
    pkg = tmp_path / "timens_lab"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("raise ImportError('the timens_lab of the current directory')\n")
    return tmp_path


def test_probe_from_a_directory_with_a_timens_lab_tree(shadow: Path) -> None:
    """`timens-lab probe` from a checkout (here: a decoy timens_lab/) runs the installed probe
    child (before: `python -m timens_lab.probing._child` imported the one in the cwd)."""
    done = subprocess.run([TIMENS_LAB, "probe", "--json"], cwd=shadow, capture_output=True,
                          text=True, timeout=120, check=False)
    report = json.loads(done.stdout)
    assert "current directory" not in done.stdout + done.stderr
    assert report["time_namespaces"] is True, report["reason"]


def test_helper_and_tutorial_child_from_a_directory_with_a_timens_lab_tree(shadow: Path) -> None:
    """The helper and the tutorial's Python child start from the decoy's directory; the old way
    (`-m`) does import the decoy there, so the check can fail."""
    code = (
        "import json, sys\n"
        "from timens_lab import Lab\n"
        "from timens_lab._pyexec import python_argv\n"
        "from timens_lab.engine.lab import PIPE\n"
        "with Lab() as lab:\n"
        "    out = {}\n"
        "    for name, argv in (('ours', python_argv('timens_lab._tutorial_child', '5', '1')),\n"
        "                       ('old', [sys.executable, '-m', 'timens_lab._tutorial_child', '5', '1'])):\n"
        "        c = lab.spawn(argv, stdout=PIPE, stderr=PIPE)\n"
        "        o, e = c.communicate(timeout=60)\n"
        "        out[name] = [c.returncode, e.decode()[-300:]]\n"
        "print(json.dumps(out))\n"
    )
    # -P for our driver only: it must import the real package, as an installed script does.
    done = subprocess.run([sys.executable, "-P", "-c", code], cwd=shadow, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["ours"][0] == 0, out["ours"][1]
    assert out["old"][0] != 0 and "current directory" in out["old"][1]


def test_python_children_carry_no_safepath_variable() -> None:
    """-P is a flag of our own children; nothing in argv or env passes it on."""
    argv = python_argv("timens_lab.engine._helper", "3")
    assert argv[1] == "-P" and "PYTHONSAFEPATH" not in " ".join(argv)
    with Lab() as lab:
        out, _ = lab.spawn([sys.executable, "-c", "import sys; print(sys.flags.safe_path)"],
                           stdout=PIPE).communicate(timeout=60)
    assert out == b"False\n"
