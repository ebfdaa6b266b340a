"""A live session with the extras a Replay has: the namespace tree, and a Lab it may own.

:func:`start_live` is the live half of :func:`timens_lab.recording.replay.open_source`: it creates the
namespaces (from specs, or from a recording's scenario, so live and replay show the same
namespaces under the same names) and starts a :class:`LiveSession`: a
:class:`~timens_lab.clocks.sampler.SamplerSet` whose ``tree()`` answers like :meth:`Replay.tree
<timens_lab.recording.replay.Replay.tree>` and whose ``close()`` also closes a Lab it made.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from ..clocks.sampler import SamplerSet
from ..discovery.treemodel import Tree

#: A TimeNamespace, "monotonic=1h,boottime=2d", {"monotonic": "1h", "name": ..., "parent": ...}
#: or (monotonic, boottime).
NamespaceSpec = Any


class LiveSession(SamplerSet):
    """A live SamplerSet that also serves the session's namespace tree (``tree()``, like
    :meth:`Replay.tree`) and, when :func:`open_source` made its Lab, closes it."""

    lab: Any = None
    owns_lab = False

    def tree(self, by: Literal["owner", "lineage"] = "lineage") -> Tree:
        from ..discovery.scan import discover
        from ..discovery.trees import lineage_tree, owner_tree
        from ..recording.tap import restrict, session_hints, session_scope

        d = discover()
        scope = session_scope(self.lab, self.channels())
        tree = owner_tree(d) if by == "owner" else lineage_tree(d, session_hints(self.lab))
        return restrict(tree, scope)

    def watcher(self) -> Any:
        from ..discovery.watch import Watcher

        return Watcher()

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self.owns_lab and self.lab is not None:
                self.lab.close()


def start_live(namespaces: Iterable[NamespaceSpec] | None = None, *, lab: Any = None,
               scenario: Mapping[str, Any] | None = None,
               rate: float | None = None) -> LiveSession:
    """Start samplers on the host and in each namespace (created from specs if needed).

    ``namespaces`` None takes them from ``scenario`` (a recording's), so a live run shows the
    same namespaces as the recording would.
    """
    from ..engine.lab import Lab

    scenario = dict(scenario or {})
    specs = list(namespaces) if namespaces is not None else list(scenario.get("namespaces", []))
    rate = rate if rate is not None else scenario.get("rate_hz", 100.0)
    own = lab is None
    lab = Lab() if own else lab
    try:
        made = _make_namespaces(lab, specs)
        session = LiveSession.start(lab, made, rate=rate)
    except BaseException:
        if own:
            lab.close()
        raise
    session.lab, session.owns_lab = lab, own
    return session


def _make_namespaces(lab: Any, specs: list[NamespaceSpec]) -> list[Any]:
    by_name: dict[str, Any] = {}
    out = []
    for spec in specs:
        if hasattr(spec, "start_c"):
            ns = spec
        else:
            fields = _spec_fields(spec)
            parent = by_name.get(fields["parent"]) if fields.get("parent") else None
            ns = lab.namespace(fields.get("monotonic"), fields.get("boottime"),
                               name=fields.get("name"), parent=parent)
        by_name[ns.name] = ns
        out.append(ns)
    return out


def _spec_fields(spec: NamespaceSpec) -> dict[str, Any]:
    """A spec as ``{"monotonic", "boottime", "name", "parent"}``; offsets in ns become "Nns"."""
    from ..offsets import Offsets

    if isinstance(spec, str):
        fields: dict[str, Any] = dict(zip(("monotonic", "boottime"), Offsets.parse_spec(spec),
                                          strict=True))
    elif isinstance(spec, tuple | list):
        fields = dict(zip(("monotonic", "boottime"), spec, strict=False))
    elif isinstance(spec, Offsets):
        fields = {"monotonic": spec.monotonic_ns, "boottime": spec.boottime_ns}
    else:
        fields = dict(spec)
    for clock in ("monotonic", "boottime"):
        if isinstance(fields.get(clock), int):
            fields[clock] = f"{fields[clock]}ns"
    return fields
