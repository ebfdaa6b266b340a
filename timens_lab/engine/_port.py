"""What a namespace handle may ask of the Lab that made it: the Lab's side, as an interface.

A :class:`~timens_lab.engine.namespace.TimeNamespace` (or a joined one) sends every action to the
Lab's helper; it holds a :class:`Port` (lab.py implements it) instead of calling the Lab's private
methods, so namespace.py never imports lab.py and the engine's imports point one way:
``child ← _port ← namespace ← lab``. A :class:`~timens_lab.engine.child.Child` needs even less:
one callable that asks the helper for an exit status.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .child import Child


class Port(Protocol):
    """The requests a namespace handle makes through its Lab (one helper round trip each)."""

    @property
    def lab(self) -> Any:
        """The Lab itself, for users (``ns.lab``)."""

    @property
    def closed(self) -> bool:
        """The Lab is closed (or this is a forked copy of it)."""

    def call(self, op: str, **args: Any) -> dict[str, Any]:
        """One request to the helper; its reply (typed errors raised)."""

    def spawn(self, target: dict[str, Any] | None, argv: Sequence[str | os.PathLike[str]], *,
              namespace: Any, **kw: Any) -> Child:
        """Start argv in ``target`` (``{"ns": id}``, ``{"pid": n}``, ... or None: the host)."""

    def start_c(self, target: dict[str, Any] | None, fn: str, arg: bytes, fds: Sequence[int],
                namespace: Any) -> Child:
        """Run the C entry point ``fn(arg)`` in a child joined to ``target``."""

    def namespace(self, monotonic: Any, boottime: Any, *, parent: Any, **kw: Any) -> Any:
        """A new namespace created from inside ``parent`` (Lab.namespace)."""

    def forget(self, ns: Any) -> None:
        """``ns`` (and what is nested in it) was closed: drop it from the Lab's records."""
