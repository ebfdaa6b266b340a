"""The explorer (control panel + namespace tree + divergence plot) driven by clicks in the browser.

Each step is checked against an independent source, not only against what the page says: the
offsets the kernel holds are read from ``/proc/<holder>/timens_offsets``, the namespace identity
from the nsfs inode of ``/proc/<holder>/ns/time_for_children``, a kill from /proc; the tree's
content from the kernel (the TreePlot's node keys) and from its pixels. The namespace is frozen
behind the panel's back with util-linux ``nsenter``, as a second user in a terminal would.
Leaves artifacts/e2e/explorer*.png, and the README's screenshot ``docs/explorer.png`` when it is
missing or ``TIMENS_LAB_UPDATE_SCREENSHOTS=1``.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import REPO
from tests.e2e import live_canvas
from tests.e2e.page import PANEL, NotebookPage, write_notebook
from tests.e2e.pixels import changed_fraction, mismatch, pixels, save_comparison

pytestmark = pytest.mark.e2e

README_SHOT = REPO / "docs" / "explorer.png"

SETUP = """\
import json
from timens_lab import Lab
from timens_lab.views import Dashboard
lab = Lab()
dash = Dashboard.for_lab(lab)
dash.start();
"""

STATE = """\
print("STATE " + json.dumps({
    "namespaces": [{"name": ns.name, "state": ns.state, "inode": ns.inode,
                    "holder": ns.holder_pid, "label": ns.label} for ns in lab.namespaces],
    "tree": list(dash.tree.keys), "frames": dash.view.frames}))
"""

SAVE = """\
import numpy as np
np.save("explorer-tree.npy", np.asarray(dash.tree.fig.canvas.buffer_rgba()))
open("explorer-plot.png", "wb").write(dash.plot.fig.canvas.final_png)  # the live canvas's end
"""

CLOSE = "dash.close()\nlab.close()\n"
SETUP_CELL, STATE_CELL, SAVE_CELL, CLOSE_CELL = 1, 2, 3, 4


class Explorer:
    """The dashboard's widgets, located by what a user reads on them."""

    def __init__(self, nb: NotebookPage) -> None:
        self.nb = nb
        self.page = nb.page

    def state(self) -> dict[str, Any]:
        text = self.nb.run_and_wait(STATE_CELL)
        return dict(json.loads(text[text.index("STATE ") + 6:].splitlines()[0]))

    def namespace(self, name: str) -> dict[str, Any]:
        return next(n for n in self.state()["namespaces"] if n["name"] == name)

    def button(self, text: str) -> Any:
        # The whole label: "Run" must not find "Running …" (an icon adds no text content).
        exact = re.compile(rf"^\s*{re.escape(text)}\s*$")
        return self.page.locator(f"{PANEL} button.jupyter-button", has_text=exact)

    def set_offset(self, clock: str, value: float, unit: str) -> None:
        field = self.page.locator(PANEL).get_by_role("spinbutton", name=clock, exact=True)
        field.fill(str(value))
        field.press("Tab")  # FloatText syncs on blur (continuous_update is off)
        # The unit dropdown sits next to the number (OffsetInput's HBox).
        field.locator("xpath=../following-sibling::*[1]//select").select_option(unit)
        # ipywidgets syncs each change as its own comm message; under load a click that
        # follows at once was seen to reach the kernel first (the panel then created −30 d
        # instead of −30 s). A person never types that fast: let the changes land.
        self.page.wait_for_timeout(600)

    def wait_text(self, text: str, timeout: float = 30.0) -> None:
        self.page.locator(PANEL).get_by_text(text).first.wait_for(timeout=timeout * 1000)

    def tree_canvas(self) -> Any:
        # The panel and the tree share the top row; the tree is the first canvas.
        return self.nb.canvases().nth(0)

    def wait_tree(self, predicate: Any, timeout: float = 30.0) -> dict[str, Any]:
        """Until the kernel's tree satisfies ``predicate`` (the tree refreshes about 1/s)."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.state()
            if predicate(state["tree"]) or time.monotonic() > deadline:
                return state
            self.page.wait_for_timeout(500)


def read_offsets(holder: int) -> dict[str, tuple[int, int]]:
    """/proc/<holder>/timens_offsets: the offsets of the holder's time_for_children."""
    out = {}
    for line in Path(f"/proc/{holder}/timens_offsets").read_text().splitlines():
        clock, secs, nsecs = line.split()
        out[clock] = (int(secs), int(nsecs))
    return out


