"""The capability probe: ``probe(refresh=True)`` and ``timens-lab probe --json``, end to end.

Target (issue 2): well under 5 s, aim < 0.3 s. The anchor, measured in the same run, is the
floor of any probe that keeps the caller clean: starting this interpreter (``python -c pass``)
in a subprocess. For scale, util-linux ``unshare --time --fork true`` and
``unshare --user --time --fork true`` (one attempt each, no verification) are timed too.

Run: ``python -m bench probe`` or ``python -m bench.bench_probe``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from timens_lab.probing.check import probe

from ._util import median_ms, table, timed

N = 15
BUDGET_MS = 300.0


def _run(argv: list[str]) -> None:
    subprocess.run(argv, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main() -> None:
    env_mode = os.environ.get("TIMENS_LAB_MODE", "")
    anchor = median_ms(timed(lambda: _run([sys.executable, "-c", "pass"]), N))
    rows = [["python -c pass (anchor: interpreter start)", f"{anchor:.1f}", "1.00x"]]
    api = median_ms(timed(lambda: probe(refresh=True), N, warmup=2))
    rows.append([f"probe(refresh=True) -> {probe().mode}", f"{api:.1f}", f"{api / anchor:.2f}x"])
    cli = median_ms(timed(lambda: _run([sys.executable, "-m", "timens_lab", "probe", "--json"]),
                          N, warmup=2))
    rows.append(["timens-lab probe --json (whole CLI)", f"{cli:.1f}", f"{cli / anchor:.2f}x"])
    if shutil.which("unshare"):
        for flags in (["--time"], ["--user", "--time"]):
            argv = ["unshare", *flags, "--fork", "true"]
            ms = median_ms(timed(lambda argv=argv: _run(argv), N))
            rows.append([" ".join(argv), f"{ms:.1f}", f"{ms / anchor:.2f}x"])
    print(f"median of {N} runs, uid {os.geteuid()}"
          + (f", TIMENS_LAB_MODE={env_mode}" if env_mode else ""))
    table(rows, ["what", "ms", "vs anchor"])
    verdict = "within" if api <= BUDGET_MS else "OVER"
    print(f"probe(): {api:.1f} ms, {verdict} the {BUDGET_MS:.0f} ms target")


if __name__ == "__main__":
    main()
