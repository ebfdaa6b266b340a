"""The compiled binding and the kernel layer, where no time namespace is needed.

Everything here runs on any machine the extension builds on: constants from the headers, the C
stage enums as Python sees them, kcmp, and the rules that keep one importer of ``lib`` and one
declaration of each C type.
"""

from __future__ import annotations

import ast
import errno
import os
import re
import time
from pathlib import Path

import pytest
from timens_lab._timens import ffi, lib

from timens_lab import kernel
from timens_lab.engine import _helper_ops, _helper_support
from timens_lab.offsets import Offsets, write_error

PACKAGE = Path(kernel.__file__).parent
CSRC = PACKAGE / "csrc"


def _imports(path: Path) -> set[str]:
    """Absolute names of the timens_lab modules ``path`` imports (relative imports resolved)."""
    module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    package = module.rsplit(".", 1)[0] if path.name != "__init__.py" else module
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            name = f"{base}.{node.module}" if base and node.module else base or node.module or ""
            out.add(name)
            out.update(f"{name}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


def test_constants_come_from_the_headers() -> None:
    """The C headers decide: CLONE_NEWTIME is 0x80, NS_GET_NSTYPE is 0xb703 (uapi)."""
    assert (kernel.CLONE_NEWTIME, kernel.NS_GET_NSTYPE, kernel.NS_GET_USERNS) == (0x80, 0xB703, 0xB701)
    assert kernel.CLOCKS["boottime"] == time.CLOCK_BOOTTIME
    assert kernel.CLOCKS["monotonic_raw"] == time.CLOCK_MONOTONIC_RAW
    assert lib.NS_GET_ID == 0x8008B70D


def test_clock_reads_agree_with_the_stdlib() -> None:
    for name in ("realtime", "monotonic", "boottime", "monotonic_raw", "tai"):
        clk = kernel.CLOCKS[name]
        a = time.clock_gettime_ns(clk)
        b = kernel.clock_gettime_ns(clk)
        c = time.clock_gettime_ns(clk)
        assert a <= b <= c, name
    assert kernel.clock_getres_ns(kernel.CLOCKS["monotonic"]) == 1


def test_unknown_clock_is_einval() -> None:
    with pytest.raises(OSError) as info:
        kernel.clock_gettime_ns(10)  # reserved id (§4)
    assert info.value.errno == errno.EINVAL


def test_only_kernel_imports_the_compiled_lib() -> None:
    """README and issue 15: kernel.py is the one module of the package that imports _timens."""
    importers = {str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
                 if any(n.startswith("timens_lab._timens") for n in _imports(p))}
    assert {"kernel.py"} == importers


def test_commands_never_import_the_cli() -> None:
    """Commands raise; cli.main (their dispatcher) catches: no import runs back up."""
    offenders = [p.name for p in (PACKAGE / "commands").glob("*.py")
                 if any(n == "timens_lab.cli" or n.startswith("timens_lab.cli.")
                        for n in _imports(p))]
    assert offenders == []


def test_each_c_type_is_declared_once() -> None:
    """struct tns_spawn and the stage enums live in one file each (csrc/*.h), which both cffi
    and the compiler read (_ffi_build.py)."""
    for decl in (r"struct tns_spawn\s*\{", r"enum tns_spawn_stage\s*\{",
                 r"enum tns_sampler_stage\s*\{", r"TNS_STAGE_REPORT\s*=", r"TNS_SST_MAP\s*="):
        where = [p.name for p in sorted(CSRC.iterdir()) if re.search(decl, p.read_text())]
        assert len(where) == 1, (decl, where)


def test_stage_tables_come_from_the_c_enums() -> None:
    """Every enum value has its text, and the texts Python acts on are among them."""
    spawn = ffi.typeof("enum tns_spawn_stage").elements
    assert set(spawn) == set(kernel.SPAWN_STAGES)
    assert kernel.SPAWN_STAGES[lib.TNS_STAGE_SETNS_TIME] == "setns(CLONE_NEWTIME)"
    assert set(ffi.typeof("enum tns_sampler_stage").elements) == set(kernel.SAMPLER_STAGES)
    assert kernel.SAMPLER_STAGES[lib.TNS_SST_REALTIME] == "read CLOCK_REALTIME"
    named = _helper_ops.BEFORE_ENTRY - {"fork"}
    assert named <= set(kernel.SPAWN_STAGES.values())


@pytest.mark.parametrize("err", [errno.EACCES, errno.ERANGE, errno.EPERM, errno.ESRCH, errno.EINVAL])
def test_one_meaning_per_timens_offsets_errno(err: int) -> None:
    """A spawned child's failed write of its offsets means what our own write's does."""
    stage = kernel.SPAWN_STAGES[lib.TNS_STAGE_OFFSETS]
    child = _helper_support.spawn_error(err, stage, "run a command", ["true"])
    ours = write_error(err)
    assert (type(ours), str(ours), ours.errno) == (type(child), str(child), child.errno)
    if err == errno.ERANGE:  # the kernel's limit, from one constant
        assert "4611686018 s" in str(write_error(err, offsets=Offsets(1, 2)))


def test_kcmp_tells_shared_from_separate_memory() -> None:
    """kcmp(KCMP_VM): a process shares its memory with itself, not with a forked child."""
    me = os.getpid()
    assert kernel.kcmp_vm(me, me) is True
    pid = os.fork()
    if pid == 0:
        time.sleep(30)
        os._exit(0)
    try:
        assert kernel.kcmp_vm(me, pid) is False
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