def nsfs_inode(holder: int) -> int:
    return os.stat(f"/proc/{holder}/ns/time_for_children").st_ino


def freeze_from_outside(holder: int) -> None:
    """Enter the namespace once with util-linux nsenter (the first entry freezes its offsets,
    time_namespaces(7)); rootless namespaces are entered through their user namespace."""
    target = f"--time=/proc/{holder}/ns/time_for_children"
    argv = (["nsenter", target, "true"] if os.geteuid() == 0 else
            ["nsenter", f"--user=/proc/{holder}/ns/user", target, "--preserve-credentials",
             "true"])
    subprocess.run(argv, check=True, timeout=10, capture_output=True)


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_explorer_create_edit_freeze_kill(notebook: NotebookPage, lab_root: Path,
                                         need_timens: str, artifacts: Path) -> None:
    write_notebook(lab_root / "e2e" / "explorer.ipynb",
                   ["%matplotlib widget", SETUP, STATE, SAVE, CLOSE])
    nb = notebook
    ex = Explorer(nb)
    nb.open("e2e/explorer.ipynb")
    nb.run_and_wait(0)
    nb.run_and_wait(SETUP_CELL)
    ex.button("Create namespace").wait_for(timeout=60_000)
    nb.page.locator(f"{PANEL} {live_canvas.ROOT}").first.wait_for(timeout=60_000)
    ex.wait_tree(lambda keys: len(keys) > 0)
    tree_before = ex.tree_canvas().screenshot()

    # Create: +1 h monotonic, 0 boottime; pending until something enters it.
    ex.set_offset("monotonic", 1, "h")
    ex.set_offset("boottime", 0, "s")
    ex.button("Create namespace").click()
    ex.wait_text("created ns1")
    ns1 = ex.namespace("ns1")
    assert ns1["state"] == "pending"
    assert nsfs_inode(ns1["holder"]) == ns1["inode"]
    assert read_offsets(ns1["holder"]) == {"monotonic": (3600, 0), "boottime": (0, 0)}
    key = f"time:{ns1['inode']}"
    state = ex.wait_tree(lambda keys: key in keys)
    assert key in state["tree"], f"{key} never appeared in the tree: {state['tree']}"
    nb.page.wait_for_timeout(1500)  # the tree canvas is repainted on its next refresh
    tree_after = ex.tree_canvas().screenshot()
    assert changed_fraction(tree_before, tree_after) > 0.001, "the tree canvas did not change"

    # Edit while pending: the kernel takes the new offsets.
    ex.set_offset("monotonic", 2, "h")
    ex.set_offset("boottime", 1, "d")
    ex.button("Set offsets").click()
    ex.wait_text("offsets set: ns1 +2h/+1d")
    assert read_offsets(ns1["holder"]) == {"monotonic": (7200, 0), "boottime": (86400, 0)}

    # Frozen behind the panel's back: the next edit is refused with message and hint.
    freeze_from_outside(ns1["holder"])
    ex.set_offset("monotonic", 3, "h")
    ex.button("Set offsets").click()
    ex.wait_text("hint:")
    error = nb.page.locator(f"{PANEL} .widget-html", has_text="hint:").first.inner_text()
    assert "error:" in error
    assert "before the first process enters" in error
    assert "Traceback" not in error
    assert read_offsets(ns1["holder"]) == {"monotonic": (7200, 0), "boottime": (86400, 0)}
    nb.page.screenshot(path=str(artifacts / "explorer-frozen-error.png"))

    # Kill: the holder (and with it the namespace) goes; the tree drops the node.
    ex.button("Kill").click()
    ex.wait_text("ns1 closed")
    deadline = time.monotonic() + 10
    while alive(ns1["holder"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(ns1["holder"]), "the namespace's holder outlived Kill"
    state = ex.wait_tree(lambda keys: key not in keys)
    assert key not in state["tree"]
    # The lab forgets closed namespaces (or lists them as closed).
    assert all(n["state"] == "closed" for n in ex.state()["namespaces"] if n["name"] == "ns1")

    # A namespace a day ahead with a process in it and a sampler; one behind, sampled too.
    for name, (mono, boot) in {"ns2": ((1, "d"), (1, "d")), "ns3": ((-30, "s"), (2, "h"))}.items():
        ex.set_offset("monotonic", *mono)
        ex.set_offset("boottime", *boot)
        ex.button("Create namespace").click()
        ex.wait_text(f"created {name}")
        ex.button("Run").click()
        ex.wait_text(f"{name}: started pid")
        ex.button("Start sampler").click()
        ex.wait_text(f"{name}: sampling")
    live = [f"time:{n['inode']}" for n in ex.state()["namespaces"] if n["state"] == "frozen"]
    assert len(live) == 2
    state = ex.wait_tree(lambda keys: all(k in keys for k in live))
    assert all(k in state["tree"] for k in live), (live, state["tree"])
    nb.page.wait_for_timeout(4000)   # a few seconds of divergence on the plot
    first = live_canvas.data_rgba(nb)        # the plot: the live canvas's data layer
    nb.page.wait_for_timeout(1500)
    second = live_canvas.data_rgba(nb)
    assert float((second[..., 3] > 0).mean()) > 0.005, "the plot's data layer is blank"
    assert float(np.any(first != second, axis=-1).mean()) > 0.0002, "the plot is not streaming"

    # Stopped, the browser must show exactly the kernel's final frames (no lost diff left).
    ex.button("Stop").click()
    ex.wait_text("stopped ·")
    nb.settle_paints()
    nb.run_and_wait(SAVE_CELL)
    plot_png = pixels((lab_root / "e2e" / "explorer-plot.png").read_bytes())
    for name, browser, kernel in (
            ("tree", nb.canvas_rgb(0), np.load(lab_root / "e2e" / "explorer-tree.npy")),
            ("plot", live_canvas.final_picture(nb, plot_png), plot_png)):
        wrong = mismatch(browser, kernel)
        if wrong:
            save_comparison(browser, kernel, artifacts / f"explorer-{name}")
        assert wrong == 0.0, (f"the {name} canvas differs from the kernel's final frame in "
                              f"{wrong:.2%} of its pixels (artifacts/e2e/explorer-{name}-*.png)")

    nb.page.screenshot(path=str(artifacts / "explorer.png"))
    _readme_screenshot(nb, artifacts / "explorer-readme.png")
    assert nb.problems() == []
    nb.run_and_wait(CLOSE_CELL)


def _readme_screenshot(nb: NotebookPage, path: Path) -> None:
    """The dashboard alone (panel, tree, divergence plot), as the README shows it: the output
    area of the cell that displayed it, about 850×1000, quantized to 256 colours (~45 KB).

    Saved as an artifact every run; copied to docs/explorer.png only when that is missing or
    TIMENS_LAB_UPDATE_SCREENSHOTS=1 (pids and times differ on every run: no churn in git).
    """
    from PIL import Image

    shot = nb.cell(SETUP_CELL).locator(".jp-OutputArea-output").first.screenshot()
    image = Image.open(io.BytesIO(shot)).convert("RGB").quantize(colors=256, dither=0)
    image.save(path, optimize=True)
    if not README_SHOT.exists() or os.environ.get("TIMENS_LAB_UPDATE_SCREENSHOTS") == "1":
        README_SHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(path, README_SHOT)
