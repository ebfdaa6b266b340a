"""The probe: what this machine lets us do (root, rootless, or only replay) and why, from facts
read without side effects plus one attempt in a throwaway child (_child.py); rules.py turns
them into checks and a verdict. ``timens_lab.probe()`` is the public entry point.

It may import only the bottom layer.
"""

from .check import ProbeResult, probe

__all__ = ["ProbeResult", "probe"]
