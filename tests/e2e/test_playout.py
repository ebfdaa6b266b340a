"""The browser's playout buffer (canvas.js ``Playout``), driven on a simulated clock.

The kernel stops sending deltas while it renders a keyframe's background (a whole matplotlib
render, 0.1–0.5 s on a busy 2-core machine). The playout learns how long the kernel went quiet
before a keyframe and keeps that much data in hand, so every animation frame of the next stall
still has new points to fold. Checked by counting the frames that fold nothing; the module runs
in Chromium as the page runs it, imported from a data: URL (no server, nothing leaves the
machine).
"""

from __future__ import annotations

import base64
from importlib import resources
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

#: Deltas at 20 Hz carrying 100 Hz samples, frames at 60 Hz; the kernel goes quiet for STALL_S
#: before each keyframe (at 3 s and 6 s of data), as it does while rendering the background.
#: Returns the frames that folded nothing in the second after the second keyframe's stall
#: began, and the playout's lag then (s).
SIMULATION = """async ([url, stall]) => {
  const { Playout } = await import(url);
  const p = new Playout();
  const state = { groups: [{ offset: 0, resid: 1, band: 2, sel: -1, selRow: -1 }],
                  series: [], touch() {} };
  const frame = 1000 / 60, period = 50;
  let sent = 0, dry = 0, lag = 0;             // data (s) sent so far
  const block = (t0, t1) => {
    const ts = [];
    for (let k = Math.ceil(t0 * 100 + 1e-9); k <= t1 * 100 + 1e-9; k++) { ts.push(k / 100); }
    const n = ts.length, d = new Float32Array(5 * n);
    d.set(ts, 4 * n);
    return { clock: 0, role: 0, n, fields: 5, at: 0, data: d };
  };
  let next = period, quietUntil = -1, keyAt = [3000, 6000], polled = 0;
  for (let now = 0; now < 8000; now += frame) {
    while (now >= next) {                          // the kernel's loop, on the wall clock
      if (keyAt.length && next >= keyAt[0] - stall * 1000 && quietUntil < 0) {
        quietUntil = keyAt[0];                     // polled, then rendering until keyAt
        polled = next / 1000;
      }
      if (quietUntil >= 0 && next >= quietUntil) { // the keyframe holds what was polled
        p.stalled(next); p.reset(polled); sent = polled;
        quietUntil = -1; keyAt.shift();
      } else if (quietUntil < 0) {
        const t = next / 1000;
        p.add(t, next, [block(sent, t)]); sent = t;
      }
      next += period;
    }
    const folded = p.advance(frame / 1000, now) && p.drain(state);
    if (now >= 6000 - stall * 1000 && now < 7000 - stall * 1000) {
      if (!folded) { dry += 1; }
      lag = Math.max(lag, (p.newest - p.shown));
    }
  }
  return [dry, lag];
}"""


def _module_url() -> str:
    js = (resources.files("timens_lab.views") / "static" / "canvas.js").read_bytes()
    return "data:text/javascript;base64," + base64.b64encode(js).decode()


def test_a_keyframe_stall_is_kept_in_hand(browser: Any) -> None:
    """After one 0.3 s stall, the next one leaves no more frames without new points than a
    keyframe without a stall does, and the latency this costs stays within the stall plus a
    message interval (and the sampling's own steps)."""
    page = browser.new_page()
    try:
        page.goto("about:blank")
        dry, lag = page.evaluate(SIMULATION, [_module_url(), 0.3])
        quiet, _ = page.evaluate(SIMULATION, [_module_url(), 0.0])
    finally:
        page.close()
    # Any keyframe leaves the frames until the next delta without new points (~3 here, with
    # no stall at all); unlearned, a 0.3 s stall over the ~0.15 s base lag left ~9 more.
    assert dry <= quiet + 1, f"{dry} of 60 frames folded nothing ({quiet} without a stall)"
    assert lag <= 0.3 + 0.05 + 0.1
