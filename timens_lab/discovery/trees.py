"""Namespace trees from a :class:`~timens_lab.discovery.scan.Discovery`: plain data, no drawing.

Two trees, both :class:`~timens_lab.discovery.treemodel.Tree` of user, time and process nodes:

* :func:`owner_tree` — user namespaces (nested by parent) → the time namespaces they own →
  member processes. The only hierarchy the kernel itself keeps (NS_GET_USERNS; ``lsns
  --tree=owner``).
* :func:`lineage_tree` — time namespace → the time namespaces created from it → members. The
  kernel keeps no parent link between time namespaces (NS_GET_PARENT is EINVAL for them,
  kernel-timens.md finding 10), so the creator comes from the engine's spawn records where it
  made the namespace (``hints``), else from the process tree: the namespace of the nearest
  ancestor of the eldest member that lives elsewhere, or, for a pending namespace, the namespace
  of its eldest holder. A new namespace starts with a copy of its creator's offsets (finding 4),
  so each node's ``detail`` says which offsets match the creator's (inherited) and which were set.

Children are ordered by inode (namespaces) and by age (processes) so that views do not jump
between frames.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..offsets import format_duration
from .nsinfo import Discovery, NamespaceInfo, Process
from .treemodel import Node, Tree


def owner_tree(d: Discovery, *, members: bool = True) -> Tree:
    """User namespaces → owned time namespaces → member processes (if ``members``)."""
    tree = Tree(by="owner")
    nodes: list[tuple[int, Node]] = []
    for u in d.user_namespaces.values():
        parent = f"user:{u.parent}" if u.parent in d.user_namespaces else None
        uid = "" if u.owner_uid is None else f" uid {u.owner_uid}"
        nodes.append((u.inode, Node(key=f"user:{u.inode}", kind="user", label=f"user {u.inode}",
                                    parent=parent, inode=u.inode, ns_id=u.ns_id,
                                    detail=f"user namespace{uid}".strip())))
    for ns in d.namespaces:
        parent = f"user:{ns.owner[0]}" if ns.owner else None
        detail = "owner unknown" if not ns.owner else f"owned by user namespace {ns.owner[0]}"
        nodes.append((ns.inode, _time_node(ns, parent, detail)))
    if members:  # first, so each namespace lists its processes before nested namespaces
        _add_members(tree, d)
    for _, node in sorted(nodes, key=lambda item: item[0]):
        tree.add(node)
    return tree


def lineage_tree(d: Discovery, hints: Mapping[int, int | None] | None = None, *,
                 members: bool = True) -> Tree:
    """Creator namespace → created namespaces → member processes (if ``members``).

    Args:
        d: a discovery snapshot.
        hints: ``{child ns inode: creator ns inode}`` from our own spawn records
            (``Lab.lineage()``; None values are ignored). They win over the process tree when
            both namespaces are in ``d``.
        members: add process nodes under each namespace.
    """
    made = creators(d, hints)
    by_inode = {ns.inode: ns for ns in d.namespaces}
    tree = Tree(by="lineage")
    if members:  # first, so each namespace lists its processes before nested namespaces
        _add_members(tree, d)
    for ns in d.namespaces:
        parent, how = made[ns.inode]
        if parent is None:
            tree.add(_time_node(ns, None, how))
            continue
        tree.add(_time_node(ns, f"time:{parent}", f"{_inheritance(ns, by_inode[parent])}; "
                                                  f"created from {parent} ({how})"))
    return tree


def creators(d: Discovery, hints: Mapping[int, int | None] | None = None
             ) -> dict[int, tuple[int | None, str]]:
    """``{inode: (creator inode or None, how we know)}`` for every namespace in ``d``.

    Cycles (possible with setns and inode reuse) are cut: the namespace whose link would close
    one becomes a root, and says so.
    """
    visible = {ns.inode for ns in d.namespaces}
    out: dict[int, tuple[int | None, str]] = {}
    for ns in d.namespaces:
        hint = (hints or {}).get(ns.inode)
        if ns.is_initial:
            found: tuple[int | None, str] = (None, "the initial time namespace")
        elif hint is not None and hint in visible and hint != ns.inode:
            found = (hint, "spawn record")
        else:
            found = _from_processes(ns, d.processes)
        if found[0] is not None and found[0] not in visible:
            found = (None, f"creator {found[0]} not visible")
        out[ns.inode] = found
    for inode in sorted(out):
        parent = out[inode][0]
        seen = {inode}
        while parent is not None and parent not in seen:
            seen.add(parent)
            parent = out[parent][0]
        if parent is not None:  # walked back into the start: a cycle
            out[inode] = (None, f"creator link to {out[inode][0]} would close a cycle")
    return out


def offsets_label(ns: NamespaceInfo) -> str:
    """``+1h/+2d`` (monotonic/boottime), ``0/0`` for none, ``?`` when unreadable."""
    if ns.offsets is None:
        return "?"
    return f"{format_duration(ns.offsets.monotonic_ns)}/{format_duration(ns.offsets.boottime_ns)}"


# --- helpers


def _from_processes(ns: NamespaceInfo, procs: Mapping[int, Process]) -> tuple[int | None, str]:
    if ns.members:
        eldest = ns.members[0]
        pid, hops = eldest.ppid, 0
        while pid in procs and hops < 4096:  # hops: a guard against a corrupt (fake) ppid loop
            p = procs[pid]
            if p.time != ns.inode:
                return p.time, f"parent process {p.pid} {p.comm} of eldest member {eldest.pid}"
            pid, hops = p.ppid, hops + 1
        return None, f"creator unknown: eldest member {eldest.pid}'s ancestors are hidden or gone"
    holders = [procs[pid] for pid in ns.holders if pid in procs]
    holders += [procs[pid] for pid, _ in ns.threads if pid in procs]
    if holders:
        eldest = min(holders, key=lambda p: (p.starttime, p.pid))
        return eldest.time, f"holder process {eldest.pid} {eldest.comm}"
    return None, "creator unknown: held only by an fd or a bind mount"


def _inheritance(ns: NamespaceInfo, parent: NamespaceInfo) -> str:
    if ns.offsets is None or parent.offsets is None:
        return "offsets unknown"
    parts = []
    for clock, mine, theirs in (
            ("monotonic", ns.offsets.monotonic_ns, parent.offsets.monotonic_ns),
            ("boottime", ns.offsets.boottime_ns, parent.offsets.boottime_ns)):
        parts.append(f"{clock} {format_duration(mine)} "
                     f"{'inherited' if mine == theirs else 'set'}")
    return ", ".join(parts)


def _time_node(ns: NamespaceInfo, parent: str | None, detail: str) -> Node:
    label = f"time {ns.inode} {offsets_label(ns)}"
    if ns.state != "active":
        label += f" {ns.state}"
    if ns.partial:
        detail = f"{detail}; partial: {'; '.join(ns.partial)}"
    container = ns.container.label if ns.container is not None else None
    if container:
        label += f" [{container}]"
        detail = f"{detail}; container {container} (from {ns.container.source})"
    return Node(key=ns.key, kind="time", label=label, parent=parent, state=ns.state,
                frozen=ns.frozen,
                monotonic_ns=None if ns.offsets is None else ns.offsets.monotonic_ns,
                boottime_ns=None if ns.offsets is None else ns.offsets.boottime_ns,
                inode=ns.inode, ns_id=ns.ns_id, partial=bool(ns.partial), detail=detail,
                container=container)


def _add_members(tree: Tree, d: Discovery) -> None:
    for ns in d.namespaces:
        for p in ns.members:
            c = p.container.label if p.container is not None else None
            tree.add(Node(key=f"pid:{p.pid}", kind="process", label=f"{p.pid} {p.comm}",
                          parent=ns.key, pid=p.pid, container=c,
                          detail=f"uid {p.uid}" + (f"; container {c}" if c else "")))
