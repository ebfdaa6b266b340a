"""The control panel's hands: what :class:`~timens_lab.views.panel.Panel` does to namespaces,
done on a Lab (the panel itself imports nothing of the engine, only this interface).

>>> panel = Panel(LabControl(lab, sampler_factory=...))          # doctest: +SKIP

:class:`LabControl` implements :class:`~timens_lab.views.panel.Controller`: create a namespace
on the Lab, enter one by pid, join a foreign one (:func:`~timens_lab.session.foreign.join`: its
owner's user namespace first when rootless), find a member of a namespace from discovery, and
start a sampler through whoever owns the plotted Source (:mod:`timens_lab.session.explorer`
wires one for a dashboard).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import InvalidArgumentError

#: (namespace, rate or None, clocks) → a started sampler feeding the plotted Source.
SamplerFactory = Callable[[Any, float | None, tuple[str, ...]], Any]
#: (lab, pid) → a handle on pid's time namespace.
Joiner = Callable[[Any, int], Any]


def _default_joiner(lab: Any, pid: int) -> Any:
    from .foreign import join

    return join(lab, pid=pid)


def _default_member(inode: int) -> int | None:
    """The eldest visible member of a time namespace (a pid to join it through), or None."""
    from ..discovery.scan import discover

    ns = discover().get(inode)
    return ns.members[0].pid if ns is not None and ns.members else None


def _default_sampler(ns: Any, rate: float | None, clocks: tuple[str, ...]) -> Any:
    """``ns.sampler(...)`` where the handle has one; otherwise the sampler must come from
    whoever owns the plotted Source (a panel never starts processes on its own)."""
    if hasattr(ns, "sampler"):
        return ns.sampler(rate=rate, clocks=clocks)
    raise InvalidArgumentError("this panel has no sampler wired to a plot",
                               hint="use Dashboard.for_lab(lab), or pass Panel(lab, "
                               "sampler_factory=...) that adds a Sampler to the Source the plot "
                               "reads")


class LabControl:
    """A :class:`~timens_lab.views.panel.Controller` over a Lab (or anything with its API).

    Args:
        lab: the Lab whose namespaces the panel creates, enters and lists.
        sampler_factory: starts a sampler in a namespace and adds it to the plotted Source.
        joiner: ``(lab, pid) → handle`` (default :func:`~timens_lab.session.foreign.join`;
            tests pass ``lambda lab, pid: lab.enter(pid)``).
        member_of: ``inode → pid or None`` (default: the eldest member discovery sees).
    """

    def __init__(self, lab: Any, *, sampler_factory: SamplerFactory | None = None,
                 joiner: Joiner | None = None,
                 member_of: Callable[[int], int | None] | None = None) -> None:
        self.lab = lab
        self.sampler_factory = sampler_factory or _default_sampler
        self.joiner = joiner or _default_joiner
        self.member_of = member_of or _default_member

    def namespaces(self) -> list[Any]:
        """The namespaces the Lab created and has not closed, in creation order."""
        return list(self.lab.namespaces)

    def create(self, *, offsets: Any, rootless: bool | None) -> Any:
        """``lab.namespace(offsets=…, rootless=…)``: a new, pending namespace."""
        return self.lab.namespace(offsets=offsets, rootless=rootless)

    def enter(self, pid: int) -> Any:
        """``lab.enter(pid)``: a handle on the time namespace pid lives in."""
        return self.lab.enter(pid)

    def join(self, pid: int) -> Any:
        """A handle on pid's namespace, made by anyone, with what discovery knows of it."""
        return self.joiner(self.lab, pid)

    def start_sampler(self, ns: Any, rate: float | None, clocks: tuple[str, ...]) -> Any:
        """A sampler in ``ns`` feeding the plotted Source."""
        return self.sampler_factory(ns, rate, clocks)
