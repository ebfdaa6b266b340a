"""Which namespaces belong to a session, and the tree feed a recorder polls.

A recording shipped with the package should not list every process of the machine it was made
on: by default only *this session's* namespaces go into trees and events (the channels'
namespaces, the Lab's, the host's, and their owner/creator chains; processes of the initial
namespace are left out). ``scope="all"`` keeps everything the watcher sees.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Literal

from ..discovery.treemodel import Tree
from ..discovery.treemodel import restrict as restrict_tree
from ..discovery.trees import lineage_tree, owner_tree
from ..source import Channel

#: PROC_TIME_INIT_INO (include/linux/proc_ns.h): its members are every process on the machine.
INIT_TIME_INODE = 0xEFFFFFFA
#: A namespace's identity: (inode, NS_GET_ID or None where the kernel or our view lacks it).
Ident = tuple[int, int | None]
Scope = Literal["session", "all"]


def session_scope(lab: Any, channels: Iterable[Channel] = ()) -> set[Ident]:
    """(inode, ns_id) of a session's time namespaces: the channels', the Lab's, its host's."""
    out = {(ch.ns_inode, ch.ns_id) for ch in channels if ch.ns_inode is not None}
    if lab is not None:
        out |= {(ns.inode, ns.ns_id) for ns in lab.namespaces}
        if getattr(lab, "host_time_ns", None) is not None:
            out.add((lab.host_time_ns, None))
    return out


def ours(inode: int | None, ns_id: int | None, scope: set[Ident]) -> bool:
    """Is this namespace one of ``scope``? By NS_GET_ID where both sides know it: inodes are
    recycled as soon as a namespace dies (tests/kernel/test_discovery.py shows it), ids are not."""
    if inode is None:
        return False
    if (inode, ns_id) in scope:
        return True
    return any(i == inode and (n is None or ns_id is None) for i, n in scope)


def session_hints(lab: Any) -> dict[int, int]:
    """``{namespace inode: creator inode}`` from the Lab's own records (lineage_tree hints)."""
    if lab is None:
        return {}
    host = getattr(lab, "host_time_ns", None)
    out = {}
    for ns in lab.namespaces:
        parent = ns.parent.inode if ns.parent is not None else host
        if parent is not None:
            out[ns.inode] = parent
    return out


def restrict(tree: Tree, scope: set[Ident]) -> Tree:
    """The part of ``tree`` about ``scope`` (see :func:`ours`), as treemodel.restrict."""
    return restrict_tree(tree, lambda node: ours(node.inode, node.ns_id, scope))


class SessionTrees:
    """A :class:`~timens_lab.recording.tap.TreeFeed`: a watcher's events and trees, kept to the
    session's namespaces.

    Args:
        watcher: a :class:`~timens_lab.discovery.watch.Watcher` (anything with ``poll()`` and
            ``discovery``).
        lab: the Lab, for lineage hints and the scope (None: the channels only).
        channels: the recorded source's channels now (their namespaces join the scope).
        scope: ``"session"`` or ``"all"``.

    The scope only grows: a namespace once in it stays, so its last events (members leaving,
    vanishing) are recorded after its sampler stopped.
    """

    def __init__(self, watcher: Any, *, lab: Any = None,
                 channels: Callable[[], Iterable[Channel]] = tuple,
                 scope: Scope = "session") -> None:
        if scope not in ("session", "all"):
            raise ValueError(f"scope must be 'session' or 'all', not {scope!r}")
        self.watcher, self.lab, self.channels, self.scope = watcher, lab, channels, scope
        self.idents: set[Ident] = set()

    def poll(self) -> tuple[list[Any], dict[str, Tree]]:
        events = list(self.watcher.poll())
        d = self.watcher.discovery
        self.idents |= session_scope(self.lab, self.channels())
        trees = {"owner": owner_tree(d), "lineage": lineage_tree(d, session_hints(self.lab))}
        if self.scope == "session":
            trees = {by: restrict(t, self.idents) for by, t in trees.items()}
            events = [e for e in events if ours(e.inode, e.ns_id, self.idents)
                      and not (e.inode == INIT_TIME_INODE and e.pid is not None)]
        return events, trees
