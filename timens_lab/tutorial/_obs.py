"""The tutorial's observations of namespaces as a whole: lsns and discovery trees, inode reuse,
a workload "migrated" between namespaces, and a tee over the live views' source.

Everything that looks at the machine is taped (_tape.py); the tee and the measurement
over it are pure, so in replay mode they work on the replayed recording.
"""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..discovery.treemodel import Node, Tree
from ..discovery.treemodel import restrict as restrict_tree
from ..offsets import Offsets
from ..source import HOST, Channel, ChannelStats
from ._exp import NSEC, host_clock_ns
from ._proc import TOOL_ENV
from ._tape import result, taped

result(Tree)
result(Node)


@taped
def inode_reuse(lab: Any, tries: int = 6) -> list[tuple[int, int | None]]:
    """Behaviour 34: create a namespace, let it die, create the next: (inode, NS_GET_ID) each time.

    The user namespace of a rootless one is freed from a workqueue (free_user_ns), so wait a
    moment between close and create for its inode number to come back too.
    """
    seen = []
    for _ in range(tries):
        ns = lab.namespace()
        seen.append((ns.inode, ns.ns_id))
        ns.close()
        time.sleep(0.05)
    return seen


# --- listings and trees: lsns vs discovery ------------------------------------------------------

@taped
def lsns() -> list[dict[str, Any]]:
    """``lsns -J -t time`` as util-linux sees it (namespaces with processes only)."""
    done = subprocess.run(["lsns", "-J", "-t", "time", "-o", "NS,NPROCS,PID,ONS,COMMAND"],
                          capture_output=True, text=True, timeout=20, check=False,
                          env=TOOL_ENV)
    if done.returncode != 0 or not done.stdout.strip():
        return []
    return [{k: v for k, v in row.items()} for row in json.loads(done.stdout)["namespaces"]]


@taped
def lsns_owner_tree(inodes: Sequence[int]) -> str:
    """``lsns --tree=owner -t time``, cut to the lines about ``inodes`` and their owners."""
    done = subprocess.run(["lsns", "--tree=owner", "-t", "time", "-o", "NS,TYPE,NPROCS,PID,COMMAND"],
                          capture_output=True, text=True, timeout=20, check=False, env=TOOL_ENV)
    keep = {str(i) for i in inodes}
    rows = []
    for line in done.stdout.splitlines()[1:]:
        m = re.match(r"^(\D*)(\d+)\s+(\w+)", line)
        if m:
            rows.append((len(m.group(1)), m.group(2), m.group(3), line))
    wanted = set()
    for i, (depth, ns, kind, _) in enumerate(rows):
        if kind == "time" and ns in keep:
            wanted.add(i)
            need = depth
            for j in range(i - 1, -1, -1):  # its owners: the nearest shallower rows above
                if rows[j][0] < need:
                    wanted.add(j)
                    need = rows[j][0]
    header = done.stdout.splitlines()[:1]
    return "\n".join(header + [rows[i][3] for i in sorted(wanted)])


@result
@dataclasses.dataclass(frozen=True)
class Survey:
    """What discovery saw of this Lab's namespaces, and both trees cut to them."""

    facts: dict[int, dict[str, Any]]     # inode -> state, frozen, offsets, owner, sources ...
    owner: Tree
    lineage: Tree
    partial: bool
    names: dict[str, str] = dataclasses.field(default_factory=dict)  # node key -> the Lab's name


@taped
def survey(lab: Any) -> Survey:
    """Discover every time namespace, keep this Lab's (and its host's), build both trees."""
    from ..discovery.scan import discover
    from ..discovery.trees import lineage_tree, owner_tree

    d = discover()
    scope = {ns.inode for ns in lab.namespaces} | {lab.host_time_ns}
    hints = {ns.inode: ns.parent.inode if ns.parent is not None else lab.host_time_ns
             for ns in lab.namespaces}
    facts = {}
    for ns in d.namespaces:
        if ns.inode in scope:
            facts[ns.inode] = {
                "state": ns.state, "frozen": ns.frozen,
                "offsets": None if ns.offsets is None else (ns.offsets.monotonic_ns,
                                                           ns.offsets.boottime_ns),
                "owner": list(ns.owner), "sources": list(ns.sources),
                "members": [p.pid for p in ns.members], "holders": list(ns.holders),
                "ns_id": ns.ns_id}
    # The trees name the Lab's namespaces as the notebook does ("A", "machine B"), not by inode.
    names = {f"time:{ns.inode}": ns.name for ns in lab.namespaces if getattr(ns, "name", None)}
    names[f"time:{lab.host_time_ns}"] = "host"
    return Survey(facts, restrict(owner_tree(d), scope),
                  restrict(lineage_tree(d, hints), scope), d.partial, names)


def restrict(tree: Tree, inodes: set[int]) -> Tree:
    """The part of ``tree`` about the time namespaces ``inodes`` (treemodel.restrict)."""
    return restrict_tree(tree, lambda node: node.inode in inodes)


# --- checkpoint/restore: a workload "migrated" between namespaces -------------------------------

@result
@dataclasses.dataclass(frozen=True)
class Segment:
    """MONOTONIC and BOOTTIME as a workload saw them, against REALTIME (decimated)."""

    label: str
    inode: int
    rt_ns: np.ndarray
    monotonic_ns: np.ndarray
    boottime_ns: np.ndarray

    @property
    def first(self) -> tuple[int, int, int]:
        return int(self.rt_ns[0]), int(self.monotonic_ns[0]), int(self.boottime_ns[0])

    @property
    def last(self) -> tuple[int, int, int]:
        return int(self.rt_ns[-1]), int(self.monotonic_ns[-1]), int(self.boottime_ns[-1])


