"""The engine: :class:`Lab`, the time namespaces it hands out, their child processes, and the
single-threaded helper process that does every unshare/setns/fork on the Lab's behalf.

It owns the helper's protocol (_wire.py), what the helper does per request (_helper_ops.py,
_spawner.py), how whole process trees die (_reaper.py) and how a namespace's holder is known by
its pidfd (_holder.py). It may import only the bottom layer (kernel, offsets, errors, source,
_pyexec); it knows nothing of samplers, discovery, recordings or views.
"""
