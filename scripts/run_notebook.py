#!/usr/bin/env python3
"""Execute tutorial notebooks headless, the way a user's "Run All" would, and report.

    python scripts/run_notebook.py notebooks/01-first-namespace.ipynb [...]
        [--mode live|replay|record] [--save DIR] [--timeout SECONDS]

One JSON line per notebook on stdout: ``{"notebook", "ok", "seconds", "cell", "error"}``; the
exit status is 0 when every notebook ran to the end. The kernel is this interpreter (an explicit
kernel spec in a private JUPYTER_PATH, so no other Python installation can be picked), with
private IPython, matplotlib and Jupyter runtime directories: it runs the same as root and as
uid 65534 (tests/notebooks runs it both ways).

``--mode replay`` sets TIMENS_LAB_MODE=replay (the notebooks replay their recordings);
``--mode record`` sets TIMENS_LAB_TAPE=record (they record into timens_lab/data/).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

KERNEL_NAME = "timens-lab-python"


def _prepare(tmp: Path, mode: str) -> None:
    spec = tmp / "jupyter" / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "timens-lab (this interpreter)", "language": "python"}))
    for name in ("ipython", "mpl", "runtime"):
        (tmp / name).mkdir()
    os.environ.update({
        "JUPYTER_PATH": str(tmp / "jupyter"), "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),
        "IPYTHONDIR": str(tmp / "ipython"), "MPLCONFIGDIR": str(tmp / "mpl"),
        "JUPYTER_PLATFORM_DIRS": "1", "PYDEVD_DISABLE_FILE_VALIDATION": "1",
    })
    os.environ.pop("TIMENS_LAB_TAPE", None)
    if mode == "replay":
        os.environ["TIMENS_LAB_MODE"] = "replay"
    else:
        os.environ.pop("TIMENS_LAB_MODE", None)
    if mode == "record":
        os.environ["TIMENS_LAB_TAPE"] = "record"


def run(path: Path, timeout: float, save: Path | None) -> dict[str, object]:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name=KERNEL_NAME,
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    out: dict[str, object] = {"notebook": path.name, "ok": True, "cell": None, "error": None}
    try:
        client.execute()
    except CellExecutionError as err:
        out["ok"] = False
        out["cell"] = _failed_cell(nb)
        out["error"] = f"{err.ename}: {err.evalue}"
    except Exception as err:
        out["ok"] = False
        out["cell"] = _failed_cell(nb)
        out["error"] = f"{type(err).__name__}: {err}"
    out["seconds"] = round(time.perf_counter() - start, 2)
    if save is not None:
        save.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, save / path.name)
    return out


def _failed_cell(nb: object) -> str | None:
    for cell in nb.cells:  # type: ignore[attr-defined]
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                return str(cell.get("id"))
    return None


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--mode", choices=("live", "replay", "record"), default="live")
    parser.add_argument("--timeout", type=float, default=120.0, help="per cell, in seconds")
    parser.add_argument("--save", type=Path, help="write the executed notebooks here")
    args = parser.parse_args(argv)
    ok = True
    with tempfile.TemporaryDirectory(prefix="timens-nb-") as tmp:
        _prepare(Path(tmp), args.mode)
        for path in args.notebooks:
            result = run(path.resolve(), args.timeout, args.save)
            ok = ok and bool(result["ok"])
            sys.stdout.write(json.dumps(result) + "\n")
            sys.stdout.flush()
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
