"""The stage demo behind ``timens-lab demo``: scenarios on a Lab (or a replay), laid out for a
projector with the views.

It may import the session layer, views and everything below them.
"""

from .app import DemoApp

__all__ = ["DemoApp"]
