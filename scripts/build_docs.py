#!/usr/bin/env python3
"""Build the course as a static site, offline: one page per notebook, executed in replay mode.

    python scripts/build_docs.py [--out build/site] [--executed DIR] [NOTEBOOK ...]

1. Runs every ``notebooks/[0-9]*.ipynb`` (or the ones named) headless with
   ``TIMENS_LAB_MODE=replay`` through scripts/run_notebook.py, so the pages show what the
   recordings show, on any machine. A notebook that fails stops the build: no page carries a
   traceback.
2. Converts each to HTML with nbconvert's lab template made offline (docs/site/timens-site: no
   require.js, MathJax, Mermaid or widget manager from a CDN). Live widgets cannot work in a
   static page, so widget outputs are dropped and each plot's PNG output is kept.
3. Renders docs/reference.md (mistune, which nbconvert already depends on) and an index page,
   and rewrites links between notebooks and the reference to the pages.
4. Writes manifest.json (each page and how many plots it must show, for tests/e2e/test_site.py)
   and checks the result: every page exists, none contains a traceback, and nothing is loaded from
   another host (``src=``, stylesheet ``href=``, CSS ``url(...)``/``@import`` must be relative,
   ``data:`` or loopback). Exit status 0 only if all of that holds.

``--executed DIR`` skips step 1 and converts the executed notebooks found in DIR.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "notebooks"
TEMPLATES = REPO / "docs" / "site"
REFERENCE = REPO / "docs" / "reference.md"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
#: The text/plain repr of a widget with no static form (ipympl's canvas, ipywidgets' boxes).
WIDGET_REPR = re.compile(r"^(Canvas|[A-Z]\w*(Box|Output|Widget))\(")
#: Resource loads (not hyperlinks): a page must not fetch anything from another host.
REMOTE = re.compile(r"""(?:\bsrc\s*=\s*["']?|<link\b[^>]*\bhref\s*=\s*["']?|url\(\s*["']?|@import\s+["'])"""
                    r"""(?:https?:)?//(?!127\.0\.0\.1|localhost|\[::1\])""", re.IGNORECASE)
TRACEBACK = re.compile(r"Traceback \(most recent call last\)")
PAGE_CSS = """
body { font: 16px/1.55 system-ui, sans-serif; max-width: 56rem; margin: 0 auto; padding: 0 1rem 3rem;
       color: #222; }
nav.site { font-size: 14px; padding: 8px 0; border-bottom: 1px solid #ddd; display: flex; gap: 16px; }
a { color: #1b5e9f; } code, pre { font: 14px/1.4 ui-monospace, monospace; background: #f5f5f5; }
pre { padding: 8px; overflow-x: auto; } table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 4px 8px; vertical-align: top; text-align: left; }
"""


def execute(names: list[Path], out: Path) -> list[dict[str, object]]:
    """Run the notebooks in replay mode; the executed copies land in ``out``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIMENS_LAB_")}
    argv = [sys.executable, str(REPO / "scripts" / "run_notebook.py"), "--mode", "replay",
            "--save", str(out), *map(str, names)]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False, cwd=REPO)
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def staticize(nb: object) -> None:
    """Keep what a static page can show: drop widget views (keeping their PNG), widget state."""
    nb.metadata.pop("widgets", None)  # type: ignore[attr-defined]
    for cell in nb.cells:  # type: ignore[attr-defined]
        if cell.cell_type != "code":
            continue
        kept = []
        for output in cell.outputs:
            data = output.get("data", {})
            if WIDGET_MIME in data:
                if "image/png" not in data:
                    continue
                output["data"] = {k: v for k, v in data.items() if k != WIDGET_MIME}
            if set(data) == {"text/plain"} and WIDGET_REPR.match(str(data["text/plain"])):
                continue
            kept.append(output)
        cell.outputs = kept


def link_fix(text: str) -> str:
    """Links between notebooks and to the reference point at the pages instead."""
    text = re.sub(r'href="(?:\.\./notebooks/)?(\d\d-[\w-]+)\.ipynb(#[^"]*)?"',
                  lambda m: f'href="{m[1]}.html{m[2] or ""}"', text)
    return re.sub(r'href="(?:\.\./)?docs/reference\.md|href="(?:\.\./docs/)?reference\.md',
                  'href="reference.html', text)


def nav(pages: list[tuple[str, str]], here: str) -> str:
    names = [p for p, _ in pages]
    i = names.index(here) if here in names else -1
    parts = ['<a href="index.html">timens-lab course</a>', '<a href="reference.html">reference</a>']
    if i > 0:
        parts.append(f'<a href="{names[i - 1]}.html">← {html.escape(pages[i - 1][1])}</a>')
    if 0 <= i < len(pages) - 1:
        parts.append(f'<a href="{names[i + 1]}.html">{html.escape(pages[i + 1][1])} →</a>')
    return '<nav class="site">' + " · ".join(parts) + "</nav>"


def title_of(nb: object, fallback: str) -> str:
    for cell in nb.cells:  # type: ignore[attr-defined]
        if cell.cell_type == "markdown":
            m = re.search(r"^#\s+(.+)$", cell.source, flags=re.MULTILINE)
            if m:
                return m[1].strip()
    return fallback


def standalone(title: str, body: str, navigation: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1.0">'
            f"<title>{html.escape(title)}</title><style>{PAGE_CSS}</style></head>"
            f"<body>{navigation}<main>{body}</main></body></html>\n")


def build(executed: Path, out: Path, names: list[str]) -> list[str]:
    """Write the site into ``out``; returns the problems found (empty: a good site)."""
    import mistune
    import nbformat
    from nbconvert import HTMLExporter

    out.mkdir(parents=True, exist_ok=True)
    for stale in [*out.glob("*.html"), out / "manifest.json"]:   # pages of removed notebooks
        stale.unlink(missing_ok=True)
    exporter = HTMLExporter(template_name="timens-site", extra_template_basedirs=[str(TEMPLATES)],
                            embed_images=True)
    notebooks = {n: nbformat.read(executed / f"{n}.ipynb", as_version=4) for n in names}
    pages = [(n, title_of(nb, n)) for n, nb in notebooks.items()]
    problems = [f"{n}: an error output in cell {c.get('id')}" for n, nb in notebooks.items()
                for c in nb.cells if any(o.output_type == "error" for o in c.get("outputs", []))]
    manifest = {}
    for name, nb in notebooks.items():
        staticize(nb)
        manifest[f"{name}.html"] = {"title": dict(pages)[name], "images": sum(
            "image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))}
        body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": name}})
        opening = re.search(r"<body[^>]*>", body)
        if opening is not None:
            body = body[:opening.end()] + nav(pages, name) + body[opening.end():]
        (out / f"{name}.html").write_text(link_fix(body))
    reference = link_fix(mistune.html(REFERENCE.read_text()))
    (out / "reference.html").write_text(standalone("timens-lab reference", reference,
                                                   nav(pages, "reference")))
    items = "".join(f'<li><a href="{n}.html">{html.escape(t)}</a></li>' for n, t in pages)
    index = ("<h1>timens-lab: a course on Linux time namespaces</h1><p>Every page is a notebook "
             "of the course, executed in replay mode: what you see was recorded on a real "
             "kernel, and every claim on it was checked against that recording. Run them live "
             "with <code>make lab</code>.</p>"
             f'<ol start="0">{items}</ol><p>The <a href="reference.html">reference</a>: the '
             "model, the rules, the errors, and where the course shows each behaviour.</p>")
    (out / "index.html").write_text(standalone("timens-lab course", index, nav(pages, "index")))
    manifest.update({"reference.html": {"title": "reference", "images": 0},
                     "index.html": {"title": "index", "images": 0}})
    # What the browser test holds the pages to: every page, and each notebook's plot count.
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return problems + check(out, [*names, "reference", "index"])


def check(out: Path, pages: list[str]) -> list[str]:
    problems = []
    for page in pages:
        path = out / f"{page}.html"
        if not path.exists():
            problems.append(f"{path.name}: missing")
            continue
        text = path.read_text()
        if TRACEBACK.search(text):
            problems.append(f"{path.name}: contains a traceback")
        for m in REMOTE.finditer(text):
            problems.append(f"{path.name}: loads from another host: {text[m.start():m.end() + 60]!r}")
    return problems


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--out", type=Path, default=REPO / "build" / "site")
    parser.add_argument("--executed", type=Path, help="converted executed notebooks from here")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted(NOTEBOOKS.glob("[0-9]*.ipynb"))
    names = [p.stem for p in paths]
    with tempfile.TemporaryDirectory(prefix="timens-lab-site-") as tmp:
        executed = args.executed or Path(tmp)
        if args.executed is None:
            failed = [r for r in execute(paths, executed) if not r["ok"]]
            ran = {p.stem for p in executed.glob("*.ipynb")}
            for r in failed:
                print(f"error: {r['notebook']} failed in replay mode, cell {r['cell']}: "
                      f"{r['error']}", file=sys.stderr)
            if failed or ran != set(names):
                print("hint: run it with scripts/run_notebook.py --mode replay to see why; no "
                      "page may show a traceback", file=sys.stderr)
                return 1
        problems = build(executed, args.out, names)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if problems:
        return 1
    print(f"site: {args.out}/index.html ({len(names)} notebooks + reference)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
