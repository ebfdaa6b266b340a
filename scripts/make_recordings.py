"""Make the recordings shipped in timens_lab/data from real runs (``make recordings``).

Each scenario creates real time namespaces with a Lab, samples them with the C samplers, and
records everything through :class:`timens_lab.recording.tap.Recorder`, including the tree as it
changes: namespaces appear pending, freeze when their sampler enters, processes join and leave,
a namespace is closed mid-run. Nothing is edited by hand; run it again on any machine where
``timens-lab probe`` says time namespaces are usable (root or rootless)::

    python scripts/make_recordings.py                  # all scenarios into timens_lab/data
    python scripts/make_recordings.py --only quick --out /tmp
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from timens_lab.clocks.sampler import Sampler, SamplerSet  # noqa: E402
from timens_lab.commands.record import summary  # noqa: E402
from timens_lab.discovery.watch import Watcher  # noqa: E402
from timens_lab.engine.lab import Lab  # noqa: E402
from timens_lab.offsets import parse_duration  # noqa: E402
from timens_lab.probing.check import probe  # noqa: E402
from timens_lab.recording.tap import Recorder  # noqa: E402


@dataclasses.dataclass(frozen=True)
class Ns:
    name: str
    monotonic: str | None
    boottime: str | None
    parent: str | None = None


@dataclasses.dataclass(frozen=True)
class Scenario:
    namespaces: tuple[Ns, ...]
    duration: float
    rate: float
    note: str
    #: (seconds after the start, action name, namespace name)
    timeline: tuple[tuple[float, str, str], ...] = ()


SCENARIOS = {
    "quick": Scenario(
        namespaces=(Ns("ns1", "1h", "2d"), Ns("ns2", "-5s", "-5s"),
                    Ns("ns3", None, "3d", parent="ns1")),
        duration=10.0, rate=100.0,
        note="Three namespaces: +1h/+2d, -5s, and one created inside ns1 that inherits its "
             "monotonic offset and sets boottime +3d. 10 s at 100 Hz."),
    "tour": Scenario(
        namespaces=(Ns("ns1", "1h", "2d"), Ns("ns2", "-5s", "-5s"), Ns("ns3", "0", "1d"),
                    Ns("ns4", "1d", "1d"), Ns("ns5", "1h30min", None, parent="ns1"),
                    Ns("ns6", None, "3d", parent="ns5"), Ns("ns7", "365d", "365d"),
                    Ns("ns8", "2h", "2h")),
        duration=60.0, rate=100.0,
        note="Eight namespaces appear one by one (pending, then frozen when their sampler "
             "enters); ns5 is created inside ns1 and ns6 inside ns5, inheriting what they do not "
             "set; a `sleep 10` joins ns4 at 25 s; ns8 is closed at 45 s. 60 s at 100 Hz.",
        timeline=((25.0, "spawn_sleep", "ns4"), (45.0, "close", "ns8"))),
}


def record(name: str, scenario: Scenario, out_dir: Path) -> Path:
    out = out_dir / f"{name}.tnsrec"
    with Lab() as lab:
        source = SamplerSet.start(lab, [], rate=scenario.rate)
        # What was asked for (None: inherit from the creator); channels get the actual offsets.
        asked = [{"name": n.name, "parent": n.parent,
                  "monotonic": parse_duration(n.monotonic) if n.monotonic else None,
                  "boottime": parse_duration(n.boottime) if n.boottime else None}
                 for n in scenario.namespaces]
        meta: dict[str, Any] = {"name": name, "rate_hz": scenario.rate,
                                "duration_s": scenario.duration, "namespaces": asked,
                                "timeline": [list(step) for step in scenario.timeline],
                                "command": ["scripts/make_recordings.py", "--only", name]}
        rec = Recorder(out, source, watcher=Watcher(), lab=lab, scenario=meta,
                       note=scenario.note)
        start = time.monotonic()

        def pump(until: float) -> None:
            while (left := start + until - time.monotonic()) > 0:
                time.sleep(min(0.05, left))
                rec.read()

        made: dict[str, Any] = {}
        children: list[Any] = []
        try:
            at = 0.0
            for spec in scenario.namespaces:
                ns = lab.namespace(spec.monotonic, spec.boottime, name=spec.name,
                                   parent=made.get(spec.parent) if spec.parent else None)
                made[spec.name] = ns
                rec.poll_tree()                    # appeared, pending
                pump(at := at + 0.3)
                source.add(Sampler.for_namespace(ns, rate=scenario.rate).start())
                rec.poll_tree()                    # frozen, a member joined
                pump(at := at + 0.2)
            actions: dict[str, Callable[[Any], None]] = {
                "spawn_sleep": lambda ns: children.append(ns.spawn(["sleep", "10"])),
                "close": lambda ns: (source.samplers[ns.name].stop(), ns.close()),
            }
            for when, action, target in scenario.timeline:
                pump(when)
                actions[action](made[target])
                rec.poll_tree()
            pump(scenario.duration)
        finally:
            rec.close()
            for child in children:
                child.kill()
                child.wait()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "timens_lab" / "data")
    parser.add_argument("--only", choices=sorted(SCENARIOS), action="append")
    args = parser.parse_args(argv)
    result = probe()
    if not result.time_namespaces:
        sys.stderr.write(f"error: cannot record here: {result.reason}\nhint: {result.hint}\n")
        return 1
    for name in args.only or sorted(SCENARIOS):
        print(summary(record(name, SCENARIOS[name], args.out)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
