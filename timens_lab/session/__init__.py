"""Sessions: the layer that assembles a running scenario from the parts below it — a Lab, its
samplers, a watcher and (optionally) a recorder, live or replayed — and joins namespaces made by
others (foreign.py).

It may import the engine, clocks, discovery, recording, probing and the bottom layer; views,
the tutorial, the demo and the commands use it.
"""
