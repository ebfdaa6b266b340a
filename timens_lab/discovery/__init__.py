"""Discovery: every time namespace on the machine, read from /proc (procfs.py, scan.py), named
and resolved (nsinfo.py, _resolve.py, containers.py), arranged as ownership/lineage trees
(treemodel.py, trees.py), and watched for changes (watch.py).

It may import only the bottom layer (kernel, offsets, errors); it never creates a namespace.
"""
