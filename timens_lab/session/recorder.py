"""Record a running session: the recorder tap, handed its environment and its tree feed.

>>> from timens_lab.session import record, samplers               # doctest: +SKIP
>>> with Lab() as lab:
...     ns = lab.namespace(monotonic="1h")
...     with record("run.tnsrec", samplers(lab, [ns], rate=100), lab=lab) as source:
...         LiveView([DivergencePlot(source)], duration=30).run()
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ..recording.tap import Environment, Recorder
from ..source import Source
from .environment import capture
from .scope import Scope, SessionTrees


def record(path: str | os.PathLike[str], source: Source, *, lab: Any = None, watch: bool = True,
           watcher: Any = None, scope: Scope = "session",
           environment: Environment | Mapping[str, Any] | None = None,
           **kw: Any) -> Recorder:
    """A :class:`~timens_lab.recording.tap.Recorder` of ``source`` with what a session knows.

    Args:
        path: the ``.tnsrec`` file to write (replaced only when complete).
        source: what to record (a SamplerSet, a Replay, any Source).
        lab: the Lab, for lineage hints and the session scope of trees and events.
        watch: record the namespace tree and its events (a new Watcher unless ``watcher``).
        watcher: the :class:`~timens_lab.discovery.watch.Watcher` to poll (tests pass one over
            a fake /proc).
        scope: ``"session"`` (this session's namespaces) or ``"all"`` (everything visible).
        environment: where and when; default: captured now, with the probe's verdict.
        kw: for the Recorder: scenario, note, flush_interval, tree_interval, close_source, clock.
    """
    if scope not in ("session", "all"):
        raise ValueError(f"scope must be 'session' or 'all', not {scope!r}")
    if watcher is None and watch:
        from ..discovery.watch import Watcher

        watcher = Watcher()
    feed = (SessionTrees(watcher, lab=lab, channels=source.channels, scope=scope)
            if watcher is not None else None)
    return Recorder(path, source, environment=environment if environment is not None
                    else capture(), feed=feed, **kw)
