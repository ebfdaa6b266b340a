"""Samplers for a Lab's namespaces: the clocks layer's Sampler and SamplerSet, started for a
namespace handle or a Lab (the engine itself knows nothing of samplers).

>>> from timens_lab.session import samplers                       # doctest: +SKIP
>>> with Lab() as lab:
...     ns = lab.namespace(monotonic="1h")
...     with samplers(lab, [ns], rate=1000) as source:             # host reference + ns
...         source.read()
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..clocks.sampler import Sampler, SamplerSet


def sampler(target: Any, **kw: Any) -> Sampler:
    """An (unstarted) sampler: in ``target`` if it is a namespace handle (its process enters the
    namespace, so a pending one becomes frozen), else the host reference of ``target``, a Lab.
    Keywords: rate=, clocks=, capacity= (:class:`~timens_lab.clocks.sampler.Sampler`)."""
    if hasattr(target, "start_c"):
        return Sampler.for_namespace(target, **kw)
    return Sampler.for_host(target, **kw)


def samplers(lab: Any, namespaces: Iterable[Any] = (), **kw: Any) -> SamplerSet:
    """A started SamplerSet (a Source): the host reference plus one sampler per namespace."""
    return SamplerSet.start(lab, namespaces, **kw)


def add(source: SamplerSet, ns: Any, *, recorder: Any = None, **kw: Any) -> Sampler:
    """Start a sampler in ``ns`` and add it to ``source``. With a ``recorder`` the tree is
    recorded just before (the namespace pending, offsets still writable) and just after (frozen
    by the sampler's entry, a member joined)."""
    if recorder is not None and recorder.feed is not None:
        recorder.poll_tree()
    started = Sampler.for_namespace(ns, **kw).start()
    try:
        source.add(started)
    except BaseException:
        started.close()     # a duplicate channel name: leave no sampler running
        raise
    if recorder is not None and recorder.feed is not None:
        recorder.poll_tree()
    return started
