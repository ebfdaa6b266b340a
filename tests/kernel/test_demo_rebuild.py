"""The demo rebuilds its scenario for hours (preset clicks, rollovers, recoveries): a rebuild
must release everything the last one made. Counted, not timed: widgets in the ipywidgets
registry, pyplot figures, this process's fds, asyncio tasks, and the helper's processes and fds
must come back to the same numbers for the same scenario, and dead dashboards must not pile up
waiting for the garbage collector (bench/bench_demo.py measures RSS)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import io
import os
import time
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("ipywidgets")
pytestmark = pytest.mark.usefixtures("need_timens")

#: the presets without a pause inside (migration waits 6 s on purpose)
QUICK = ("a day ahead", "a year behind", "nesting")


@pytest.fixture(params=["agg", "ipympl"])
def backend(request: pytest.FixtureRequest) -> Iterator[str]:
    """Agg (the bench, a plain kernel) and ipympl (the demo notebook: canvases are widgets)."""
    import matplotlib.pyplot as plt

    before = plt.get_backend()  # before ipympl: importing it makes itself the backend
    if request.param == "ipympl":
        pytest.importorskip("ipympl")
    plt.switch_backend("agg" if request.param == "agg" else "module://ipympl.backend_nbagg")
    try:
        yield request.param
    finally:
        plt.switch_backend(before)


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        for children in Path(f"/proc/{todo.pop()}/task").glob("*/children"):
            with contextlib.suppress(OSError):  # the process or thread just ended
                kids = [int(pid) for pid in children.read_text().split()]
                out += kids
                todo += kids
    return out


def _fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def _counts(app: Any) -> dict[str, Any]:
    import ipywidgets as W
    import matplotlib.pyplot as plt

    kids = _descendants(os.getpid())
    return {"widgets": len(W.Widget.widgets), "figures": len(plt.get_fignums()),
            "fds": _fds(os.getpid()), "tasks": len(asyncio.all_tasks()),
            "processes": len(kids), "helper fds": _fds(app.lab.helper_pid)}


@pytest.fixture
def dashboards(monkeypatch: pytest.MonkeyPatch) -> weakref.WeakSet[Any]:
    """Every Dashboard made from now on, for as long as it is in memory, dead or alive (a weak
    set: nothing is collected first). Not gc.get_objects(): it hands out every object, a tuple
    CPython is still building included, which 3.11 then fails to resize ("SystemError: bad
    argument to internal function", python/cpython#39117); one CI run of this test saw that
    error in the render loop, cause not pinned down, so the test keeps clear of the hazard."""
    from timens_lab.views.dashboard import Dashboard

    made: weakref.WeakSet[Any] = weakref.WeakSet()
    init = Dashboard.__init__

    def tracked(self: Any, *args: Any, **kw: Any) -> None:
        init(self, *args, **kw)
        made.add(self)

    monkeypatch.setattr(Dashboard, "__init__", tracked)
    return made


async def _rebuild(app: Any, name: str) -> None:
    app.choose(name)
    deadline = time.monotonic() + 20
    while app._busy is not None and not app._busy.done():
        assert time.monotonic() < deadline, f"{name} did not finish: {list(app.log)}"
        await asyncio.sleep(0.02)
    assert app.health() is None, (app.health(), list(app.log))


async def _settled(app: Any, want: dict[str, Any] | None = None) -> dict[str, Any]:
    """Counts once the last rebuild's leftovers ended: old render tasks wake within a frame,
    stopped samplers and killed holders are reaped by the helper on SIGCHLD (slower on a
    loaded CI machine). With ``want``: the first counts equal to it within 10 s, else the last
    ones (a leak stays; a process still exiting does not). Without: two equal readings."""
    deadline = time.monotonic() + 10
    last = None
    while True:
        await asyncio.sleep(0.2)
        now = _counts(app)
        if now == (want if want is not None else last) or time.monotonic() > deadline:
            return now
        last = now


@pytest.mark.filterwarnings("ignore:Widget.widgets is deprecated:DeprecationWarning")
# ipympl 0.10's Toolbar passes ``canvas`` on to traitlets, which warns; not ours to fix.
@pytest.mark.filterwarnings("ignore:Passing unrecognized arguments to super:DeprecationWarning")
def test_rebuilds_release_widgets_figures_fds_and_processes(
        backend: str, dashboards: weakref.WeakSet[Any]) -> None:
    """Nine rebuilds (preset clicks and watchdog rollovers) after a warm-up leave every count
    where it was, and free the dashboards they replaced; before the fix the registry grew by 8
    widgets a rebuild (12 under ipympl) and dead dashboards waited for CPython's collector."""
    from timens_lab.demo.app import DemoApp

    app = DemoApp(rollover_s=None, watchdog_s=0.05, rate=50, fps=20)
    seen: dict[str, Any] = {}

    async def main() -> None:
        with contextlib.redirect_stdout(io.StringIO()):  # outside Jupyter display() prints
            app.start()
        try:
            for name in (*QUICK, QUICK[0]):          # warm-up: every lazy import and cache
                await _rebuild(app, name)
            seen["before"] = await _settled(app)
            # Only the demo's own collections from here: without them every dead dashboard
            # stays, as it does for minutes in a real kernel between CPython's full collections.
            gc.disable()
            for name in QUICK * 2:
                await _rebuild(app, name)
            builds, app.rollover_s = app.built_at, 0.15  # the watchdog's rollover path
            deadline = time.monotonic() + 20
            rollovers = 0
            while rollovers < 2:
                assert time.monotonic() < deadline, f"no rollover: {list(app.log)}"
                await asyncio.sleep(0.02)
                if app.built_at != builds and (app._busy is None or app._busy.done()):
                    builds, rollovers = app.built_at, rollovers + 1
            app.rollover_s = None
            await _settled(app)                      # every old render task has ended
            await _rebuild(app, QUICK[0])
            seen["dashboards"] = sum(getattr(d.panel.control, "lab", None) is app.lab
                                     for d in list(dashboards))
            seen["after"] = await _settled(app, want=seen["before"])
        finally:
            gc.enable()
            app.stop()

    asyncio.run(main())
    assert app.recoveries == 0, list(app.log)
    assert seen["after"] == seen["before"]
    # The new one and the one it replaced (its render task holds it until its last frame);
    # the nine before it are freed by the rebuild's collection.
    assert seen["dashboards"] <= 2
