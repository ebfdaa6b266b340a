"""The demo's first start, staged: the stage on the page first, the figures' seconds after.

Why this is its own module: Voilà runs the notebook's cell and sends the page its scripts only
once the cell has returned, and the page's widgets render only once the kernel has sent their
state. So ``DemoApp.start()`` displays the stage and returns with nothing heavy imported, and
the first build's task (:meth:`DemoApp._apply`) does the rest while the page loads. Before the
stage shows, the cell probes for time namespaces (:func:`start_probe`: a child Python, 0.1–0.3 s)
while it imports the stage's widgets (ipywidgets, anywidget: 0.2–0.3 s), not one after the other.
After it:

* :meth:`Startup.prepare`, once per app: about a second of imports (matplotlib, the views) in
  a worker thread, so the kernel's loop keeps answering the page meanwhile; the Lab's helper
  starts during the imports (its start is mostly waiting for the helper's Python); then the
  widget backend (the notebook's former ``%matplotlib widget``) and the figures' theme;
* :meth:`Startup.await_room`: the figures are sized to the page, which reports its size a
  moment after the stage shows; in a Jupyter kernel the first build waits for that report
  (up to ROOM_WAIT_S), elsewhere (a script, the tests) no page will report and it does not.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

from . import stage

if TYPE_CHECKING:
    from ..probing.check import ProbeResult

#: How long after showing the stage the first build waits for the page to say its size, in a
#: Jupyter kernel (Voilà or JupyterLab: a page is loading its scripts meanwhile).
ROOM_WAIT_S = 10.0
#: The room a page that has not said its size yet reports (the Keys widget's default).
NO_ROOM = (0, 0)


class Startup:
    """What the first build of one DemoApp waits for, and what it does only once."""

    def __init__(self) -> None:
        self.prepared = False             # the figures' imports, backend and theme are done
        self.room_by = time.monotonic()   # the first build waits for the page's size until then

    def shown(self) -> None:
        """The stage has just been displayed: a page in a Jupyter kernel will say its size
        within ROOM_WAIT_S."""
        self.room_by = time.monotonic() + (ROOM_WAIT_S if in_kernel() else 0.0)

    async def prepare(self, theme: str, open_lab: Callable[[], None] | None) -> None:
        """The figures' imports (in a worker thread), ``open_lab()`` meanwhile when given, then
        the widget backend and ``theme``; once (later calls return at once)."""
        if self.prepared:
            return
        imports = asyncio.ensure_future(asyncio.to_thread(import_views))
        try:
            if open_lab is not None:
                await asyncio.sleep(0)   # the import thread first
                open_lab()
        finally:
            await imports
        widget_backend()
        stage.apply_theme(theme)
        self.prepared = True

    async def await_room(self, room: Callable[[], Sequence[int]]) -> None:
        """Until ``room()`` (the page's size) is known or the deadline set by :meth:`shown`
        has passed; a headless run has no page, and its figures then fit the default stage."""
        while tuple(room()) == NO_ROOM and time.monotonic() < self.room_by:
            await asyncio.sleep(0.05)


def start_probe() -> Future[ProbeResult]:
    """:func:`~timens_lab.probing.check.probe` in a thread of its own, started now: the probe
    mostly waits for its child, so the caller's imports run meanwhile."""
    from ..probing.check import probe

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="timens-demo-probe")
    try:
        return pool.submit(probe)
    finally:
        pool.shutdown(wait=False)   # the thread ends with the probe


def import_views() -> None:
    """Import what the figures need (plain module imports: safe in a worker thread; nothing
    here starts a process or touches IPython)."""
    import matplotlib.pyplot  # noqa: F401

    from ..views import dashboard, tree_plot  # noqa: F401


def in_kernel() -> bool:
    from ..views._kernel import kernel_shell

    return kernel_shell() is not None


def widget_backend() -> None:
    """``%matplotlib widget`` in a Jupyter kernel (the tree's figure is an ipympl canvas);
    elsewhere the backend stays as it is."""
    from ..views._kernel import kernel_shell

    shell = kernel_shell()
    if shell is not None:
        shell.run_line_magic("matplotlib", "widget")
