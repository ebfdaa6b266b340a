"""Recordings: the ``.tnsrec`` format (format.py, _codec.py), the recorder, a tap on a live
:class:`~timens_lab.source.Source` (tap.py), and replay, a Source that plays a recording back
(replay.py).

It may import discovery's tree model and the bottom layer; it never starts a namespace.
"""
