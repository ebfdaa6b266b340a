"""tree: every time namespace on the machine as a tree, with offsets and pending namespaces.

Like ``lsns --tree=owner -t time``, plus what lsns cannot show: offsets (monotonic/boottime,
e.g. ``+1h/+2d``), pending namespaces (created, nobody inside yet: found through their
creator's time_for_children link), namespaces held only by an fd or a bind mount, and a lineage
view (which namespace each was created from).

JSON (``--json``), schema version 1. Stable: fields are only ever added; a removal or a change
of meaning bumps ``version``. Integers are inodes, ids, pids and nanoseconds::

    {"version": 1,
     "by": "owner" | "lineage",
     "partial": bool,              # something was hidden from us: counts are lower bounds
     "notes": [str],               # why, in words
     "hidden_pids": int,           # processes whose ns links we may not read
     "self_userns": int | null,    # our user namespace: the top of every visible owner chain
     "user_namespaces": [{"inode", "ns_id", "parent", "owner_uid"}],
     "namespaces": [{              # sorted by inode
        "inode", "ns_id",          # ns_id: NS_GET_ID (Linux >= 6.18) or null
        "state": "active" | "pending" | "held",
        "frozen": bool | null,     # null: pending, cannot tell without writing (a process may
                                   # have entered and left: the kernel keeps no visible trace)
        "initial": bool,
        "offsets": {"monotonic_ns", "boottime_ns", "monotonic", "boottime"} | null,
        "offsets_via": "pid N" | "tid N" | "setns" | null,
        "owner": [inode, ...],     # owning user namespace first, then its ancestors
        "creator": inode | null, "creator_how": str,
        "nprocs": int,
        "members": [{"pid", "ppid", "comm", "uid", "container"}],   # eldest first
        "holders": [pid], "threads": [[pid, tid]], "fds": [[pid, fd]], "mounts": [path],
        "sources": ["process" | "time_for_children" | "thread" | "fd" | "mount"],
        "partial": [str],
        "container": CONTAINER | null}],   # see below
     "tree": [{"key", "kind": "user" | "time" | "process", "label", "inode", "ns_id", "pid",
               "state", "container": str | null, "children": [...]}]}

``container`` (on namespaces, and on each member as ``members[].container``) says which
container owns it, from files alone (runtime state directories, cgroup paths, the supervising
process: timens_lab/discovery/containers.py), or null when nothing says::

    CONTAINER = {"runtime": "crun" | "runc" | "containerd" | "docker" | "podman" | "cri-o"
                            | "lxc" | "systemd-nspawn",
                 "id": str,                # the runtime's id (LXC, nspawn: the name)
                 "name": str | null,       # a separate human name (Podman, LXC, nspawn)
                 "pid": int | null,        # the container's init process, when known
                 "source": str}            # e.g. "/run/crun/web/status", "cgroup /docker/…"

A namespace's container is its eldest member's (else a holder's); the initial namespace never
has one (Docker and Podman containers share it unless they unshare time). In the tree,
``container`` is the short label, e.g. ``"crun web"``.

With ``--watch --json`` the output is JSON Lines: that document first, then one line per event
``{"version": 1, "event": "appeared" | "frozen" | "member_joined" | "member_left" | "vanished",
"time": unix seconds, "inode", "ns_id", "state", "pid", "comm"}``.
"""

from __future__ import annotations

import argparse
import json
import pwd
import sys
import time
from collections.abc import Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from ..discovery import trees
from ..discovery.nsinfo import Discovery, NamespaceInfo
from ..discovery.treemodel import Node, Tree
from ..discovery.trees import offsets_label
from ..offsets import format_duration

if TYPE_CHECKING:
    from ..discovery.watch import Event

JSON_VERSION = 1

EPILOG = """\
examples:
  timens-lab tree                   # user namespaces -> time namespaces
  timens-lab tree --by lineage -p   # creator -> created, with members
  timens-lab tree --json | jq '.namespaces[] | select(.state == "pending")'
  timens-lab tree --watch --interval 0.5

STATE: active (has members; offsets frozen); pending? (no member now, a process holds
it as time_for_children: offsets writable unless a process entered and left, which the
kernel does not show, so tree says "?" rather than guess; JSON "frozen": null); held (no
member, offsets frozen: only an fd or a bind mount keeps it, or --watch saw a member
leave). MONO/BOOT: offsets of the monotonic and boottime clocks; ? when unreadable.
CONTAINER (shown when any is known): runtime and container, from state files, cgroups
and parent processes, never from a daemon. Run as root for the full picture:
other users' processes are hidden from you, and the notes say what is missing.
"""


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    summary = __doc__.split("\n", 1)[0].split(": ", 1)[1]
    p = sub.add_parser("tree", help=summary, description=summary, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", action="store_true",
                   help="print JSON (schema version 1, documented in timens_lab/commands/tree.py)")
    p.add_argument("--by", choices=("owner", "lineage"), default="owner",
                   help="owner: user namespace -> time namespace (default); "
                        "lineage: creator namespace -> created namespace")
    p.add_argument("-p", "--processes", action="store_true",
                   help="list member processes under each namespace")
    p.add_argument("--watch", action="store_true",
                   help="keep rescanning and print changes (appeared, frozen, member_joined, "
                        "member_left, vanished) until interrupted")
    p.add_argument("--interval", type=_interval, default=1.0, metavar="S",
                   help="seconds between rescans with --watch (default 1)")
    p.add_argument("--count", type=_count, default=None, metavar="N",
                   help=argparse.SUPPRESS)  # stop after N rescans (tests, scripts)
    p.set_defaults(func=run)


