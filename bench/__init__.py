"""Benchmarks for `make bench`: every ``bench_*.py`` module here has a ``main()``.

Each prints its figures next to an anchor measured in the same run (a ratio, never a bare
number compared with a constant): speed belongs here, not in timed unit tests.
"""
