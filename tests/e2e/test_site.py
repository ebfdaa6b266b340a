"""The course as a static site (make docs): every page opens in a browser served from loopback,
every image on it loads, each notebook page shows as many plots as its notebook made, and
nothing is fetched from any other host.

The site is ``$TIMENS_LAB_SITE`` when set (a directory ``make docs`` built), else built here
from the notebooks in replay mode by scripts/build_docs.py (about a minute and a half).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.e2e.server import free_port

LOOPBACK = ("127.0.0.1", "localhost", "[::1]", "::1")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    given = os.environ.get("TIMENS_LAB_SITE")
    if given:
        return Path(given)
    out = tmp_path_factory.mktemp("site")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "TIMENS_LAB_"))}
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "build_docs.py"), "--out",
                           str(out)], capture_output=True, text=True, env=env, timeout=900,
                          check=False)
    assert done.returncode == 0, f"make docs failed:\n{done.stderr[-3000:]}"
    return out


@pytest.fixture(scope="module")
def served(site: Path) -> Iterator[str]:
    """The site over HTTP on a free loopback port (python -m http.server), stopped by pid."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", "127.0.0.1",
                             "--directory", str(site), str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(base + "manifest.json", timeout=2):  # noqa: S310 (http, loopback)
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.1)
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)


def test_one_page_per_notebook(site: Path) -> None:
    """The site has a page for every notebook in notebooks/, the reference and an index."""
    manifest = json.loads((site / "manifest.json").read_text())
    expected = {f"{p.stem}.html" for p in (REPO / "notebooks").glob("[0-9]*.ipynb")}
    assert expected | {"reference.html", "index.html"} == set(manifest)
    assert all((site / name).is_file() for name in manifest)


def test_every_page_and_image_loads_offline(site: Path, served: str, browser: Any) -> None:
    """Each page loads from loopback only, its images decode, and its plot count is the notebook's."""
    manifest = json.loads((site / "manifest.json").read_text())
    context = browser.new_context()
    outside: list[str] = []
    failed: list[str] = []

    def gate(route: Any) -> None:
        host = urllib.parse.urlsplit(route.request.url).hostname or ""
        if route.request.url.startswith(("data:", "blob:")) or host in LOOPBACK:
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", gate)
    page = context.new_page()
    page.on("requestfailed", lambda r: failed.append(r.url))
    try:
        for name, expected in manifest.items():
            response = page.goto(served + name, wait_until="load")
            assert response is not None and response.status == 200, name
            images = page.evaluate("""() => Array.from(document.images).map(
                i => ({src: i.src.slice(0, 60), ok: i.complete && i.naturalWidth > 0}))""")
            broken = [i["src"] for i in images if not i["ok"]]
            assert not broken, f"{name}: images that did not load: {broken}"
            assert len(images) == expected["images"], (
                f"{name}: {len(images)} images on the page, the notebook made {expected['images']}")
            assert page.locator("nav.site a[href='index.html']").count() == 1, name
            text = page.inner_text("body")
            assert "Traceback (most recent call last)" not in text, f"{name} shows a traceback"
        assert not outside, f"requests to other hosts: {outside}"
        assert not failed, f"failed requests: {failed}"
        page.goto(served + "index.html")
        links = set(page.eval_on_selector_all("a", "els => els.map(e => e.getAttribute('href'))"))
        assert set(manifest) - {"index.html"} <= links, "the index does not link every page"
    finally:
        context.close()
