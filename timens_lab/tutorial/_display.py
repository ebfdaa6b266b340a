"""How the tutorial shows things: rich output in a notebook, plain text anywhere else."""

from __future__ import annotations

import sys


def in_ipython() -> bool:
    return "IPython" in sys.modules and getattr(sys.modules["IPython"], "get_ipython",
                                                lambda: None)() is not None


def show_html(html_text: str, text: str) -> None:
    """HTML in a notebook, ``text`` on a terminal (headless runs, scripts)."""
    if in_ipython():
        from IPython.display import display

        display({"text/html": html_text, "text/plain": text}, raw=True)
    else:
        print(text)


def show_png(png: bytes) -> None:
    """A PNG in a notebook; nothing elsewhere (a terminal cannot show it)."""
    if in_ipython():
        from IPython.display import Image, display

        display(Image(png))
