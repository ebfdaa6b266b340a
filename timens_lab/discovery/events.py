"""What a watch reports: one :class:`Event` per change (plain data, no /proc access), so a
recording can store and replay events without importing the watcher that makes them."""

from __future__ import annotations

import dataclasses
from typing import Literal

EventKind = Literal["appeared", "frozen", "member_joined", "member_left", "vanished"]


@dataclasses.dataclass(frozen=True, slots=True)
class Event:
    """One change. ``pid``/``comm`` are set for member events."""

    kind: EventKind
    inode: int
    ns_id: int | None
    state: str                  # the namespace's state after the change ("gone" when vanished)
    pid: int | None = None
    comm: str | None = None
