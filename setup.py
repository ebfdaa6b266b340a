"""Build hook only: metadata lives in pyproject.toml.

``cffi_modules`` has no pyproject.toml equivalent, so this file stays. The extension is
required: the spawner and the sampler's hot loop are C. Building it needs a C compiler and the
Python headers; without them, the build stops with one line that says what to install, instead
of a compiler's error deep in pip's output (PyPI users normally get a manylinux wheel and never
build).

The extension uses CPython's limited API (cffi builds it that way: ``_timens.abi3.so``), so the
wheel is tagged abi3 and one wheel serves every CPython >= 3.11.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
import sysconfig

from setuptools import setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import CCompilerError, CompileError, ExecError, LinkError, PlatformError

NEEDS = ("timens-lab builds a C extension from source and needs a C compiler and the Python "
         "headers: on Debian/Ubuntu apt-get install build-essential python3-dev, on Fedora "
         "dnf install gcc python3-devel, on Alpine apk add build-base python3-dev")
BUILDS = {"build", "build_ext", "bdist_wheel", "editable_wheel", "install", "develop"}


def missing() -> list[str]:
    """What the build lacks: the compiler setuptools will call ($CC, else Python's own CC),
    and Python.h."""
    out = []
    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    words = shlex.split(cc)
    if not words or shutil.which(words[0]) is None:
        out.append(f"no C compiler ({cc})")
    include = sysconfig.get_paths()["include"]
    if not os.path.exists(os.path.join(include, "Python.h")):
        out.append(f"no Python headers ({include}/Python.h)")
    return out


def fail(why: str) -> None:
    sys.stderr.write(f"error: {why}; {NEEDS}\n")
    sys.stderr.flush()
    raise SystemExit(1)


class BuildExt(build_ext):
    """Turns a compiler failure into the one line above (with what failed)."""

    def run(self) -> None:
        lacking = missing()
        if lacking:
            fail(", ".join(lacking))
        try:
            super().run()
        except (CCompilerError, CompileError, ExecError, LinkError, PlatformError) as err:
            fail(f"the C extension did not build ({err})")


# Say it before setuptools starts printing its steps, when the command will compile.
if BUILDS & set(sys.argv[1:]) and missing():
    fail(", ".join(missing()))

setup(
    cffi_modules=["timens_lab/_ffi_build.py:ffibuilder"],
    cmdclass={"build_ext": BuildExt},
    options={"bdist_wheel": {"py_limited_api": "cp311"}},
)
