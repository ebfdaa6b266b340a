"""The mode banner and the probe table every notebook opens with."""

from __future__ import annotations

import html
import os
from typing import Any

from ._display import show_html as _show
from ._tape import active, tape_path

_COLOURS = {"root": "#1b7f3b", "rootless": "#1b5e9f", "replay": "#a04000"}


def mode_banner(result: Any = None, current: str | None = None) -> str:
    """Say which mode this notebook runs in (``current``, else the probe's) and why; returns it."""
    from ..probing.check import probe

    result = result or probe()
    if current is None:
        current = result.mode if result.time_namespaces else "replay"
    tape = active()
    if current == "replay":
        meta = tape.meta if tape is not None else {}
        text = (f"REPLAY · {result.reason or 'time namespaces are not available here'}. "
                f"Replaying a recording of this notebook made as {meta.get('mode', '?')} on Linux "
                f"{meta.get('kernel', '?')} ({meta.get('recorded', '?')}); every claim is "
                "checked against the recorded values.")
        if result.hint:
            text += f" To run live: {result.hint}."
    elif current == "root":
        text = (f"LIVE · root · Linux {result.kernel} · namespaces come from "
                "unshare(CLONE_NEWTIME) in a helper process; every claim is checked live.")
    else:
        text = (f"LIVE · rootless (uid {os.geteuid()}) · Linux {result.kernel} · each namespace "
                "is owned by a user namespace you created; every claim is checked live.")
    if tape is not None and tape.mode == "record":
        text += f" RECORDING into {tape_path(tape.name).name}."
    colour = _COLOURS.get(current, "#444")
    _show(f'<div style="border-left:6px solid {colour};padding:6px 10px;margin:4px 0;'
          f'background:{colour}14"><b style="color:{colour}">{html.escape(text.split(" · ")[0])}'
          f"</b> · {html.escape(' · '.join(text.split(' · ')[1:]))}</div>", text)
    return current


def show_probe(result: Any = None) -> None:
    """The probe's checks as a table (what was tried, what it said, how to fix it)."""
    from ..probing.check import probe

    result = result or probe()
    rows = "".join(
        f"<tr><td>{html.escape(c.name)}</td><td>{_status(c)}</td><td>{html.escape(c.detail)}"
        f"</td><td>{html.escape(c.hint)}</td></tr>" for c in result.checks)
    _show(f"<table><tr><th>check</th><th>status</th><th>detail</th><th>hint</th></tr>{rows}"
          f"</table><p><b>{html.escape(result.summary())}</b></p>", result.summary())


def _status(check: Any) -> str:
    if check.ok is None:
        return "n/a"
    return "ok" if check.ok else ("<b>FAIL</b>" if check.required else "no")
