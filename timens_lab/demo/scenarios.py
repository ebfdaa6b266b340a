"""The demo's four scenarios, each a coroutine over the app (app.py): what it creates, samples
and says, and the one sentence the stage shows as its caption."""

from __future__ import annotations

import asyncio
import html
import time
from typing import Any

#: Each scenario and the one thing to notice in it (the caption on the stage).
CAPTIONS = {
    "a day ahead": "Same machine, same instant: inside the namespace uptime, MONOTONIC and "
                   "BOOTTIME read one day more than the host's; REALTIME is never shifted.",
    "a year behind": "The kernel refuses clocks that would go before boot: a year behind is "
                     "ERANGE, so the namespace goes back only as far as the host's uptime.",
    "nesting": "Offsets are absolute, not relative: B inherits A's +1 h, and C's +5 s is "
               "counted from the host's clock, not from A's.",
    "migration": "Restored on machine B, the workload's MONOTONIC carries on where it stopped: "
                 "the offsets hide the 2 s of downtime.",
}
PRESETS = tuple(CAPTIONS)


async def day_ahead(app: Any) -> None:
    """One namespace a day ahead on MONOTONIC and BOOTTIME, a ``sleep`` inside."""
    ns = app.lab.namespace(monotonic="1d", boottime="1d", name="a day ahead")
    app.sample(ns)
    app.spawn(ns, ["sleep", "86400"])


async def year_behind(app: Any) -> None:
    """−1 y is ERANGE (host clock + offset < 0, time_namespaces(7)): say why, large, then go
    as far behind as the kernel allows."""
    from ..errors import OffsetRangeError

    try:
        ns = app.lab.namespace(monotonic="-1y", boottime="-1y", name="a year behind")
    except OffsetRangeError as err:
        app.refused = (f"−1 y refused (ERANGE): {html.escape(str(err))}"
                       f"<span class='tl-why'>{html.escape(err.hint)}</span>")
        back = max(1, _host_uptime_s() - 2)
        ns = app.lab.namespace(monotonic=f"-{back}s", boottime=f"-{back}s",
                               name="max behind")
        app.note(f"settled for −{back} s: the host's uptime, less 2 s")
    app.sample(ns)


async def nesting(app: Any) -> None:
    """A (+1 h); B made in A inherits A's offsets; C made in A sets monotonic +5 s, which is
    absolute (to the host), not relative to A."""
    a = app.lab.namespace(monotonic="1h", boottime="1h", name="A")
    app.sample(a)
    app.sample(a.namespace(name="B in A"))
    app.sample(a.namespace(monotonic="5s", name="C in A"))


async def migration(app: Any) -> None:
    """A workload on machine A (+5 d) is checkpointed, and restored 2 s later in a namespace
    whose offsets continue its clocks (CRIU's way; notebook 06 goes step by step)."""
    from ..offsets import Offsets

    a = app.lab.namespace(monotonic="5d", boottime="5d", name="machine A")
    sampler = app.sample(a)
    app.spawn(a, ["sleep", "86400"])
    app.note("machine A runs its workload… checkpoint in 4 s")
    await asyncio.sleep(4.0)
    # The checkpoint: what the workload's clocks read when it is stopped (host + A's offsets).
    host_mono, host_boot = _host_clocks_ns()
    off = a.offsets
    mono, boot = host_mono + off.monotonic_ns, host_boot + off.boottime_ns
    sampler.request_stop()
    app.migration = {"checkpoint_host_ns": host_mono}
    app.note("checkpointed; downtime 2 s…")
    await asyncio.sleep(2.0)
    host_mono, host_boot = _host_clocks_ns()
    app.migration["restore_host_ns"] = host_mono
    b = app.lab.namespace(name="machine B")
    # CRIU: offset = checkpoint − host now (rounded up to the ms, for a readable label; the
    # clock then resumes at most 1 ms after the checkpoint value, never before it).
    b.offsets = Offsets(_ceil_ms(mono - host_mono), _ceil_ms(boot - host_boot))
    app.sample(b)
    app.spawn(b, ["sleep", "86400"])
    app.note(f"restored with offsets = checkpoint − host now ({b.offsets.labels()})")


SCENARIOS = {"a day ahead": day_ahead, "a year behind": year_behind, "nesting": nesting,
             "migration": migration}


def _host_clocks_ns() -> tuple[int, int]:
    """This process's MONOTONIC and BOOTTIME (the demo's kernel runs on the host)."""
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC), time.clock_gettime_ns(time.CLOCK_BOOTTIME)


def _ceil_ms(ns: int) -> int:
    return -(-ns // 1_000_000) * 1_000_000


def _host_uptime_s() -> int:
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1_000_000_000
