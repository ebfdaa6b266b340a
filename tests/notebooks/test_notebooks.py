"""The tutorial notebooks: they run to the end (their checks hold) as root, as nobody and in replay
mode; they are committed stripped; the index links them all; each ends with a recap and a way
on; assertions stay under a fifth of their code; every numbered behaviour
(timens_lab/tutorial/behaviours.py) is asserted in the cell named there; and replayed, 01 and
02 show the namespaces they create, not another recording's.

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
#: The issue's budgets for one notebook, top to bottom, headless: live, and replayed.
BUDGET_S = 60.0
REPLAY_BUDGET_S = 30.0
#: The issue's ceiling for assertion statements, as a share of the notebooks' code lines.
MAX_ASSERTION_SHARE = 0.20


def _stripper():  # type: ignore[no-untyped-def]
    import importlib.util

    spec = importlib.util.spec_from_file_location("strip_notebooks", STRIPPER)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(names: list[str], *, mode: str, nobody: bool = False,
         save: Path | None = None) -> list[dict[str, object]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "TIMENS_LAB_"))}
    argv = [sys.executable, str(RUNNER), "--mode", mode, *(str(NOTEBOOKS / n) for n in names)]
    if save is not None:
        argv += ["--save", str(save)]
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


def _check(result: dict[str, object], budget: float = BUDGET_S) -> None:
    assert result["ok"], f"{result['notebook']} failed in cell {result['cell']}: {result['error']}"
    assert float(result["seconds"]) <= budget, (  # type: ignore[arg-type]
        f"{result['notebook']} took {result['seconds']} s, over the {budget:g} s budget")


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
    _check(result, REPLAY_BUDGET_S)


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
    unlinked = set(ALL) - {"00-index.ipynb"} - linked
    assert not unlinked, f"not linked: {unlinked}"
    assert all((NOTEBOOKS / n).exists() for n in linked), f"missing: {linked - set(ALL)}"


def _script(path: Path, name: str):  # type: ignore[no-untyped-def]
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cells() -> dict[tuple[str, str], str]:
    """The source of every code cell, by (notebook, cell id)."""
    return {(name, cell.id): cell.source for name in ALL
            for cell in nbformat.read(NOTEBOOKS / name, as_version=4).cells
            if cell.cell_type == "code"}


def test_every_behaviour_is_checked_in_the_cell_named() -> None:
    """Each numbered behaviour names a notebook cell that calls a check asserting it."""
    from timens_lab.tutorial._checks import SECTIONS
    from timens_lab.tutorial.behaviours import BEHAVIOURS

    assert [b.number for b in BEHAVIOURS] == list(range(1, len(BEHAVIOURS) + 1))
    cells = _cells()
    for b in BEHAVIOURS:
        source = cells.get((f"{b.notebook}.ipynb", b.cell))
        assert source is not None, f"B{b.number}: no cell {b.cell!r} in {b.notebook}.ipynb"
        called = re.findall(r"T\.checks\.(\w+)\(", source)
        assert any(b.number in SECTIONS[c].behaviours for c in called if c in SECTIONS), (
            f"B{b.number}: cell {b.notebook}#{b.cell} calls {called}, none asserts it")


def test_every_check_a_notebook_calls_exists() -> None:
    """No notebook calls a T.checks.NAME that is not defined (it would fail only when run)."""
    from timens_lab.tutorial._checks import SECTIONS

    for (name, cell), source in _cells().items():
        for called in re.findall(r"T\.checks\.(\w+)\(", source):
            assert called in SECTIONS, f"{name}#{cell} calls T.checks.{called}, which is undefined"


def test_assertions_are_at_most_a_fifth_of_the_code() -> None:
    """Assertion statements (T.claim, T.checks.NAME, assert..., counted over every line they span)
    are ≤ 20 % of the notebooks' code lines."""
    share = _script(REPO / "scripts" / "assertion_share.py", "assertion_share")
    counts = [share.notebook_counts(NOTEBOOKS / n) for n in ALL]
    code, asserting = sum(c for c, _ in counts), sum(a for _, a in counts)
    assert code > 0
    assert asserting / code <= MAX_ASSERTION_SHARE, (
        f"{asserting} of {code} code lines are assertions ({asserting / code:.1%})")


def test_assertion_share_counts_every_line_of_a_statement() -> None:
    """The counter counts an N-line assertion as N lines, an if/else of only assertions whole,
    and neither comments, blank lines, magics nor ordinary code."""
    share = _script(REPO / "scripts" / "assertion_share.py", "assertion_share")
    assert share.cell_counts("%matplotlib widget\nx = 1\n\n# note\nT.checks.clocks(r)") == (3, 1)
    assert share.cell_counts("T.claim('a',\n        x == 1,\n        'b')\ny = 2") == (4, 3)
    assert share.cell_counts("if ok:\n    T.claim('a', 1)\nelse:\n    assert x\nz = 3") == (5, 4)
    assert share.cell_counts("if ok:\n    T.claim('a', 1)\nelse:\n    print(x)") == (4, 1)
    assert share.cell_counts("T.check('t',\n  rows)\nprint(T.checks)") == (3, 2)


