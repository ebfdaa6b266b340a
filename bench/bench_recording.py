"""Recording format: size and speed on the real samples of the shipped tour recording.

The tour recording (``make recordings``: 8 namespaces + host, 100 Hz, 60 s, real samplers) is
decoded, then its records are encoded again per 1 s flush (what the recorder does) by:

* ``raw``: the 64-byte records as they are (the anchor for size);
* ``zlib``: raw records through zlib level 6 (the anchor for "just compress it");
* ``npz``: ``numpy.savez_compressed`` of the whole arrays (the format a first design
  suggested), one file, no framing, nothing incremental;
* ``tnsrec``: residual + zigzag + byte shuffle + zlib (``timens_lab/recording/_codec.py``).

Printed: bytes per record, the ratio to raw, encode and decode throughput. Also the time to load
the whole file and to replay it to the end at full speed (what a notebook pays on open).

Run: ``python -m bench recording`` or ``python -m bench.bench_recording``.
"""

from __future__ import annotations

import io
import math
import time
import zlib

import numpy as np

from bench._util import median_ms, table, timed
from timens_lab.recording import _codec as codec
from timens_lab.recording.format import load
from timens_lab.recording.replay import Replay, shipped


def _flushes(rec: object, seconds: float = 1.0) -> list[list[np.ndarray]]:
    """The records cut into 1 s flushes per channel, as the recorder writes them."""
    start = rec.start_ns  # type: ignore[attr-defined]
    out: dict[int, list[np.ndarray]] = {}
    for recs in rec.records.values():  # type: ignore[attr-defined]
        slot = ((recs["rt1"] - start) // int(seconds * 1e9)).astype(int)
        for s in np.unique(slot):
            out.setdefault(int(s), []).append(recs[slot == s])
    return [out[k] for k in sorted(out)]


def main() -> None:
    path = shipped().get("tour")
    if path is None:
        print("  no tour recording (make recordings); skipped")
        return
    rec = load(path)
    n = sum(len(r) for r in rec.records.values())
    flushes = _flushes(rec)

    def enc_raw() -> int:
        return sum(len(b.tobytes()) for f in flushes for b in f)

    def enc_zlib() -> int:
        return sum(len(zlib.compress(b"".join(b.tobytes() for b in f), 6)) for f in flushes)

    def enc_npz() -> int:
        buf = io.BytesIO()
        np.savez_compressed(buf, **rec.records)
        return len(buf.getvalue())

    def enc_tnsrec() -> int:
        return sum(len(zlib.compress(b"".join(codec.encode(b)[1] for b in f), 6))
                   for f in flushes)

    rows = []
    raw = enc_raw()
    for name, fn in (("raw", enc_raw), ("zlib", enc_zlib), ("npz", enc_npz),
                     ("tnsrec", enc_tnsrec)):
        size = fn()
        ms = median_ms(timed(fn, 5, warmup=1))
        rows.append((name, f"{size / n:.2f}", f"{raw / size:.1f}x", f"{ms:.1f}",
                     f"{n / ms / 1e3:.2f}"))
    print(f"  {n} records from {len(rec.channels)} channels, {len(flushes)} flushes of 1 s "
          f"({path.name}, {path.stat().st_size} bytes on disk)")
    table(rows, ["encoding", "bytes/record", "vs raw", "encode ms", "M records/s"])

    load_ms = median_ms(timed(lambda: load(path), 5, warmup=1))

    def replay_all() -> None:
        Replay(rec, math.inf).read()

    replay_ms = median_ms(timed(replay_all, 5, warmup=1))
    t = time.perf_counter()
    bodies = [codec.encode(r) for r in rec.records.values()]
    enc = time.perf_counter() - t
    t = time.perf_counter()
    for (mask, body), r in zip(bodies, rec.records.values(), strict=True):
        codec.decode(body, 0, len(r), mask)
    dec = time.perf_counter() - t
    print(f"  load the file: {load_ms:.1f} ms; replay it to the end: {replay_ms:.1f} ms; "
          f"codec alone: encode {n / enc / 1e6:.1f} M records/s, decode {n / dec / 1e6:.1f} M "
          "records/s")


if __name__ == "__main__":
    main()
