"""Plain data for namespace trees: what discovery builds and what the views draw.

No drawing and no /proc here. A :class:`Tree` is a forest of :class:`Node`s keyed by stable
strings; ``children`` keeps a deterministic order so layouts do not jump between frames.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Literal

NodeKind = Literal["user", "time", "process"]
#: pending: created, no member yet (offsets still writable); active: has members;
#: held: no member, kept alive only by an fd, a bind mount or a time_for_children link;
#: frozen: a member entered once (offsets fixed) — active or held after that.
NodeState = Literal["pending", "active", "held", "gone"]


@dataclasses.dataclass(frozen=True)
class Node:
    key: str                               # "user:4026531837", "time:4026532178", "pid:1234"
    kind: NodeKind
    label: str                             # short text for a tree row or a node label
    parent: str | None = None              # key of the parent in this tree, None for a root
    state: NodeState | None = None         # time namespaces only
    frozen: bool | None = None             # time namespaces only: offsets can no longer change
    monotonic_ns: int | None = None        # time namespaces: offsets (None: could not be read)
    boottime_ns: int | None = None
    inode: int | None = None               # namespaces: inode; processes: None
    ns_id: int | None = None               # NS_GET_ID where the kernel has it
    pid: int | None = None                 # processes
    partial: bool = False                  # some facts were hidden from us (unprivileged view)
    container: str | None = None           # "crun web": the container it belongs to (containers.py)
    detail: str = ""                       # free text for tooltips and --verbose


@dataclasses.dataclass
class Tree:
    """A forest: ``roots`` and ``children`` index ``nodes`` by key."""

    by: Literal["owner", "lineage"]
    nodes: dict[str, Node] = dataclasses.field(default_factory=dict)
    children: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    roots: list[str] = dataclasses.field(default_factory=list)

    def add(self, node: Node) -> None:
        self.nodes[node.key] = node
        self.children.setdefault(node.key, [])
        if node.parent is None:
            self.roots.append(node.key)
        else:
            self.children.setdefault(node.parent, []).append(node.key)

    def walk(self) -> Iterator[tuple[int, Node]]:
        """Depth-first (depth, node), in children order; iterative so deep trees are fine."""
        stack = [(0, key) for key in reversed(self.roots)]
        while stack:
            depth, key = stack.pop()
            yield depth, self.nodes[key]
            stack.extend((depth + 1, k) for k in reversed(self.children.get(key, [])))


#: The initial time namespace (PROC_TIME_INIT_INO): every process on the machine is a member.
INIT_TIME_INODE = 0xEFFFFFFA


def restrict(tree: Tree, keep_time: Callable[[Node], bool]) -> Tree:
    """The part of ``tree`` about the time namespaces ``keep_time`` selects: them, their
    ancestors, and their member processes (except the initial namespace's: that is every
    process)."""
    keep: set[str] = set()
    for node in tree.nodes.values():
        if node.kind == "time" and keep_time(node):
            key: str | None = node.key
            while key is not None and key not in keep:
                keep.add(key)
                key = tree.nodes[key].parent if key in tree.nodes else None
    out = Tree(by=tree.by)
    for _, node in tree.walk():
        parent = tree.nodes.get(node.parent) if node.parent is not None else None
        if node.key in keep or (node.kind == "process" and parent is not None
                                and parent.key in keep and parent.inode != INIT_TIME_INODE):
            out.add(node)
    return out
