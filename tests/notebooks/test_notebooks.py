"""The tutorial notebooks: they run to the end (their claims hold) as root, as nobody and in replay
mode; they are committed stripped; the index links them all; and every black-box check of
kernel-timens.md §14 is asserted in the cell notebooks/README.md names.

Each run goes through scripts/run_notebook.py (nbclient with a kernel spec pinned to this
interpreter), in a subprocess, so the nobody run is the very same code under setpriv.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from tests.conftest import REPO, as_nobody

NOTEBOOKS = REPO / "notebooks"
RUNNER = REPO / "scripts" / "run_notebook.py"
STRIPPER = REPO / "scripts" / "strip_notebooks.py"
ALL = sorted(p.name for p in NOTEBOOKS.glob("[0-9][0-9]-*.ipynb"))
#: The issue's budget for one notebook, top to bottom, headless.
BUDGET_S = 60.0
CHECKS = range(1, 38)


def _stripper():  # type: ignore[no-untyped-def]
    import importlib.util

    spec = importlib.util.spec_from_file_location("strip_notebooks", STRIPPER)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(names: list[str], *, mode: str, nobody: bool = False) -> list[dict[str, object]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "TIMENS_LAB_"))}
    argv = [sys.executable, str(RUNNER), "--mode", mode, *(str(NOTEBOOKS / n) for n in names)]
    if nobody:
        env["HOME"] = "/tmp"
        argv = as_nobody(argv)
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=600,
                          cwd="/" if nobody else REPO, check=False)
    results = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert results, f"the runner printed nothing (exit {done.returncode}): {done.stderr[-2000:]}"
    return results


def _report(capsys: pytest.CaptureFixture[str], label: str, result: dict[str, object]) -> None:
    with capsys.disabled():
        sys.stdout.write(f"\n  {result['notebook']} ({label}): {result['seconds']} s\n")


def _check(result: dict[str, object]) -> None:
    assert result["ok"], f"{result['notebook']} failed in cell {result['cell']}: {result['error']}"
    assert float(result["seconds"]) <= BUDGET_S, (  # type: ignore[arg-type]
        f"{result['notebook']} took {result['seconds']} s, over the {BUDGET_S:g} s budget")


@pytest.mark.notebooks
@pytest.mark.slow
@pytest.mark.parametrize("name", ALL)
def test_runs_live(name: str, need_timens: str, capsys: pytest.CaptureFixture[str]) -> None:
    """The notebook runs to the end as the current user (root: root mode; else rootless)."""
    result = _run([name], mode="live")[0]
    _report(capsys, need_timens, result)
    _check(result)


@pytest.mark.notebooks
@pytest.mark.slow
@pytest.mark.parametrize("name", ALL)
def test_runs_as_nobody(name: str, need_root: None, need_timens: str,
                        capsys: pytest.CaptureFixture[str]) -> None:
    """The notebook runs to the end as uid 65534, in rootless mode."""
    result = _run([name], mode="live", nobody=True)[0]
    _report(capsys, "nobody", result)
    _check(result)


@pytest.mark.notebooks
@pytest.mark.slow
@pytest.mark.parametrize("name", ALL)
def test_replays(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    """With TIMENS_LAB_MODE=replay the notebook runs to the end on its recording."""
    result = _run([name], mode="replay")[0]
    _report(capsys, "replay", result)
    _check(result)


@pytest.mark.parametrize("name", ALL)
def test_committed_stripped(name: str) -> None:
    """No outputs, execution counts or run metadata are committed (strip_notebooks.py --check)."""
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{name}: cell {cell.id} has outputs"
            assert cell.execution_count is None, f"{name}: cell {cell.id} has an execution count"
    strip = _stripper()
    text = (NOTEBOOKS / name).read_text()
    assert strip.text_of(strip.stripped(nbformat.reads(text, as_version=4))) == text, (
        f"{name} is not stripped: run scripts/strip_notebooks.py")


def test_strip_is_idempotent(tmp_path: Path) -> None:
    """Stripping an executed notebook gives the committed file, and stripping again changes nothing."""
    source = nbformat.read(NOTEBOOKS / ALL[1], as_version=4)
    for cell in source.cells:
        if cell.cell_type == "code":
            cell.execution_count = 3
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="noise\n")]
            cell.metadata["execution"] = {"iopub.status.idle": "2025-01-01T00:00:00Z"}
    source.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {}}
    copy = tmp_path / ALL[1]
    nbformat.write(source, copy)
    for _ in range(2):
        subprocess.run([sys.executable, str(STRIPPER), str(copy)], check=True,
                       capture_output=True)
        assert (NOTEBOOKS / ALL[1]).read_text() == copy.read_text()


def test_every_notebook_opens_the_same_way() -> None:
    """Each notebook opens with What you'll do / learn / need, then begins with its own name."""
    for name in ALL:
        nb = nbformat.read(NOTEBOOKS / name, as_version=4)
        intro = nb.cells[0].source
        for part in ("What you'll do", "What you'll learn", "What you'll need"):
            assert part in intro, f"{name}: the first cell lacks {part!r}"
        code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
        assert f'T.begin("{name[:-6]}"' in code, f"{name} does not call T.begin({name[:-6]!r})"
        assert "T.end()" in nb.cells[-1].source, f"{name} does not end with T.end()"


def test_index_links_every_notebook() -> None:
    """00-index.ipynb links every other notebook, and every link it has resolves."""
    nb = nbformat.read(NOTEBOOKS / "00-index.ipynb", as_version=4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    linked = set(re.findall(r"\]\((\d\d-[\w-]+\.ipynb)\)", text))
    assert set(ALL) - {"00-index.ipynb"} == linked


def _section14_map() -> dict[int, tuple[str, str]]:
    text = (NOTEBOOKS / "README.md").read_text()
    rows = re.findall(r"^\| (\d+) \|.*\| \[(\d\d-[\w-]+\.ipynb)\]\(\2\) \| `([\w-]+)` \|$", text,
                      flags=re.MULTILINE)
    return {int(n): (nb, cell) for n, nb, cell in rows}


def test_section14_every_check_mapped_and_asserted() -> None:
    """README maps checks 1-37 to a cell, and that cell asserts the check (check=N in a claim)."""
    mapping = _section14_map()
    assert sorted(mapping) == list(CHECKS), f"unmapped: {sorted(set(CHECKS) - set(mapping))}"
    cells = {}
    for name in ALL:
        for cell in nbformat.read(NOTEBOOKS / name, as_version=4).cells:
            cells[(name, cell.id)] = cell.source
    for n, (nb, cell) in mapping.items():
        assert (nb, cell) in cells, f"check {n}: no cell {cell!r} in {nb}"
        tagged = {int(x) for group in re.findall(r"check=\(?([\d, ]+)\)?", cells[(nb, cell)])
                  for x in group.replace(" ", "").split(",") if x}
        assert n in tagged, f"check {n}: cell {nb}#{cell} has no claim with check={n}"


def test_section14_claims_all_mapped() -> None:
    """Every check=N a notebook asserts is in the README map (so the map stays complete)."""
    mapping = _section14_map()
    for name in ALL:
        for cell in nbformat.read(NOTEBOOKS / name, as_version=4).cells:
            for group in re.findall(r"check=\(?([\d, ]+)\)?", cell.source):
                for n in (int(x) for x in group.replace(" ", "").split(",") if x):
                    assert n in mapping, f"{name}#{cell.id} asserts check {n}, not in README"
