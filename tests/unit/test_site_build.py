"""scripts/build_docs.py's pure parts: what a static page keeps of a notebook, its links, and
the check that nothing is loaded from another host (the browser test covers the built site)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import nbformat

from tests.conftest import REPO


def _builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_docs", REPO / "scripts" / "build_docs.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


b = _builder()


def _out(data: dict[str, object]) -> nbformat.NotebookNode:
    return nbformat.v4.new_output("display_data", data=data)


def test_staticize_keeps_plots_and_drops_live_widgets() -> None:
    """A widget with a PNG keeps the PNG, one without is dropped, and so is the widget state."""
    view = {"model_id": "x", "version_major": 2, "version_minor": 0}
    cell = nbformat.v4.new_code_cell("plot")
    cell.outputs = [_out({b.WIDGET_MIME: view, "image/png": "iVBOR", "text/plain": "Canvas()"}),
                    _out({b.WIDGET_MIME: view, "text/plain": "VBox()"}),
                    _out({"text/plain": "Canvas(toolbar=Toolbar())"}),
                    _out({"text/html": "<b>table</b>", "text/plain": "table"})]
    nb = nbformat.v4.new_notebook(cells=[cell], metadata={"widgets": {"state": {}}})
    b.staticize(nb)
    assert "widgets" not in nb.metadata
    assert [sorted(o["data"]) for o in cell.outputs] == [["image/png", "text/plain"],
                                                         ["text/html", "text/plain"]]


def test_links_point_at_pages() -> None:
    """Notebook and reference links become the site's pages; others are left alone."""
    text = ('<a href="02-live-divergence.ipynb">02</a> <a href="../notebooks/09-long-uptime.ipynb'
            '#recap">09</a> <a href="../docs/reference.md">ref</a> <a href="https://x.org/a.ipynb">')
    assert b.link_fix(text) == ('<a href="02-live-divergence.html">02</a> <a href="09-long-uptime'
                                '.html#recap">09</a> <a href="reference.html">ref</a> '
                                '<a href="https://x.org/a.ipynb">')


def test_remote_loads_are_found_and_links_are_not(tmp_path: Path) -> None:
    """A script, stylesheet, CSS url() or @import from another host is a problem; a link is not."""
    bad = ['<script src="https://cdnjs.cloudflare.com/require.js"></script>',
           '<link rel="stylesheet" href="//fonts.googleapis.com/css">',
           "<style>@font-face { src: url(https://fonts.gstatic.com/f.woff) }</style>",
           "<style>@import 'http://cdn.example/x.css';</style>"]
    good = ['<a href="https://github.com/wolfcw/libfaketime">libfaketime</a>',
            '<img src="data:image/png;base64,iVBOR">', '<script src="http://127.0.0.1:8000/a.js">',
            '<img src="plot.png">']
    for i, snippet in enumerate(bad + good):
        (tmp_path / f"p{i}.html").write_text(f"<html><body>{snippet}</body></html>")
    problems = b.check(tmp_path, [f"p{i}" for i in range(len(bad + good))])
    assert sorted(p.split(":")[0] for p in problems) == [f"p{i}.html" for i in range(len(bad))]


def test_traceback_pages_are_refused(tmp_path: Path) -> None:
    """A page that shows a Python traceback fails the build's check."""
    (tmp_path / "x.html").write_text("<pre>Traceback (most recent call last):\n  boom</pre>")
    assert b.check(tmp_path, ["x"]) == ["x.html: contains a traceback"]
