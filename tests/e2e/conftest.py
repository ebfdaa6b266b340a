"""Fixtures for the browser tests: Debian's chromium driven by Playwright, one JupyterLab server.

Outside CI, with no chromium or no playwright, the tests skip and say how to install them; in CI
(``CI=true``, or ``TIMENS_LAB_REQUIRE_BROWSER=1`` as ``.ci/run`` sets) a missing browser fails.
Never ``playwright install``: it downloads browsers; Playwright drives the system chromium.

Every test gets a fresh browser context; afterwards its kernels are shut down through the server
API and the test fails if any process the server started (kernel, Lab helper, sampler) is still
alive. At the end of the session the server is stopped by pid (SIGTERM, then SIGKILL) and the
session fails if anything of its process session survived. Screenshots go to ``artifacts/e2e/``
(and one per failing test, named after it).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.e2e.page import CHROMIUM_ARGS, NotebookPage, notebook_page
from tests.e2e.server import LabServer, free_port, lab_argv

ARTIFACTS = REPO / "artifacts" / "e2e"
INSTALL = "apt-get install chromium (Debian/Ubuntu) and pip install playwright (no `playwright install`)"


def chromium_path() -> str | None:
    """$TIMENS_LAB_CHROMIUM if set (and only it), else /usr/bin/chromium, else PATH's."""
    chosen = os.environ.get("TIMENS_LAB_CHROMIUM")
    candidates = [chosen] if chosen else ["/usr/bin/chromium", shutil.which("chromium")]
    return next((c for c in candidates if c and os.access(c, os.X_OK)), None)


def browser_required() -> bool:
    return (os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")
            or os.environ.get("TIMENS_LAB_REQUIRE_BROWSER", "").strip() == "1")


def _missing() -> str | None:
    problems = []
    if chromium_path() is None:
        where = os.environ.get("TIMENS_LAB_CHROMIUM") or "/usr/bin/chromium or PATH"
        problems.append(f"no chromium at {where}")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problems.append("no playwright in this environment")
    return "; ".join(problems) or None


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless chromium (the system one) for the whole session."""
    problem = _missing()
    if problem is not None:
        message = f"browser tests need a browser: {problem}; install: {INSTALL}"
        if browser_required():
            pytest.fail(message + " (required: CI or TIMENS_LAB_REQUIRE_BROWSER=1)",
                        pytrace=False)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), args=list(CHROMIUM_ARGS))
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="session")
def lab_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The server's root: a copy of notebooks/ (tests never open the repo's own files) plus a
    folder ``e2e/`` for notebooks the tests write."""
    root = tmp_path_factory.mktemp("lab") / "root"
    shutil.copytree(REPO / "notebooks", root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    (root / "e2e").mkdir()
    return root


@pytest.fixture(scope="session")
def lab_server(browser: Any, lab_root: Path,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """JupyterLab on a free loopback port with fresh dirs; stopped by pid, leftovers checked."""
    home = tmp_path_factory.mktemp("jupyter-home")
    port = free_port()
    server = LabServer.start(lab_argv(lab_root, port), home, port=port)
    try:
        yield server
    finally:
        stray = server.stop()
        assert not stray, f"the Jupyter server left processes behind (killed now): {stray}"


@pytest.fixture
def report(capsys: pytest.CaptureFixture[str]) -> Callable[[str], None]:
    """Print a measurement even when pytest captures output (``make test`` shows it)."""

    def write(text: str) -> None:
        with capsys.disabled():
            sys.stdout.write(f"\n  {text}\n")

    return write


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.stash[_FAILED] = report.failed


_FAILED = pytest.StashKey[bool]()


@pytest.fixture
def notebook(request: pytest.FixtureRequest, browser: Any, lab_server: LabServer,
             artifacts: Path) -> Iterator[NotebookPage]:
    """A fresh page; afterwards: a screenshot if the test failed, kernels shut down through the
    API, and a failure if any process the kernels started outlived them."""
    with notebook_page(browser, lab_server) as page:
        yield page
        screenshot_if_failed(request, page, artifacts)
    left = lab_server.shutdown_kernels()
    assert not left, f"processes outlived their kernel (killed now): {left}"


def screenshot_if_failed(request: pytest.FixtureRequest, page: NotebookPage,
                         artifacts: Path) -> None:
    """artifacts/e2e/<test>-failure.png and the console errors, when the test failed."""
    if not request.node.stash.get(_FAILED, False):
        return
    path = artifacts / f"{request.node.name}-failure.png"
    try:
        page.page.screenshot(path=str(path), full_page=True)
    except Exception as err:  # a failed screenshot must not hide the test's failure
        print(f"could not save {path}: {err}")
    print(f"console errors: {page.console_errors}; offline: {page.offline}")
