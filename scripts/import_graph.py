"""Print the picture of timens_lab's imports: modules by layer, imports running back up, circles.

    python scripts/import_graph.py            # the picture; exit 1 if modules import each other
                                              # in a circle, or more than one import runs back up

The layers are the ``layers`` contract of ``[tool.importlinter]`` in pyproject.toml (top first),
so the picture and ``make lint`` read the same rules. An import *runs back up* when a module
imports one in a higher layer; a *circle* is a set of modules that import each other, directly
or through others (a strongly connected component of the module graph, TYPE_CHECKING imports
included); circles between parts (cli, engine, ...) are shown too, and are what the
``acyclic_siblings`` contract checks. Also shows who imports the compiled binding
(``timens_lab._timens``), which the graph of ``.py`` files cannot see.
"""

from __future__ import annotations

import dataclasses
import sys
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGE = "timens_lab"
COMPILED = "timens_lab._timens"


@dataclasses.dataclass(frozen=True)
class Picture:
    layers: list[list[str]]                  # top first; each a list of top-level names
    modules: dict[str, int | None]           # module → its layer index (None: in no layer)
    upward: list[tuple[str, str]]            # (importer, imported) running back up
    cycles: list[list[str]]                  # each sorted; modules importing each other
    package_cycles: list[list[str]]          # the same between top-level parts (cli, engine...)
    compiled_importers: list[str] = dataclasses.field(default_factory=list)


def contract_layers(pyproject: Path = REPO / "pyproject.toml") -> list[list[str]]:
    """The ``layers`` contract's layers, top first, each split into its members."""
    config = tomllib.loads(pyproject.read_text())["tool"]["importlinter"]
    contract = next(c for c in config["contracts"] if c["type"] == "layers")
    return [[m.strip() for m in layer.replace(":", "|").split("|")]
            for layer in contract["layers"]]


def layer_of(module: str, layers: list[list[str]]) -> int | None:
    parts = module.split(".")
    if len(parts) < 2:   # the facade itself: above every layer, imported by nothing
        return None
    return next((i for i, layer in enumerate(layers) if parts[1] in layer), None)


def cycles(edges: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (or a module importing itself),
    by Tarjan's algorithm, iteratively (no recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in edges.get(node, ()):
                    out.append(sorted(component))
    return sorted(out)


def part(module: str) -> str:
    """``timens_lab.engine.lab`` → ``timens_lab.engine``; the facade stays itself."""
    return ".".join(module.split(".")[:2])


def analyse(edges: Mapping[str, Iterable[str]], layers: list[list[str]]) -> Picture:
    """The picture of a module graph (``{module: modules it imports}``) against ``layers``."""
    modules = {m: layer_of(m, layers) for m in sorted(edges)}
    upward = []
    for a, targets in edges.items():
        for b in targets:
            above, below = modules.get(b), modules[a]
            if above is not None and below is not None and above < below:
                upward.append((a, b))
    parts: dict[str, set[str]] = {}
    for a, targets in edges.items():
        if a == PACKAGE:   # the facade names every part (lazily): it is no part's dependency
            continue
        parts.setdefault(part(a), set()).update(part(b) for b in targets if part(b) != part(a))
    return Picture(layers, modules, sorted(upward), cycles(edges), cycles(parts))


def picture() -> Picture:
    import grimp

    sys.path.insert(0, str(REPO))
    from scripts.import_contracts import importers

    graph = grimp.build_graph(PACKAGE)
    edges = {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    return dataclasses.replace(analyse(edges, contract_layers()),
                               compiled_importers=sorted(importers(COMPILED)))


def render(p: Picture) -> str:
    lines = []
    for i, layer in enumerate(p.layers):
        members = sorted(m for m, at in p.modules.items() if at == i)
        lines.append(f"{i:2}  {' | '.join(layer)}  ({len(members)} modules)")
        for name in layer:
            here = [m.removeprefix(f"{PACKAGE}.") for m in members
                    if m.split(".")[1] == name]
            if len(here) > 1 or (here and here[0] != name):
                names = ("__init__" if h == name else h.removeprefix(name + ".") for h in here)
                lines.append(f"      {name}: {', '.join(names)}")
    outside = sorted(m for m, at in p.modules.items() if at is None)
    lines.append(f"    in no layer: {', '.join(outside)}")
    lines.append(f"{len(p.modules)} modules on {len(p.layers)} layers; "
                 f"{len(p.upward)} import(s) running back up; {len(p.cycles)} circle(s)")
    lines += [f"  up: {a} -> {b}" for a, b in p.upward]
    lines += [f"  circle: {' <-> '.join(c)}" for c in p.cycles]
    lines.append(f"between parts: {len(p.package_cycles)} circle(s)"
                 + "".join(f"\n  circle: {' <-> '.join(c)}" for c in p.package_cycles))
    lines.append(f"{COMPILED} is imported by {len(p.compiled_importers)} module(s): "
                 f"{', '.join(p.compiled_importers)}")
    return "\n".join(lines)


def main() -> int:
    p = picture()
    print(render(p))
    return 1 if p.cycles or len(p.upward) > 1 else 0


if __name__ == "__main__":
    raise SystemExit(main())
