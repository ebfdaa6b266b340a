"""Clocks: shared-memory rings, the samplers that fill them from inside a namespace (each a
:class:`~timens_lab.source.Source`), and the offset estimator (divergence.py).

It may import only the bottom layer (kernel, source, errors, offsets).
"""
