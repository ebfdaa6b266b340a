"""What a projector audience would see wrong, measured in the page: small type, clipped text,
overlapping text; and every request the page makes to anywhere but this machine.

:func:`text_problems` walks every rendered text node under a selector (Range.getClientRects:
the boxes the browser actually laid the text out in), and reports
* type smaller than ``min_px`` (computed font-size),
* text cut off: outside the window (``fold=True`` also below it: on a stage nothing may need
  scrolling), or outside an ancestor that clips its overflow,
* two text nodes whose boxes overlap.

:func:`watch_outside` routes every request of a page through a handler that lets loopback,
``data:`` and ``blob:`` through and aborts (and records) anything else, so a test fails on the
first font, script or icon fetched from the internet, online or not.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

TEXT_PROBLEMS = r"""
([scope, minPx, fold]) => {
  const root = document.querySelector(scope);
  if (!root) { return ['no ' + scope + ' in the page']; }
  const problems = [];
  const boxes = [];
  const say = (node) => JSON.stringify(node.textContent.trim().slice(0, 40));
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    if (!node.textContent.trim()) { continue; }
    const el = node.parentElement;
    const style = getComputedStyle(el);
    if (style.visibility !== 'visible' || parseFloat(style.opacity) === 0) { continue; }
    if (el.closest('style, script, template')) { continue; }
    const range = document.createRange();
    range.selectNodeContents(node);
    const rects = [...range.getClientRects()].filter((r) => r.width > 0.5 && r.height > 0.5);
    if (!rects.length) { continue; }   // not rendered (display: none somewhere above)
    const size = parseFloat(style.fontSize);
    if (size < minPx) { problems.push(`small: ${say(node)} is ${size}px`); }
    for (const r of rects) {
      if (r.left < -0.5 || r.right > window.innerWidth + 0.5 || r.top < -0.5
          || (fold && r.bottom > window.innerHeight + 0.5)) {
        problems.push(`off screen: ${say(node)} at ${Math.round(r.left)},${Math.round(r.top)}`);
      }
      for (let a = el; a && a !== document.documentElement; a = a.parentElement) {
        const s = getComputedStyle(a);
        if (s.overflowX === 'visible' && s.overflowY === 'visible') { continue; }
        // Scrolled out of view is not clipped, unless nothing may need scrolling (fold).
        if (!fold && /auto|scroll/.test(s.overflowX + s.overflowY)) { continue; }
        const c = a.getBoundingClientRect();
        if (r.left < c.left - 1 || r.right > c.right + 1 || r.top < c.top - 1
            || r.bottom > c.bottom + 1) {
          problems.push(`clipped: ${say(node)} by <${a.tagName.toLowerCase()} class="${a.className}">`);
          break;
        }
      }
      boxes.push([node, r]);
    }
  }
  for (let i = 0; i < boxes.length; i++) {
    for (let j = i + 1; j < boxes.length; j++) {
      const [n1, a] = boxes[i];
      const [n2, b] = boxes[j];
      if (n1 === n2) { continue; }
      const w = Math.min(a.right, b.right) - Math.max(a.left, b.left);
      const h = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
      if (w > 1 && h > 1) { problems.push(`overlap: ${say(n1)} and ${say(n2)}`); }
    }
  }
  return problems;
}
"""


def text_problems(page: Any, scope: str, *, min_px: float = 16.0, fold: bool = True) -> list[str]:
    """Small, clipped or overlapping text under ``scope`` (see the module docstring)."""
    return list(page.evaluate(TEXT_PROBLEMS, [scope, min_px, fold]))


def _local(url: str) -> bool:
    if url.startswith(("data:", "blob:", "about:")):
        return True
    return urlsplit(url).hostname in ("127.0.0.1", "localhost", "::1")


def watch_outside(page: Any) -> list[str]:
    """Abort and record every request ``page`` makes off this machine; returns the (live)
    list of their URLs."""
    outside: list[str] = []

    def route(r: Any) -> None:
        if _local(r.request.url):
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    return outside
