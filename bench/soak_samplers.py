"""Soak: 64 namespaces sampled at 1 kHz for 10 minutes with a slow consumer (issue 10).

Not part of `make bench` (it takes minutes); `make soak` runs it. The consumer reads only every
READ_EVERY seconds — slower than the rings' headroom on purpose — so records are overwritten.
The claim checked: every record is either delivered exactly once with continuous sequence
numbers, or counted as a drop — ``delivered + drops == written`` per sampler, 0 torn records.

    python -m bench.soak_samplers [SECONDS] [NAMESPACES] [READ_EVERY]
"""

from __future__ import annotations

import resource
import sys
import time

import numpy as np

from timens_lab.engine.lab import Lab

from ._util import table


def main(seconds: float = 600.0, namespaces: int = 64, read_every: float = 5.0) -> int:
    with Lab() as lab:
        nss = [lab.namespace(monotonic=f"{i}s", boottime=f"{2 * i}s") for i in range(namespaces)]
        source = lab.samplers(nss, rate=1000)
        samplers = {"host": source.host, **source.samplers}
        expect = dict.fromkeys(samplers, 0)       # next seq each channel should deliver
        delivered = dict.fromkeys(samplers, 0)
        gaps = dict.fromkeys(samplers, 0)         # records skipped between deliveries
        bad_order = 0
        start = time.monotonic()
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
            while (elapsed := time.monotonic() - start) < seconds:
                time.sleep(min(read_every, max(0.0, seconds - elapsed)))
                for key, batch in source.read().items():
                    if not len(batch):
                        continue
                    seq = batch["seq"].astype(np.int64)
                    if np.any(np.diff(seq) != 1):
                        bad_order += 1     # inside one read the ring hands out a contiguous run
                    gaps[key] += int(seq[0]) - expect[key]
                    expect[key] = int(seq[-1]) + 1
                    delivered[key] += len(batch)
                print(f"  {elapsed:6.0f} s: {sum(delivered.values()):,} records delivered, "
                      f"{sum(s.stats().drops for s in samplers.values()):,} dropped", flush=True)
            source.stop()
            for key, batch in source.read().items():   # what was written after the last read
                if len(batch):
                    gaps[key] += int(batch["seq"][0]) - expect[key]
                    expect[key] = int(batch["seq"][-1]) + 1
                    delivered[key] += len(batch)
            rows = []
            mismatched = 0
            for key, s in samplers.items():
                stats, written, torn = s.stats(), s.ring.head, s.ring.torn
                ok = stats.drops == gaps[key] and delivered[key] + stats.drops == written and torn == 0
                mismatched += not ok
                if key in ("host", "ns1", f"ns{namespaces}") or not ok:
                    rows.append([key, f"{written:,}", f"{delivered[key]:,}", f"{stats.drops:,}",
                                 f"{gaps[key]:,}", torn, "ok" if ok else "MISMATCH"])
        finally:
            source.close()
    total_written = sum(delivered.values()) + sum(gaps.values())
    print(f"\n{namespaces} namespaces + host at 1 kHz for {seconds:.0f} s, reading every "
          f"{read_every:g} s:")
    table(rows, ["channel", "written", "delivered", "drops (counted)", "gaps (seen)", "torn",
                 "accounting"])
    print(f"total {total_written:,} records; {mismatched} channels with mismatched accounting; "
          f"{bad_order} out-of-order batches; max RSS {rss0 / 1024:.0f} → "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    return 1 if mismatched or bad_order else 0


if __name__ == "__main__":
    args = sys.argv[1:]
    raise SystemExit(main(float(args[0]) if args else 600.0, int(args[1]) if len(args) > 1 else 64,
                          float(args[2]) if len(args) > 2 else 5.0))
