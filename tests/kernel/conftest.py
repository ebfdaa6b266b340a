"""Fixtures shared by the kernel tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .test_discovery import Procs


@pytest.fixture
def procs() -> Iterator[Procs]:
    """Processes a test starts (util-linux unshare, sleep …), killed by process group afterwards."""
    registry = Procs()
    try:
        yield registry
    finally:
        registry.close()