@taped
def workload(where: Any, seconds: float = 1.0, rate: float = 200.0, points: int = 300,
             label: str | None = None) -> Segment:
    """Run a sampler (our stand-in workload) in ``where`` (a namespace, or a Lab for the host);
    ``label`` names the run in plots (default: the namespace's name, or "host (bare)")."""
    from ..clocks.sampler import Sampler

    host = type(where).__name__ == "Lab"
    clocks = ("monotonic", "boottime")
    sampler = (Sampler.for_host(where, rate=rate, clocks=clocks) if host
               else Sampler.for_namespace(where, rate=rate, clocks=clocks))
    parts = []
    with sampler:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            time.sleep(0.05)
            parts.append(sampler.read())
        sampler.stop()
        parts.append(sampler.read())
    recs = np.concatenate(parts)
    if len(recs) == 0:
        raise RuntimeError("the workload wrote no samples")
    pick = np.unique(np.linspace(0, len(recs) - 1, min(points, len(recs))).astype(int))
    recs = recs[pick]
    rt = recs["rt0"] + (recs["rt1"] - recs["rt0"]) // 2
    default = "host (bare)" if host else str(getattr(where, "name", where.label))
    return Segment(label or default,
                   where.host_time_ns if host else where.inode, rt.astype(np.int64),
                   recs["monotonic"].astype(np.int64), recs["boottime"].astype(np.int64))


@taped
def restore_offsets(lab: Any, checkpoint: Segment) -> Offsets:
    """CRIU's arithmetic: offsets that make the clocks continue from the checkpoint's last
    values, given the host clocks now (offset = checkpoint value − host now)."""
    _, mono, boot = checkpoint.last
    return Offsets(mono - host_clock_ns(lab, "monotonic"), boot - host_clock_ns(lab, "boottime"))


# --- live views: the source, and a tee that keeps what the views read --------------------------

class Tee:
    """A Source that passes everything through and keeps a copy, for claims after the plot."""

    def __init__(self, source: Any) -> None:
        self.source = source
        self.kept: dict[str, list[np.ndarray]] = {}
        self.closed = False

    @property
    def mode(self) -> str:
        return str(self.source.mode)

    @property
    def banner(self) -> str | None:
        return self.source.banner  # type: ignore[no-any-return]

    def channels(self) -> list[Channel]:
        return list(self.source.channels())

    def read(self) -> Mapping[str, np.ndarray]:
        new = self.source.read()
        for cid, recs in new.items():
            if len(recs):
                self.kept.setdefault(cid, []).append(recs.copy())
        return new

    def records(self, cid: str) -> np.ndarray:
        from ..source import RECORD_DTYPE

        parts = self.kept.get(cid, [])
        return np.concatenate(parts) if parts else np.empty(0, RECORD_DTYPE)

    def stats(self) -> Mapping[str, ChannelStats]:
        return self.source.stats()  # type: ignore[no-any-return]

    def close(self) -> None:
        """Close the source once (a recorder finishes its file then); later calls do nothing."""
        if not self.closed:
            self.closed = True
            self.source.close()

    def __getattr__(self, name: str) -> Any:  # tree(), watcher(), pause() ... of the source
        return getattr(self.source, name)


@dataclasses.dataclass(frozen=True)
class Measured:
    """One namespace and clock: the configured offset and what the samples say."""

    channel: str
    clock: str
    configured_ns: int | None
    n: int
    median_ns: float
    spread_ns: float          # max − min of the per-sample offsets over the run
    abs_err_p99_ns: float     # |measured − configured|, 99th percentile
    err_p99_ns: float         # the stated bound, 99th percentile
    within_bound: float       # fraction of samples whose deviation is inside their bound


def measure(tee: Tee, clocks: Sequence[str] = ("monotonic", "boottime", "realtime")
            ) -> list[Measured]:
    """Offsets per channel and clock over everything the tee kept (divergence.py)."""
    from ..clocks.divergence import divergence, summary
    from ..source import configured_offset

    host = tee.records(HOST)
    out = []
    for ch in tee.channels():
        if ch.id == HOST:
            continue
        for clock in clocks:
            d = divergence(tee.records(ch.id), host, clock)
            if not len(d.offset_ns):
                continue
            want = configured_offset(ch, clock)
            s = summary(d, want)
            out.append(Measured(ch.label, clock, want, s.n, s.median_ns,
                                float(np.ptp(d.offset_ns)), s.abs_err_p99_ns, s.err_p99_ns,
                                s.within_bound))
    return out


def measured_html(rows: Sequence[Measured]) -> str:
    head = ("<tr><th>namespace</th><th>clock</th><th>configured</th><th>measured (median)</th>"
            "<th>spread over the run</th><th>|error| p99</th><th>bound p99</th>"
            "<th>within bound</th><th>samples</th></tr>")
    body = "".join(
        f"<tr><td>{m.channel}</td><td>{m.clock}</td>"
        f"<td>{'?' if m.configured_ns is None else f'{m.configured_ns / NSEC:+,.3f} s'}</td>"
        f"<td>{m.median_ns / NSEC:+,.6f} s</td><td>{m.spread_ns / 1000:,.1f} µs</td>"
        f"<td>{m.abs_err_p99_ns / 1000:,.2f} µs</td><td>{m.err_p99_ns / 1000:,.2f} µs</td>"
        f"<td>{m.within_bound:.1%}</td><td>{m.n:,}</td></tr>" for m in rows)
    return f"<table>{head}{body}</table>"
