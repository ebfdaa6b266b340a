"""The package's import picture (scripts/import_graph.py): no circle, at most one import running
back up; and the picture's own machinery, checked on graphs whose answer is known."""

from __future__ import annotations

import importlib.metadata

import pytest

pytest.importorskip("grimp")
from scripts.import_contracts import importers
from scripts.import_graph import analyse, contract_layers, cycles, picture

LAYERS = [["cli", "commands"], ["views"], ["session"], ["engine", "clocks"], ["errors"]]


def test_the_package_has_no_circle_and_at_most_one_import_running_back_up() -> None:
    p = picture()
    assert p.cycles == [], f"modules importing each other: {p.cycles}"
    assert len(p.upward) <= 1, f"imports running back up: {p.upward}"
    assert len(p.modules) > 80   # the whole package was read, not an empty graph


def test_every_part_is_on_a_layer_of_the_contract() -> None:
    """A new sub-package must be placed on a layer (the contract is exhaustive)."""
    outside = {m for m, at in picture().modules.items() if at is None}
    assert outside == {"timens_lab", "timens_lab._ffi_build", "timens_lab.data"}


def test_the_layers_are_read_from_the_import_linter_contract() -> None:
    layers = contract_layers()
    assert layers[-1] == ["errors"]
    assert ["engine", "clocks", "discovery"] in layers
    assert layers.index(["views"]) < layers.index(["session"])


def test_cycles_finds_circles_and_self_imports_only() -> None:
    """The old engine circle (lab → namespace → child → lab) and a module importing itself;
    a chain and a diamond are not circles."""
    edges = {"lab": {"namespace", "wire"}, "namespace": {"child"}, "child": {"lab"},
             "wire": set(), "a": {"b", "c"}, "b": {"d"}, "c": {"d"}, "d": set(), "me": {"me"}}
    assert cycles(edges) == [["child", "lab", "namespace"], ["me"]]
    assert cycles({"x": {"y"}, "y": set()}) == []


def test_cycles_survives_a_long_chain() -> None:
    """Iterative, so a deep graph cannot hit Python's recursion limit."""
    n = 5000
    edges = {str(i): {str(i + 1)} for i in range(n)} | {str(n): {"0"}}
    assert [len(c) for c in cycles(edges)] == [n + 1]


def test_upward_imports_are_counted_against_the_layers() -> None:
    """engine → session and session → views run back up; views → session, commands → cli (one
    layer) and anything → the facade (no layer) do not, but importing the facade, which names
    every part, closes a circle."""
    edges = {
        "timens_lab": {"timens_lab.engine.lab"},
        "timens_lab.engine.lab": {"timens_lab.session.scenario", "timens_lab.errors"},
        "timens_lab.session.scenario": {"timens_lab.views.panel", "timens_lab.clocks.sampler"},
        "timens_lab.views.panel": {"timens_lab.session.control", "timens_lab"},
        "timens_lab.session.control": set(), "timens_lab.clocks.sampler": set(),
        "timens_lab.errors": set(),
        "timens_lab.commands.record": {"timens_lab.cli"}, "timens_lab.cli": set(),
    }
    p = analyse(edges, LAYERS)
    assert p.upward == [("timens_lab.engine.lab", "timens_lab.session.scenario"),
                        ("timens_lab.session.scenario", "timens_lab.views.panel")]
    assert p.cycles == [["timens_lab", "timens_lab.engine.lab", "timens_lab.session.scenario",
                         "timens_lab.views.panel"]]
    assert p.package_cycles == [["timens_lab.session", "timens_lab.views"]]   # views → session too


def test_compiled_importers_reads_every_spelling_of_the_import() -> None:
    """``from ._timens import lib`` in kernel.py is found (the graph of .py files cannot see
    the compiled module at all)."""
    found = importers("timens_lab._timens")
    assert "timens_lab.kernel" in found
    assert "timens_lab" in importers("timens_lab._version")           # the facade: a package
    assert "timens_lab.session.environment" in importers("timens_lab._version")   # from .. import


def test_the_version_has_one_source() -> None:
    """pyproject reads timens_lab/_version.py (dynamic): the installed metadata agrees."""
    from timens_lab import __version__
    from timens_lab._version import __version__ as version

    assert __version__ == version == importlib.metadata.version("timens-lab")
