"""An import-linter contract type for a compiled module (``make lint`` loads it from here).

import-linter builds its graph from ``.py`` files, so an extension module such as
``timens_lab._timens`` (the cffi binding, a ``.so``) is not in it and no built-in contract can
name it. :class:`CompiledImportersContract` reads every module's imports itself (``ast``) and
allows the compiled module only in ``allowed_importers``::

    [[tool.importlinter.contracts]]
    type = "compiled_importers"
    module = "timens_lab._timens"
    allowed_importers = ["timens_lab.kernel"]
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

from importlinter import Contract, ContractCheck, fields, output


def importers(module: str) -> dict[str, list[int]]:
    """``{importing module: [line, ...]}`` for every import of ``module`` (or a name in it)
    in its top-level package's sources."""
    package = module.split(".", maxsplit=1)[0]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(f"cannot find package {package!r}")
    root = Path(next(iter(spec.submodule_search_locations)))
    found: dict[str, list[int]] = {}
    for path in sorted(root.rglob("*.py")):
        parts = [package, *path.relative_to(root).with_suffix("").parts]
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        here = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_bytes(), str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = here.split(".")[: len(here.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                targets = [base, *(f"{base}.{a.name}" for a in node.names)]
            else:
                continue
            if module in targets:
                found.setdefault(name, []).append(node.lineno)
    return found


class CompiledImportersContract(Contract):
    """Only ``allowed_importers`` import the compiled ``module``."""

    type_name = "compiled_importers"

    module = fields.StringField()
    allowed_importers = fields.ListField(subfield=fields.StringField())

    def check(self, graph: object, verbose: bool) -> ContractCheck:
        allowed = set(self.allowed_importers)  # type: ignore[call-overload]
        found = importers(str(self.module))
        illegal = {k: v for k, v in found.items() if k not in allowed}
        return ContractCheck(kept=not illegal, metadata={"illegal": illegal})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for importer, lines in sorted(check.metadata["illegal"].items()):
            where = ", ".join(f"l.{n}" for n in lines)
            output.print_error(f"{importer} is not allowed to import {self.module} ({where})")
            output.new_line()
