"""The namespaces a Lab hands out: ones it created (TimeNamespace) and ones it joined.

Both are thin handles: every action is a request to the Lab's helper (lab.py, _helper_ops.py).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from ..errors import OffsetTypeError, TimensError
from ..offsets import Offsets, format_duration, parse_duration

if TYPE_CHECKING:
    from .child import Child
    from .lab import Lab

Duration = str | int | float | None


class _Target:
    lab: Lab
    _target: dict[str, Any]
    inode: int
    ns_id: int | None

    def spawn(self, argv: Sequence[str | os.PathLike[str]], **kw: Any) -> Child:
        """Start argv inside this namespace; keywords as subprocess.Popen (stdin/stdout/stderr
        accept None = inherit, PIPE, DEVNULL, an fd or a file; env, cwd)."""
        try:
            child = self.lab._spawn(self._target, argv, namespace=self, **kw)
        except TimensError as err:
            if err.context.get("frozen"):  # it failed after entering: frozen all the same
                self._entered()
            raise
        self._entered()
        return child

    def start_c(self, fn: str, arg: bytes, fds: Sequence[int] = ()) -> Child:
        """Run the C entry point ``fn(arg)`` in a child joined to this namespace; fds → 3, 4, ..."""
        child = self.lab._start_c(self._target, fn, arg, fds, namespace=self)
        self._entered()
        return child

    def _entered(self) -> None:
        pass

    def sampler(self, **kw: Any) -> Any:
        """A clock sampler inside this namespace (sampler.Sampler.for_namespace): rate=, clocks=.

        Its process enters the namespace, so a pending namespace becomes frozen.
        """
        from ..clocks.sampler import Sampler

        return Sampler.for_namespace(self, **kw)


class TimeNamespace(_Target):
    """A time namespace this Lab created. ``state``: pending → frozen (first entry) → closed."""

    def __init__(self, lab: Lab, info: dict[str, Any], *, name: str | None,
                 parent: TimeNamespace | None) -> None:
        self.lab = lab
        self.id: int = info["id"]
        self.name = name or f"ns{self.id}"
        self.parent = parent
        self._info = info
        self._target = {"ns": self.id}

    def _update(self, info: dict[str, Any]) -> None:
        self._info = {**self._info, **info}

    def _entered(self) -> None:
        self._update({"frozen": True})

    @property
    def state(self) -> Literal["pending", "frozen", "closed"]:
        if self._info.get("closed") or self.lab.closed:
            return "closed"
        return "frozen" if self._info.get("frozen") else "pending"

    @property
    def inode(self) -> int:  # type: ignore[override]
        return int(self._info["inode"])

    @property
    def ns_id(self) -> int | None:  # type: ignore[override]
        return self._info.get("ns_id")

    @property
    def holder_pid(self) -> int:
        """A process whose time_for_children is this namespace (it keeps it alive and writable)."""
        return int(self._info["holder"])

    @property
    def rootless(self) -> bool:
        return bool(self._info["rootless"])

    @property
    def userns_inode(self) -> int | None:
        return self._info.get("userns")

    @property
    def path(self) -> str:
        """An nsfs path to this namespace, for nsenter --time=PATH or Lab.enter(PATH)."""
        return f"/proc/{self.holder_pid}/ns/time_for_children"

    @property
    def offsets(self) -> Offsets:
        """The offsets as the kernel has them now (read from /proc/<holder>/timens_offsets)."""
        if self.state != "closed":
            self._update(self.lab._call("describe", ns=self.id))
        return Offsets(self._info["monotonic_ns"], self._info["boottime_ns"])

    @offsets.setter
    def offsets(self, value: Offsets) -> None:
        if not isinstance(value, Offsets):
            raise OffsetTypeError(f"ns.offsets takes an Offsets, not {type(value).__name__}",
                                  hint="ns.offsets = Offsets.of(monotonic='1h'), or "
                                  "ns.set_offsets(monotonic='1h')")
        self._set_ns(value.monotonic_ns, value.boottime_ns)

    def set_offsets(self, monotonic: Duration = None, boottime: Duration = None) -> Offsets:
        """Change offsets while pending; once frozen the kernel says EACCES → OffsetsFrozenError.

        Durations as in parse_duration (bare numbers are seconds); None leaves a clock as is.
        """
        return self._set_ns(parse_duration(monotonic) if monotonic is not None else None,
                            parse_duration(boottime) if boottime is not None else None)

    def _set_ns(self, mono: int | None, boot: int | None) -> Offsets:
        self._update(self.lab._call("set_offsets", ns=self.id, monotonic_ns=mono, boottime_ns=boot))
        return Offsets(self._info["monotonic_ns"], self._info["boottime_ns"])

    def namespace(self, monotonic: Duration = None, boottime: Duration = None,
                  **kw: Any) -> TimeNamespace:
        """A namespace created from inside this one: it starts with this one's offsets."""
        return self.lab.namespace(monotonic, boottime, parent=self, **kw)

    @property
    def label(self) -> str:
        info = self._info
        return (f"{self.name} {format_duration(info['monotonic_ns'])}/"
                f"{format_duration(info['boottime_ns'])}")

    def close(self) -> None:
        """Kill its processes (and namespaces nested in it) and let the namespace go."""
        if self.state != "closed":
            self.lab._call("close_ns", ns=self.id)
        self.lab._forget(self)

    kill = close

    def __repr__(self) -> str:
        kind = "rootless " if self.rootless else ""
        nested = f" in {self.parent.name}" if self.parent else ""
        return f"<TimeNamespace {self.label} {kind}{self.state} time:[{self.inode}]{nested}>"


class JoinedNamespace(_Target):
    """An existing time namespace found by pid or nsfs path (always frozen: it has members)."""

    state = "frozen"

    def __init__(self, lab: Lab, target: dict[str, Any], info: dict[str, Any]) -> None:
        self.lab = lab
        self._target = target
        self.inode = int(info["inode"])
        self.ns_id = info.get("ns_id")

    def __repr__(self) -> str:
        return f"<JoinedNamespace time:[{self.inode}] via {self._target}>"
