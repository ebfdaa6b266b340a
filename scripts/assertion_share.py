#!/usr/bin/env python3
"""How much of the course's code is assertions: a course should read as experiments, not tests.

    python scripts/assertion_share.py [notebooks/NN-*.ipynb ...] [--json]

Counts, over the code cells of the notebooks (default: every ``notebooks/NN-*.ipynb``), the
non-blank code lines, and among them the lines of *assertion statements*: ``assert``, and any
call statement whose function is ``claim``, ``claim_near``, ``check`` or a ``checks.NAME``
(``T.claim(...)``, ``T.checks.clocks(r)``...). A statement spanning N lines counts N lines;
an ``if``/``try`` whose body holds only assertion statements counts whole (its own lines too).
IPython magics (``%matplotlib``) and shell escapes (``!cmd``) are code lines, never assertions.

Prints one line per notebook and a total; ``--json`` prints the numbers as JSON instead.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
#: Call names (the last attribute) that make a statement an assertion.
ASSERTING = {"claim", "claim_near", "check"}
#: Attribute owners whose every call is an assertion (T.checks.clocks(...)).
ASSERTING_OWNERS = {"checks"}


def _is_assertion_call(node: ast.AST) -> bool:
    if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)):
        return False
    func = node.value.func
    if isinstance(func, ast.Name):
        return func.id in ASSERTING
    if isinstance(func, ast.Attribute):
        owner = func.value
        owner_name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
        return func.attr in ASSERTING or owner_name in ASSERTING_OWNERS
    return False


def _is_assertion(node: ast.stmt) -> bool:
    if isinstance(node, ast.Assert) or _is_assertion_call(node):
        return True
    if isinstance(node, ast.If | ast.Try):
        bodies = [node.body, node.orelse] if isinstance(node, ast.If) else [node.body]
        parts = [s for body in bodies for s in body]
        return bool(parts) and all(_is_assertion(s) or isinstance(s, ast.Pass) for s in parts)
    return False


def _statements(tree: ast.Module) -> list[ast.stmt]:
    """Every statement, outermost first, without descending into assertion statements."""
    out: list[ast.stmt] = []
    todo = list(tree.body)
    while todo:
        node = todo.pop(0)
        out.append(node)
        if _is_assertion(node):
            continue
        for field in ("body", "orelse", "finalbody", "handlers"):
            for child in getattr(node, field, []) or []:
                if isinstance(child, ast.ExceptHandler):
                    todo.extend(child.body)
                elif isinstance(child, ast.stmt):
                    todo.append(child)
    return out


def cell_counts(source: str) -> tuple[int, int]:
    """(code lines, assertion lines) of one code cell."""
    lines = source.splitlines()
    code = [i for i, line in enumerate(lines, 1) if line.strip() and not line.lstrip().startswith("#")]
    # Magics and shell escapes are not Python: blank them out (keeping line numbers) to parse.
    python = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in lines)
    tree = ast.parse(python)
    asserting: set[int] = set()
    for node in _statements(tree):
        if _is_assertion(node):
            end = node.end_lineno or node.lineno
            asserting.update(range(node.lineno, end + 1))
    return len(code), len(asserting & set(code))


def notebook_counts(path: Path) -> tuple[int, int]:
    cells = json.loads(path.read_text())["cells"]
    code = asserting = 0
    for cell in cells:
        if cell["cell_type"] != "code":
            continue
        source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        c, a = cell_counts(source)
        code, asserting = code + c, asserting + a
    return code, asserting


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted(NOTEBOOKS.glob("[0-9][0-9]-*.ipynb"))
    per = {p.name: notebook_counts(p) for p in paths}
    code = sum(c for c, _ in per.values())
    asserting = sum(a for _, a in per.values())
    share = asserting / code if code else 0.0
    if args.json:
        print(json.dumps({"notebooks": {n: {"code": c, "assertions": a} for n, (c, a) in per.items()},
                          "code": code, "assertions": asserting, "share": round(share, 4)}))
        return 0
    for name, (c, a) in per.items():
        print(f"{name:<32} {a:4d} / {c:4d} code lines are assertions ({a / c if c else 0:.0%})")
    print(f"{'total':<32} {asserting:4d} / {code:4d} code lines are assertions ({share:.1%})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
