"""The course folder `timens-lab lab` opens: a copy of the shipped notebooks the user owns.

An installed package is the wrong place to work in: site-packages may be read-only, running a
notebook writes into it, and an upgrade replaces it. So, as course packages do, the notebooks
are copied on first use into a working folder (``--dir``, else ``$TIMENS_LAB_DIR``, else
``~/timens-lab``), and a manifest there (:data:`MANIFEST`) remembers the hash of each notebook
as it was copied. Later runs and upgrades then know, per notebook:

* missing                      -> copied (deleting your copy is how you get a new version);
* unchanged since copied       -> replaced silently when a newer version ships;
* changed by you               -> kept, and if a newer version ships it is named, with how to
                                  get it;
* there before us (no record)  -> kept; recorded if it is identical to the shipped one.

Nothing is ever overwritten that differs from what timens-lab itself put there.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import TimensError

#: The shipped course (package data; in a checkout, a symlink to notebooks/).
SHIPPED = Path(__file__).resolve().parents[1] / "notebooks"
#: Which file of the course folder records what was copied (JSON: {"files": {name: sha256}}).
MANIFEST = ".timens-lab-course.json"
ENV = "TIMENS_LAB_DIR"


class CourseFolderError(TimensError):
    hint = f"pass --dir PATH or set {ENV} to a folder you can write"


@dataclass
class Sync:
    """What :func:`prepare` did to a course folder (for the message the user sees)."""

    folder: Path
    copied: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    newer: list[str] = field(default_factory=list)   # a newer version ships; yours is kept
    in_place: bool = False                            # the shipped folder itself (a checkout)

    def lines(self) -> list[str]:
        if self.in_place:
            return [f"serving the course in place: {self.folder}"]
        out = []
        if self.copied:
            out.append(f"copied {len(self.copied)} notebook(s) to {self.folder}")
        if self.updated:
            out.append(f"updated (you had not changed them): {', '.join(self.updated)}")
        if self.newer:
            out.append(f"newer versions ship of notebooks you changed: {', '.join(self.newer)}")
            out.append("  to get one, rename or delete your copy and run timens-lab lab again")
        out.append(f"your course folder: {self.folder}")
        return out


def default_folder() -> Path:
    env = os.environ.get(ENV)
    if env:
        return Path(env).expanduser()
    return Path.home() / "timens-lab"


def shipped_files(source: Path = SHIPPED) -> dict[str, bytes]:
    """The course as shipped: every notebook and the README, by file name."""
    if not source.is_dir():
        raise CourseFolderError(f"no notebooks in this installation ({source})",
                                hint="reinstall timens-lab, or pass --dir PATH to a folder of notebooks")
    return {p.name: p.read_bytes() for p in sorted(source.iterdir())
            if p.is_file() and p.suffix in (".ipynb", ".md")}


def prepare(folder: Path | None = None, source: Path = SHIPPED) -> Sync:
    """Make ``folder`` (default :func:`default_folder`) hold the course; return what happened."""
    folder = (folder if folder is not None else default_folder()).expanduser()
    if folder.resolve() == source.resolve():
        return Sync(folder, in_place=True)  # `make lab`: the repository's notebooks/ themselves
    shipped = shipped_files(source)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        record = _read_manifest(folder)
        sync = Sync(folder)
        for name, data in shipped.items():
            _sync_one(folder / name, data, record, sync)
        _write_manifest(folder, record)
    except OSError as err:
        raise CourseFolderError(f"cannot set up the course folder {folder}: "
                                f"{err.strerror or err}") from err
    return sync


def _sync_one(path: Path, data: bytes, record: dict[str, str], sync: Sync) -> None:
    new = _sha256(data)
    name = path.name
    if not path.exists():
        _write_new(path, data)
        record[name] = new
        sync.copied.append(name)
        return
    have = _sha256(path.read_bytes())
    if have == new:
        record[name] = new          # identical: ours from now on (updated if untouched later)
    elif record.get(name) == have:  # exactly what we copied: the user has not touched it
        _replace(path, data)
        record[name] = new
        sync.updated.append(name)
    elif record.get(name) != new:   # the user's work (or not ours): never overwritten
        sync.newer.append(name)


def _write_new(path: Path, data: bytes) -> None:
    # O_EXCL: if something appeared meanwhile, it is not ours to overwrite.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _replace(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.timens-lab-new")
    tmp.unlink(missing_ok=True)
    _write_new(tmp, data)
    shutil.copymode(path, tmp)
    tmp.replace(path)  # atomic: a crash leaves the old or the new notebook, never half of one


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_manifest(folder: Path) -> dict[str, str]:
    try:
        files = json.loads((folder / MANIFEST).read_text()).get("files", {})
    except (OSError, ValueError, AttributeError):
        return {}  # none yet, or damaged: then only identical files count as ours
    return {str(k): str(v) for k, v in files.items()} if isinstance(files, dict) else {}


def _write_manifest(folder: Path, record: dict[str, str]) -> None:
    from .._version import __version__

    text = json.dumps({"what": "notebooks timens-lab copied here, with their sha256 as copied; "
                               "delete a notebook to get the shipped version again",
                       "version": __version__, "files": dict(sorted(record.items()))}, indent=1)
    tmp = folder / f"{MANIFEST}.tmp"
    tmp.write_text(text + "\n")
    tmp.replace(folder / MANIFEST)