def _count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"--count {text!r}: give a whole number >= 1")
    return int(text)


def _interval(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.01 <= value <= 3600:
        raise argparse.ArgumentTypeError(
            f"--interval {text!r}: give seconds between 0.01 and 3600, e.g. 0.5")
    return value


def run(args: argparse.Namespace) -> int:
    if args.watch:
        return _watch(args)
    from ..discovery.scan import discover

    d = discover()
    out = sys.stdout
    if args.json:
        json.dump(as_json(d, args.by), out, indent=2)
        out.write("\n")
    else:
        out.write(render_text(d, args.by, processes=args.processes))
        _notes(d)
    return 0


def _watch(args: argparse.Namespace) -> int:
    from ..discovery.watch import Watcher

    watcher = Watcher()
    out = sys.stdout
    try:
        for i, events in enumerate(watcher.follow(args.interval, count=args.count)):
            d = watcher.discovery
            assert d is not None
            if i == 0:
                if args.json:
                    out.write(json.dumps(as_json(d, args.by)) + "\n")
                else:
                    out.write(render_text(d, args.by, processes=args.processes))
                    _notes(d)
                out.flush()
                continue
            by_inode = {ns.inode: ns for ns in d.namespaces}
            for e in events:
                if args.json:
                    line = {"version": JSON_VERSION, "event": e.kind, "time": round(time.time(), 3),
                            "inode": e.inode, "ns_id": e.ns_id, "state": e.state, "pid": e.pid,
                            "comm": e.comm}
                    out.write(json.dumps(line) + "\n")
                else:
                    out.write(_event_text(e, by_inode.get(e.inode)) + "\n")
            out.flush()
    except KeyboardInterrupt:  # the normal way to stop watching
        return 0
    return 0


def _event_text(e: Event, ns: NamespaceInfo | None) -> str:
    what = f"{time.strftime('%H:%M:%S')} {e.kind:<13} time {e.inode}"
    if e.pid is not None:
        return f"{what} pid {e.pid} {e.comm}"
    if ns is not None and e.kind in ("appeared", "frozen"):
        return f"{what} {offsets_label(ns)} {e.state} nprocs {len(ns.members)}"
    return f"{what} {e.state}"


def _notes(d: Discovery) -> None:
    import textwrap

    notes = [*d.notes, *(f"{ns.inode}: {reason}" for ns in d.namespaces for reason in ns.partial)]
    for note in notes:  # at most 80 columns: continuation lines are indented
        sys.stderr.write("\n".join(textwrap.wrap(f"note: {note}", 80, subsequent_indent="  ",
                                                 break_on_hyphens=False)) + "\n")


# --- text


def render_text(d: Discovery, by: str = "owner", *, processes: bool = False,
                hints: Mapping[int, int | None] | None = None) -> str:
    """The table ``tree`` prints: one row per namespace (and process with ``processes``)."""
    tree = _build(d, by, hints, processes)
    by_inode = {ns.inode: ns for ns in d.namespaces}
    procs = d.processes
    rows: list[tuple[str, ...]] = []
    for prefix, node in _prefixed(tree):
        if node.kind == "user":
            u = d.user_namespaces.get(node.inode or 0)
            owner = "" if u is None or u.owner_uid is None else _user(u.owner_uid)
            rows.append((prefix + str(node.inode), "user", "", "", "", owner, "", "", ""))
        elif node.kind == "time":
            ns = by_inode[node.inode or 0]
            pid, user, command = _who(ns, procs)
            rows.append((prefix + str(ns.inode), "time", state_text(ns) + ("*" if ns.partial else ""),
                         str(len(ns.members)), pid, user, offsets_label(ns), node.container or "",
                         command))
        else:
            p = procs[node.pid or 0]
            rows.append((prefix, "proc", "", "", str(p.pid), _user(p.uid), "", node.container or "",
                         p.comm))
    header = ("NS", "TYPE", "STATE", "NPROCS", "PID", "USER", "MONO/BOOT", "CONTAINER", "COMMAND")
    if not any(r[7] for r in rows):  # no container anywhere: keep the lsns-like table narrow
        header = header[:7] + header[8:]
        rows = [r[:7] + r[8:] for r in rows]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    right = {3, 4}
    lines = []
    for r in [header, *rows]:
        cells = [c.rjust(w) if i in right else c.ljust(w)
                 for i, (c, w) in enumerate(zip(r, widths, strict=True))]
        lines.append(" ".join(cells).rstrip())
    return "\n".join(lines) + "\n"


def state_text(ns: NamespaceInfo) -> str:
    """STATE cell: ``pending?`` when nobody can tell whether a member came and went (the kernel
    keeps no visible trace; only a write would tell, and tree never writes)."""
    if ns.state == "pending" and ns.frozen is None:
        return "pending?"
    return ns.state


def _build(d: Discovery, by: str, hints: Mapping[int, int | None] | None,
           members: bool) -> Tree:
    if by == "lineage":
        return trees.lineage_tree(d, hints, members=members)
    return trees.owner_tree(d, members=members)


def _prefixed(tree: Tree) -> list[tuple[str, Node]]:
    """(lsns-style prefix, node) depth-first: ``├─``, ``└─``, ``│ ``."""
    out: list[tuple[str, Node]] = []
    stack: list[tuple[str, str, bool, bool]] = [
        (key, "", i == len(tree.roots) - 1, True) for i, key in enumerate(tree.roots)][::-1]
    while stack:
        key, indent, last, root = stack.pop()
        out.append(("" if root else indent + ("└─" if last else "├─"), tree.nodes[key]))
        kids = tree.children.get(key, [])
        child_indent = "" if root else indent + ("  " if last else "│ ")
        stack.extend((k, child_indent, i == len(kids) - 1, False)
                     for i, k in reversed(list(enumerate(kids))))
    return out


def _who(ns: NamespaceInfo, procs: Mapping[int, Any]) -> tuple[str, str, str]:
    """PID, USER, COMMAND cells: the eldest member, else a holder, else what pins it."""
    if ns.members:
        p = ns.members[0]
        return str(p.pid), _user(p.uid), p.comm
    holder = ns.holders[0] if ns.holders else ns.threads[0][0] if ns.threads else None
    if holder is not None and holder in procs:
        p = procs[holder]
        return str(p.pid), _user(p.uid), f"({p.comm}: time_for_children)"
    if ns.mounts:
        return "", "", f"(bind mount {ns.mounts[0]})"
    if ns.fds:
        pid, fd = ns.fds[0]
        comm = procs[pid].comm if pid in procs else "?"
        return str(pid), "", f"({comm}: fd {fd})"
    return "", "", ""


@lru_cache(maxsize=256)
def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


# --- JSON


def as_json(d: Discovery, by: str = "owner", hints: Mapping[int, int | None] | None = None
            ) -> dict[str, Any]:
    """The ``--json`` document (schema version 1, see the module docstring)."""
    made = trees.creators(d, hints)
    tree = _build(d, by, hints, True)
    return {
        "version": JSON_VERSION,
        "by": by,
        "partial": d.partial,
        "notes": list(d.notes),
        "hidden_pids": d.hidden_pids,
        "self_userns": d.self_userns,
        "user_namespaces": [
            {"inode": u.inode, "ns_id": u.ns_id, "parent": u.parent, "owner_uid": u.owner_uid}
            for u in sorted(d.user_namespaces.values(), key=lambda u: u.inode)],
        "namespaces": [_ns_json(ns, made[ns.inode]) for ns in d.namespaces],
        "tree": [_node_json(tree, key) for key in tree.roots],
    }


def _ns_json(ns: NamespaceInfo, creator: tuple[int | None, str]) -> dict[str, Any]:
    off = None
    if ns.offsets is not None:
        off = {"monotonic_ns": ns.offsets.monotonic_ns, "boottime_ns": ns.offsets.boottime_ns,
               "monotonic": format_duration(ns.offsets.monotonic_ns),
               "boottime": format_duration(ns.offsets.boottime_ns)}
    return {
        "inode": ns.inode, "ns_id": ns.ns_id, "state": ns.state, "frozen": ns.frozen,
        "initial": ns.is_initial, "offsets": off, "offsets_via": ns.offsets_via,
        "owner": list(ns.owner), "creator": creator[0], "creator_how": creator[1],
        "nprocs": len(ns.members),
        "members": [{"pid": p.pid, "ppid": p.ppid, "comm": p.comm, "uid": p.uid,
                     "container": p.container.as_json() if p.container is not None else None}
                    for p in ns.members],
        "holders": list(ns.holders), "threads": [list(t) for t in ns.threads],
        "fds": [list(f) for f in ns.fds], "mounts": list(ns.mounts),
        "sources": list(ns.sources), "partial": list(ns.partial),
        "container": ns.container.as_json() if ns.container is not None else None,
    }


def _node_json(tree: Tree, root: str) -> dict[str, Any]:
    # Iterative, like Tree.walk: a deep tree must not hit the recursion limit.
    def shell(key: str) -> dict[str, Any]:
        n = tree.nodes[key]
        return {"key": n.key, "kind": n.kind, "label": n.label, "inode": n.inode,
                "ns_id": n.ns_id, "pid": n.pid, "state": n.state, "container": n.container,
                "children": []}

    top = shell(root)
    stack = [(root, top)]
    while stack:
        key, out = stack.pop()
        for child in tree.children.get(key, []):
            node = shell(child)
            out["children"].append(node)
            stack.append((child, node))
    return top
