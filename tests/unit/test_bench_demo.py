"""bench/bench_demo.py: its start-up half leaves nothing in the process its memory half measures.

main() times the servers first, then measures this same process's RSS while it drives the demo:
whatever the start-up half imports stays in that figure. nbformat (with jsonschema's format
checkers and, when installed, rfc3987_syntax's lark grammars) was 20-37 MB of it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[2]

# startup() with the servers replaced by a stub that keeps the anchor notebook it was given
_RUN = """
import json, sys
from pathlib import Path
import bench.bench_demo as b

seen = []
def served(argv, port, marker, token=""):
    seen.extend(Path(a).read_text() for a in argv if a.endswith(".ipynb"))
    return 1.0
b._served = served
b.startup()
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("nbformat", "jsonschema", "lark"))
print(json.dumps({"heavy": heavy, "notebooks": seen}))
"""


def test_startup_half_imports_no_nbformat_and_writes_a_valid_notebook():
    run = subprocess.run([sys.executable, "-c", _RUN],
                         cwd=ROOT, capture_output=True, text=True, timeout=120, check=True)
    out = json.loads(run.stdout.splitlines()[-1])
    assert out["heavy"] == []
    assert len(out["notebooks"]) == 3     # one anchor run per round
    nb = nbformat.reads(out["notebooks"][0], as_version=4)
    nbformat.validate(nb)
    assert nb.cells[0].source == "import ipywidgets as W\nW.HTML('hi')"
    assert nb.metadata.kernelspec.name == "python3"
