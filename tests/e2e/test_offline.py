"""A notebook run in JupyterLab fetches nothing from outside the machine: fonts, icons, scripts
and widget code are all served by the local server (the demo's own check is in test_demo.py).

Every request of the page goes through a route that aborts and records any non-loopback URL
(stage_checks.watch_outside), so the test fails on the first one whether or not this machine
is online.
"""

from __future__ import annotations

import pytest

from tests.e2e import live_canvas
from tests.e2e.page import NotebookPage
from tests.e2e.stage_checks import watch_outside

pytestmark = pytest.mark.e2e

#: A notebook with live widgets (the plot's live canvas, an anywidget whose JavaScript the
#: kernel sends; buttons): the most the page has to load.
NOTEBOOK = "02-live-divergence.ipynb"


def test_a_notebook_in_jupyterlab_loads_nothing_from_outside(notebook: NotebookPage) -> None:
    outside: list[str] = watch_outside(notebook.page)
    notebook.open(NOTEBOOK)
    notebook.run_all()
    live_canvas.wait_painting(notebook, min_paints=1)   # its widget code ran: all was loaded
    notebook.wait_run(timeout=180)
    assert outside == [], f"JupyterLab fetched from outside this machine: {outside}"
    assert notebook.problems() == []


def test_the_route_catches_an_outside_request(notebook: NotebookPage) -> None:
    """The check can fail: a page asking the internet for a stylesheet is caught (and the
    request never leaves: it is aborted)."""
    outside: list[str] = watch_outside(notebook.page)
    notebook.page.set_content(
        '<link rel="stylesheet" href="https://cdn.example.org/font-awesome.css">'
        f'<img src="{notebook.server.url}/static/favicons/favicon.ico">')
    for _ in range(50):
        if outside:
            break
        notebook.page.wait_for_timeout(100)
    assert outside == ["https://cdn.example.org/font-awesome.css"]
