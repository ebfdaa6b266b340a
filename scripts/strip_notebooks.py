#!/usr/bin/env python3
"""Strip outputs from the tutorial notebooks, idempotently.

    python scripts/strip_notebooks.py [--check] [NOTEBOOK ...]     (default: notebooks/*.ipynb)

Removes outputs and execution counts, the per-cell metadata Jupyter adds while running
(execution timings, collapsed/scrolled state) and the notebook-level widget state, and writes the
file only if that changed something (in nbformat's own layout, so a stripped notebook is
byte-for-byte stable). ``--check`` writes nothing and exits 1 when a notebook is not stripped.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
#: Notebook metadata worth keeping; everything else (widgets state, ...) is run debris.
KEEP_NB_METADATA = ("kernelspec", "language_info")
#: Cell metadata worth keeping (authoring choices, not run state).
KEEP_CELL_METADATA = ("tags",)


def stripped(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The notebook without outputs and run debris (a copy)."""
    nb = nbformat.from_dict(nb)
    nb.metadata = nbformat.from_dict({k: v for k, v in nb.metadata.items()
                                      if k in KEEP_NB_METADATA})
    if "language_info" in nb.metadata:
        nb.metadata.language_info = nbformat.from_dict({"name": nb.metadata.language_info.get(
            "name", "python")})
    for cell in nb.cells:
        cell.metadata = nbformat.from_dict({k: v for k, v in cell.metadata.items()
                                            if k in KEEP_CELL_METADATA})
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    return nb


def text_of(nb: nbformat.NotebookNode) -> str:
    return nbformat.writes(nb) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--check", action="store_true", help="report, do not write")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted(NOTEBOOKS.glob("*.ipynb"))
    dirty = []
    for path in paths:
        before = path.read_text()
        after = text_of(stripped(nbformat.reads(before, as_version=4)))
        if after != before:
            dirty.append(path)
            if not args.check:
                path.write_text(after)
    verb = "not stripped" if args.check else "stripped"
    for path in dirty:
        sys.stdout.write(f"{verb}: {path}\n")
    return 1 if args.check and dirty else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
