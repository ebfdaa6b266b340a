"""Build the ``timens_lab._timens`` extension (cffi out-of-line API mode).

C stays in C files under ``csrc/``, three kinds per part (``NN-part``):

- ``NN-part.cdef.h``: declarations for cffi only (constants are ``...`` so the system headers
  decide their values);
- ``NN-part.h``: plain C declarations shared by both sides (structs, enums with their values,
  prototypes), declared once: cffi reads them as cdef, and the compiler reads them just above
  ``NN-part.c``;
- ``NN-part.c``: compiled into the one extension.

Parts are taken in sorted order; ``00-*`` files hold what the others use.

Run directly (``python timens_lab/_ffi_build.py``) for an in-place build during development;
``pip install`` runs it through ``setup.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from cffi import FFI

CSRC = Path(__file__).resolve().parent / "csrc"


def _read(*kinds: str) -> str:
    """Every file of these kinds (``.h``, ``.cdef.h``, ``.c``), part by part, a part's files in
    the order of ``kinds``."""
    files = []
    for path in CSRC.iterdir():
        part, dot, kind = path.name.partition(".")
        if dot and "." + kind in kinds:
            files.append(((part, kinds.index("." + kind)), path))
    return "\n".join(path.read_text() for _, path in sorted(files))


ffibuilder = FFI()
ffibuilder.cdef(_read(".h", ".cdef.h"))
ffibuilder.set_source(
    "timens_lab._timens",
    _read(".h", ".c"),
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
