"""The engine from inside a real Jupyter kernel (multi-threaded: setns there is EUSERS)."""

from __future__ import annotations

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.usefixtures("need_timens")

CELLS = [
    "import threading, time, os\n"
    "from timens_lab import kernel\n"
    "from timens_lab.engine.lab import Lab, PIPE\n"
    "assert threading.active_count() > 1, 'an ipykernel has threads'",
    # The direct call fails the way the kernel docs say (EUSERS, or EPERM when rootless).
    "fd = os.open('/proc/self/ns/time', os.O_RDONLY)\n"
    "try:\n"
    "    kernel.setns(fd, kernel.CLONE_NEWTIME)\n"
    "    raise AssertionError('setns from a threaded kernel should fail')\n"
    "except OSError as err:\n"
    "    assert err.errno in (87, 1), err\n"
    "finally:\n"
    "    os.close(fd)",
    "lab = Lab()\n"
    "ns = lab.namespace(monotonic='1h', boottime='2d')\n"
    "target = ns.spawn(['sleep', '60'])\n"
    "joined = lab.enter(target.pid)\n"
    "out, _ = joined.spawn(['cat', '/proc/uptime'], stdout=PIPE).communicate(timeout=20)\n"
    "inside = float(out.split()[0]); host = float(open('/proc/uptime').read().split()[0])\n"
    "assert abs(inside - host - 2 * 86400) < 1, (inside, host)\n"
    "assert joined.inode == ns.inode\n"
    "lab.close()\n"
    "print('entered from', threading.active_count(), 'threads')",
]


def test_enter_from_a_real_ipykernel() -> None:
    """Create, spawn and enter from a Jupyter kernel; the kernel's own setns fails."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    out = nb.cells[-1].outputs[0]["text"]
    assert out.startswith("entered from")
