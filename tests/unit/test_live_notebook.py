"""Headless notebooks keep the final frame: a generated notebook run by nbclient.

ipympl's own static fallback is the display-time frame; the live
view's snapshot() must replace it, through the display handle, with the final frame. Checked on
the saved notebook's output against PNGs the kernel wrote of frame 0 and of the final frame,
with the ipympl widget backend and with the inline backend.
"""

from __future__ import annotations

import base64
import importlib.util
import io
import re
from pathlib import Path

import numpy as np
import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

SETUP = """\
from timens_lab.views import DivergencePlot, LiveView
from timens_lab.views._figure import png_bytes
from timens_lab.views.synthetic import SyntheticSource

H = 3600 * 10**9
source = SyntheticSource({"ns1": (H, H), "ns2": (-5 * 10**9, 0)}, samples=600, chunk=40,
                         rate_hz=200.0)
plot = DivergencePlot(source)
view = LiveView([plot], fps=15)
view.start()
with open("frame0.png", "wb") as f:
    f.write(png_bytes(plot.fig))
"""

WAIT = "await view.wait()"

SNAPSHOT = """\
(png,) = view.snapshot()
with open("final.png", "wb") as f:
    f.write(png)
print(plot.frames, "|", plot.status.get_text())
"""


def _pixels(png: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))


def _run(tmp_path: Path, backend: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(f"%matplotlib {backend}"),
                nbformat.v4.new_code_cell(SETUP),
                nbformat.v4.new_code_cell(WAIT),
                nbformat.v4.new_code_cell(SNAPSHOT)]
    client = nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    nbformat.write(nb, tmp_path / "executed.ipynb")
    return nbformat.read(tmp_path / "executed.ipynb", as_version=4)


@pytest.mark.parametrize("backend", ["widget", "inline"])
def test_saved_notebook_shows_the_final_frame(tmp_path: Path, backend: str) -> None:
    """The figure's output in the saved notebook is the final frame, not frame 0."""
    # Look, do not import: importing ipympl makes it this process's pyplot backend, and later
    # tests (test_tree_plot.py) would get widget canvases instead of Agg.
    if backend == "widget" and importlib.util.find_spec("ipympl") is None:
        pytest.skip("needs ipympl (the notebook extra)")
    nb = _run(tmp_path, backend)
    figure_outputs = [o for o in nb.cells[1].outputs
                      if o.output_type == "display_data" and "image/png" in o.data]
    assert len(figure_outputs) == 1
    output = figure_outputs[0]
    # The live canvas was swapped for the static picture (no widget left to render offline).
    assert "application/vnd.jupyter.widget-view+json" not in output.data
    saved = _pixels(base64.b64decode(output.data["image/png"]))
    final = _pixels((tmp_path / "final.png").read_bytes())
    frame0 = _pixels((tmp_path / "frame0.png").read_bytes())
    assert saved.shape == final.shape
    assert np.array_equal(saved, final)
    assert not np.array_equal(saved, frame0)

    text = "".join(o.get("text", "") for o in nb.cells[3].outputs)
    m = re.match(r"(\d+) \| frame (\d+) ", text)
    assert m is not None, text
    assert m.group(1) == m.group(2)
    assert int(m.group(1)) >= 15        # 600 samples / 40 per frame, plus the final poll
    controls = [o for o in nb.cells[1].outputs if o.output_type == "display_data"
                and "image/png" not in o.data]
    assert any("stopped" in o.data.get("text/plain", "") for o in controls)
