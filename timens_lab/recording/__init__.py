"""Recordings: the ``.tnsrec`` format (format.py reads and writes it, with _codec.py; writer.py
writes a partial file and renames it into place), the recorder, a pure tap on a live
:class:`~timens_lab.source.Source` handed its environment and tree feed (tap.py), and replay, a
Source that plays a recording back (replay.py).

It may import discovery's plain data (tree model, events) and the bottom layer; it never
probes, watches, samples or starts a namespace (the session layer hands it all of that).
"""
