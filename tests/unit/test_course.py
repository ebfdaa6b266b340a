"""The course folder of `timens-lab lab`: copied once, the user's edits never overwritten, newer
shipped versions named, never site-packages. Checked against the bytes on disk."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import as_nobody
from timens_lab.commands import _course


def _ship(folder: Path, **notebooks: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in notebooks.items():
        (folder / f"{name}.ipynb").write_text(text)
    return folder


def test_first_use_copies_the_shipped_course(tmp_path: Path) -> None:
    """Every shipped notebook (and the README) lands in the folder, byte for byte."""
    work = tmp_path / "course"
    sync = _course.prepare(work)
    shipped = _course.shipped_files()
    assert {n for n in shipped if n.endswith(".ipynb")} >= {"00-index.ipynb", "01-first-namespace.ipynb"}
    assert sorted(sync.copied) == sorted(shipped)
    for name, data in shipped.items():
        assert (work / name).read_bytes() == data
    assert str(work) in "\n".join(sync.lines())


def test_later_runs_keep_edits_and_name_newer_versions(tmp_path: Path) -> None:
    """An upgrade replaces untouched notebooks, keeps edited ones (and names them), restores
    deleted ones; an edit with no newer version is not reported."""
    v1 = _ship(tmp_path / "v1", a="A1", b="B1", c="C1", d="D1")
    work = tmp_path / "work"
    _course.prepare(work, source=v1)
    (work / "a.ipynb").write_text("A1 + my notes")       # edited, and a newer version ships
    (work / "d.ipynb").write_text("D1 + my notes")       # edited, no newer version
    (work / "c.ipynb").unlink()                          # deleted: how to get the new version
    v2 = _ship(tmp_path / "v2", a="A2", b="B2", c="C2", d="D1", e="E2")

    sync = _course.prepare(work, source=v2)

    assert (work / "a.ipynb").read_text() == "A1 + my notes"
    assert (work / "d.ipynb").read_text() == "D1 + my notes"
    assert (work / "b.ipynb").read_text() == "B2"
    assert (work / "c.ipynb").read_text() == "C2"
    assert (work / "e.ipynb").read_text() == "E2"
    assert sync.newer == ["a.ipynb"]
    assert sync.updated == ["b.ipynb"]
    assert sorted(sync.copied) == ["c.ipynb", "e.ipynb"]
    text = "\n".join(sync.lines())
    assert "a.ipynb" in text and "rename or delete your copy" in text

    again = _course.prepare(work, source=v2)              # steady state: nothing to do
    assert (again.copied, again.updated, again.newer) == ([], [], ["a.ipynb"])


def test_a_file_that_was_there_first_is_never_overwritten(tmp_path: Path) -> None:
    src = _ship(tmp_path / "src", a="shipped")
    work = _ship(tmp_path / "work", a="someone else's")
    sync = _course.prepare(work, source=src)
    assert (work / "a.ipynb").read_text() == "someone else's"
    assert sync.newer == ["a.ipynb"]
    manifest = json.loads((work / _course.MANIFEST).read_text())
    assert "a.ipynb" not in manifest["files"]


def test_a_damaged_manifest_only_costs_updates(tmp_path: Path) -> None:
    """Without a readable manifest nothing counts as untouched: edits are still kept."""
    v1 = _ship(tmp_path / "v1", a="A1")
    work = tmp_path / "work"
    _course.prepare(work, source=v1)
    (work / _course.MANIFEST).write_text("{not json")
    sync = _course.prepare(work, source=_ship(tmp_path / "v2", a="A2"))
    assert (work / "a.ipynb").read_text() == "A1"
    assert sync.newer == ["a.ipynb"]


def test_default_folder_env_then_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv(_course.ENV, raising=False)
    assert _course.default_folder() == tmp_path / "timens-lab"
    monkeypatch.setenv(_course.ENV, str(tmp_path / "elsewhere"))
    assert _course.default_folder() == tmp_path / "elsewhere"


def test_the_shipped_folder_itself_is_served_in_place(tmp_path: Path) -> None:
    """`make lab` passes the repository's notebooks/: no copy, no manifest written there."""
    src = _ship(tmp_path / "src", a="A")
    sync = _course.prepare(src, source=src)
    assert sync.in_place
    assert not (src / _course.MANIFEST).exists()


def test_an_unwritable_folder_is_one_error_and_a_hint() -> None:
    """Through the CLI (as nobody when root, HOME=/nonexistent as Debian gives nobody): exit 1,
    one error line and one hint, no traceback, no server started."""
    pytest.importorskip("jupyterlab")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(HOME="/nonexistent", TIMENS_LAB_DIR="/proc/timens-lab-course")
    r = subprocess.run(as_nobody([sys.executable, "-m", "timens_lab", "lab", "--port=1"]),
                       env=env, cwd="/", capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 1, r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 2, r.stderr
    assert lines[0].startswith("error: cannot set up the course folder /proc/timens-lab-course")
    assert lines[1] == "hint: pass --dir PATH or set TIMENS_LAB_DIR to a folder you can write"
