"""What the tree writes and paints for a node: its label text and its colour.

Pure functions of a :class:`~timens_lab.discovery.treemodel.Node` (tree_plot.py draws them): offsets as
``+1h`` or ``+1h/+2d`` (monotonic/boottime), the state when it matters, members by pid and
command or by command alone, and a fixed colour scale for offsets.
"""

from __future__ import annotations

from collections.abc import Mapping

from matplotlib.colors import SymLogNorm, to_rgba

from ..discovery.treemodel import Node
from ..offsets import NSEC, format_duration

#: Colour scale for offsets, in seconds: linear within ±1 s, then one colour step per decade up
#: to a year either way, so "+1h" and "+2d" stay distinguishable. Fixed, so a namespace keeps its
#: colour when others appear.
OFFSET_NORM = SymLogNorm(linthresh=1.0, linscale=0.5, vmin=-3.2e7, vmax=3.2e7, base=10)
OFFSET_CMAP = "coolwarm"
_GREY = to_rgba("0.55")
_USER = to_rgba("0.35")
_PROCESS = to_rgba("0.6")

def offset_label(monotonic_ns: int | None, boottime_ns: int | None) -> str:
    """``+1h`` when both offsets agree, ``+1h/+2d`` (monotonic/boottime) when not, ``?`` unread."""
    if monotonic_ns is None or boottime_ns is None:
        return "?"
    if monotonic_ns == boottime_ns:
        return format_duration(monotonic_ns)
    return f"{format_duration(monotonic_ns)}/{format_duration(boottime_ns)}"


def is_pending(node: Node) -> bool:
    """Offsets still writable: no process has entered yet."""
    return node.state == "pending" or node.frozen is False


def member_text(node: Node, roles: Mapping[int, str] | None = None) -> str:
    """A process by command (``sleep``), or by its role when known (``sampler``, ``holder``);
    other nodes keep their label."""
    if node.kind != "process" or node.pid is None:
        return node.label
    if roles and node.pid in roles:
        return roles[node.pid]
    pid, _, comm = node.label.partition(" ")   # trees.py: "PID COMM"
    return comm if pid == str(node.pid) and comm else node.label


def node_text(node: Node, name: str | None = None) -> str:
    """What the tree writes next to a node: ``name`` (what the lab and the divergence legend
    call it, e.g. ``ns1 +1h/+1h``) or else the discovery label, plus the offsets and the state
    when they are not said already."""
    label = name or node.label
    if node.kind != "time":
        return f"{label} [{node.container}]" if node.container else label
    words = label.split()
    off = offset_label(node.monotonic_ns, node.boottime_ns)
    said = {off}   # trees.py writes "monotonic/boottime" even when both are equal
    if node.monotonic_ns is not None and node.boottime_ns is not None:
        said.add(f"{format_duration(node.monotonic_ns)}/{format_duration(node.boottime_ns)}")
    text = label if said & set(words) else f"{label} {off}"
    state: str | None = "pending" if is_pending(node) else (
        node.state if node.state in ("gone", "held") else None)
    if state == "pending" and node.frozen is None and name is None:
        # Discovery cannot tell whether a process entered and left (trees.py, nsinfo.py); a
        # namespace the lab names is its own, and the lab knows.
        state = "pending?"
    if state is not None and state not in words:
        text += f" ({state})"
    return text + (" *" if node.partial else "")


def node_colour(node: Node) -> tuple[float, float, float, float]:
    """Offset colour for time namespaces; fixed greys for users and processes."""
    if node.kind == "user":
        return _USER
    if node.kind == "process":
        return _PROCESS
    if node.monotonic_ns is None or node.boottime_ns is None:
        return _GREY
    # The offset further from zero decides, so "+0/+2d" is not painted as the host.
    off = max((node.monotonic_ns, node.boottime_ns), key=abs) / NSEC
    import matplotlib as mpl

    r, g, b, a = mpl.colormaps[OFFSET_CMAP](OFFSET_NORM(off))
    return (r, g, b, a)
