"""Build the ``timens_lab._timens`` extension (cffi out-of-line API mode).

C stays in C files under ``csrc/``: every ``*.cdef.h`` is a declaration file for cffi (constants
are ``...`` so the system headers decide their values) and every ``*.c`` is compiled into the
one extension. Files are taken in sorted order; ``00-*`` files hold what the others use.

Run directly (``python timens_lab/_ffi_build.py``) for an in-place build during development;
``pip install`` runs it through ``setup.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from cffi import FFI

CSRC = Path(__file__).resolve().parent / "csrc"


def _read(pattern: str) -> str:
    return "\n".join(p.read_text() for p in sorted(CSRC.glob(pattern)))


ffibuilder = FFI()
ffibuilder.cdef(_read("*.cdef.h"))
ffibuilder.set_source(
    "timens_lab._timens",
    _read("*.c"),
    extra_compile_args=["-O2", "-Wall", "-Wno-unused-function", "-std=gnu11"],
)

if __name__ == "__main__":
    # In-place build for development: writes timens_lab/_timens.*.so next to this file.
    out = ffibuilder.compile(tmpdir=str(CSRC.parent.parent / "build" / "cffi"), verbose=False)
    # The name pip's build uses, so an in-place build never shadows (or is shadowed by) it.
    target = CSRC.parent / "_timens.abi3.so"
    for stale in CSRC.parent.glob("_timens.*.so"):
        if stale != target:
            stale.unlink()
    Path(out).replace(target)
    sys.stdout.write(f"built {target}\n")
