"""Small shared pieces for the benchmarks: medians, a C anchor compiler, a table printer."""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path


def timed(fn: Callable[[], object], n: int, warmup: int = 5) -> list[float]:
    """Per-call wall times in seconds (after ``warmup`` untimed calls)."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def median_ms(samples: Sequence[float]) -> float:
    return statistics.median(samples) * 1e3


def compile_c(source: str, name: str) -> Path:
    """Compile a standalone C anchor program into a temp dir (gcc is a prerequisite anyway)."""
    tmp = Path(tempfile.mkdtemp(prefix="timens-bench-"))
    src, exe = tmp / f"{name}.c", tmp / name
    src.write_text(source)
    subprocess.run([os.environ.get("CC", "cc"), "-O2", "-o", str(exe), str(src)], check=True)
    return exe


def table(rows: Sequence[Sequence[object]], header: Sequence[str]) -> None:
    cells = [list(map(str, header)), *[list(map(str, r)) for r in rows]]
    widths = [max(len(c[i]) for c in cells) for i in range(len(header))]
    for i, row in enumerate(cells):
        print("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
        if i == 0:
            print("  " + "  ".join("-" * w for w in widths))


def browser_or_skip() -> str | None:
    """The chromium the browser tests drive (tests/e2e/conftest.py: $TIMENS_LAB_CHROMIUM, else
    /usr/bin/chromium, else PATH's) when Playwright is there too; else print why and None."""
    from tests.e2e.conftest import INSTALL, _missing, chromium_path

    problem = _missing()
    if problem:
        print(f"skipped: {problem} ({INSTALL})")
        return None
    return chromium_path()