def test_every_notebook_ends_with_a_recap_and_a_way_on() -> None:
    """The cell before T.end() is a "What you saw" recap that links the next notebook (the
    last one leads back to the index)."""
    order = [*sorted(ALL), "00-index.ipynb"]
    for name in ALL:
        cells = nbformat.read(NOTEBOOKS / name, as_version=4).cells
        recap = cells[-2]
        assert recap.cell_type == "markdown" and "## What you saw" in recap.source, name
        following = order[order.index(name) + 1]
        assert f"]({following})" in recap.source, f"{name}'s recap does not lead on to {following}"
        if following != "00-index.ipynb":
            assert "**Next:** [" in recap.source, f"{name}'s recap has no **Next:** link"


def test_links_from_the_course_resolve() -> None:
    """Every relative link in the notebooks and notebooks/README.md names a file that exists
    (08, 09 and docs/reference.md come from the course's companion work)."""
    texts = {name: "\n".join(c.source for c in nbformat.read(NOTEBOOKS / name, as_version=4).cells
                             if c.cell_type == "markdown") for name in ALL}
    texts["README.md"] = (NOTEBOOKS / "README.md").read_text()
    for name, text in texts.items():
        for target in re.findall(r"\]\(([^)#:]+?)(?:#[^)]*)?\)", text):
            assert (NOTEBOOKS / target).exists(), f"{name} links {target}, which does not exist"


def test_nothing_points_outside_the_repository() -> None:
    """No notebook or course file mentions the notes the project was built from."""
    paths = [*(NOTEBOOKS / n for n in ALL), NOTEBOOKS / "README.md",
             *sorted((REPO / "timens_lab" / "tutorial").glob("*.py")),
             REPO / "timens_lab" / "_tutorial_child.py",
             REPO / "timens_lab" / "csrc" / "06-tutorial.c", Path(__file__)]
    for path in paths:
        text = path.read_text()
        for needle in (".." + "/shared", "/work/" + "shared", "kernel-" + "timens", "§1" + "4"):
            assert needle not in text, f"{path.name} mentions {needle!r}"


@pytest.mark.notebooks
@pytest.mark.slow
@pytest.mark.parametrize(("name", "own"), [
    ("01-first-namespace.ipynb", {"ahead", "flip"}),
    ("02-live-divergence.ipynb", {"a day ahead", "behind", "mixed"})])
def test_replay_shows_the_notebooks_own_namespaces(name: str, own: set[str],
                                                   tmp_path: Path) -> None:
    """Replayed, the live plot's measurements name the namespaces the notebook creates, with the
    offsets it configures, and nothing from another recording (the shipped demo's ns1 ... ns8)."""
    result = _run([name], mode="replay", save=tmp_path)[0]
    _check(result, REPLAY_BUDGET_S)
    nb = nbformat.read(tmp_path / name, as_version=4)
    text = "\n".join(str(o.get("data", {}).get("text/plain", o.get("text", "")))
                     for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    channels = set(re.findall(r"Measured\(channel='([^']+)'", text))
    assert {c.rsplit(" ", 1)[0] for c in channels} == own, channels
    assert not re.search(r"\bns[1-8]\b", text), "a replay shows another recording's namespaces"
    assert "REPLAY" in text


def test_recorded_samples_are_the_notebooks_namespaces() -> None:
    """The samples 01 and 02 replay were recorded from their own namespaces: the names and
    configured offsets in each .tnsrec are the ones the notebook's code sets."""
    from timens_lab.recording.format import load
    from timens_lab.source import HOST

    S, H, D = 10**9, 3600 * 10**9, 86400 * 10**9
    expected = {"01-first-namespace": {"ahead": (H, 2 * H), "flip": (100_000 * S, 0)},
                "02-live-divergence": {"a day ahead": (D, D), "mixed": (90 * 10**6, 2 * D + 3 * H)}}
    for name, want in expected.items():
        rec = load(REPO / "timens_lab" / "data" / f"tutorial-{name}.tnsrec")
        got = {ch.label.rsplit(" ", 1)[0]: (ch.monotonic_ns, ch.boottime_ns)
               for ch in rec.channels if ch.id != HOST}
        assert {k: v for k, v in got.items() if k in want} == want, got
        extra = set(got) - set(want) - {"behind"}
        assert not extra, f"{name}'s recording has namespaces it does not create: {extra}"
        assert len(rec.trees) > 0, f"{name}'s recording has no namespace trees"
