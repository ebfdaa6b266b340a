"""Namespaces you did not create: look before entering, then join them to sample their clocks.

>>> from timens_lab import Lab
>>> from timens_lab.session.foreign import join
>>> with Lab() as lab:                                            # doctest: +SKIP
...     ns = join(lab, pid=4242)          # e.g. a container's init (timens-lab tree names it)
...     with lab.samplers([ns]) as source:
...         ...

:func:`look` says what a pid's or a file's namespace is (discovery: state, offsets, container)
without entering it. :func:`join` enters it through the Lab's helper (``Lab.enter``, which joins
the owning user namespace first when rootless, as ``nsenter -U`` does) and returns a handle whose
``offsets`` are the ones the kernel reports, so a sampler's report compares what it measures with
``/proc/PID/timens_offsets``.

Entering freezes a *pending* namespace (no member yet: its creator may still write its offsets;
kernel-timens.md finding 6), so :func:`join` refuses one with :class:`PendingNamespaceError`
unless ``freeze=True``, and then says so through ``warn`` *before* entering. A pid is never
pending (that process is a member); a file such as a bind mount or
``/proc/PID/ns/time_for_children`` may be. What discovery cannot see (another user's processes,
unprivileged) it cannot report as pending; such a namespace is then one you cannot enter anyway
(setns needs CAP_SYS_ADMIN over its owner).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..discovery.trees import offsets_label
from ..engine.namespace import JoinedNamespace
from ..errors import NoSuchNamespaceError, PendingNamespaceError, PrivilegeError

if TYPE_CHECKING:
    from ..discovery.containers import Container
    from ..discovery.nsinfo import NamespaceInfo
    from ..engine.lab import Lab
    from ..offsets import Offsets


def _stderr(message: str) -> None:
    sys.stderr.write(f"note: {message}\n")
    sys.stderr.flush()


class ForeignNamespace(JoinedNamespace):
    """A joined namespace with what discovery knew about it before entering."""

    def __init__(self, lab: Lab, joined: JoinedNamespace, info: NamespaceInfo | None,
                 name: str, what: str) -> None:
        super().__init__(lab, joined._target, {"inode": joined.inode, "ns_id": joined.ns_id})
        self.info = info
        self.name = name                       # the sampler channel id: "pid4242", "file1"
        self.offsets: Offsets | None = info.offsets if info is not None else None
        self.container: Container | None = _container(info)
        self.label = f"{what} [{self.container.label}]" if self.container else what

    def __repr__(self) -> str:
        return f"<ForeignNamespace {self.label} time:[{self.inode}]>"


def _container(info: NamespaceInfo | None) -> Container | None:
    if info is None:
        return None
    if info.container is not None:
        return info.container
    return info.members[0].container if info.members else None


def namespace_file(pid: int | None = None, path: str | os.PathLike[str] | None = None) -> str:
    """The nsfs file to look at and enter: ``/proc/PID/ns/time`` or ``path``."""
    if (pid is None) == (path is None):
        raise ValueError("give exactly one of pid= or path=")
    return f"/proc/{int(pid)}/ns/time" if pid is not None else os.fspath(path)  # type: ignore[arg-type]


def look(pid: int | None = None, path: str | os.PathLike[str] | None = None
         ) -> tuple[int, NamespaceInfo | None]:
    """``(inode, what discovery knows or None)`` for a pid's or a file's time namespace.

    Raises:
        NoSuchNamespaceError: no such process or file.
        PrivilegeError: the file is hidden from us (another user's process).
    """
    file = namespace_file(pid, path)
    try:
        inode = os.stat(file).st_ino
    except FileNotFoundError as err:
        what = f"no process {pid}" if pid is not None else f"{file} does not exist"
        raise NoSuchNamespaceError(f"{what}: nothing to sample") from err
    except PermissionError as err:
        raise PrivilegeError(f"cannot look at {file}: permission denied (the ptrace access check "
                             "of proc(5): another user's process)", errno=err.errno) from err
    from ..discovery.scan import discover

    return inode, discover().get(inode)


def join(lab: Lab, pid: int | None = None, path: str | os.PathLike[str] | None = None, *,
         freeze: bool = False, name: str | None = None,
         warn: Callable[[str], Any] = _stderr) -> ForeignNamespace:
    """Enter a namespace made by someone else, for sampling (``lab.samplers([ns])``).

    Args:
        lab: the Lab whose helper enters it.
        pid: join this process's time namespace (``/proc/PID/ns/time``), or
        path: an nsfs file: a bind mount, ``/proc/PID/ns/time_for_children``...
        freeze: enter even a pending namespace (its offsets are then fixed for good).
        name: the channel id (default ``pidN`` or ``ns:INODE``).
        warn: called with a sentence before a pending namespace is frozen.

    Raises:
        PendingNamespaceError: it is pending and ``freeze`` is False (nothing was entered).
        NoSuchNamespaceError, PrivilegeError: see :func:`look`; also from ``lab.enter``.
    """
    inode, info = look(pid, path)
    file = namespace_file(pid, path)
    if info is not None and info.state == "pending":
        holder = info.holders[0] if info.holders else info.threads[0][0] if info.threads else None
        why = (f"time:[{inode}] ({file}) is pending: no process is inside it yet, and "
               f"{f'pid {holder}' if holder else 'its creator'} may still set its offsets "
               f"(now {offsets_label(info)}); entering it would freeze them")
        if not freeze:
            raise PendingNamespaceError(why, inode=inode)
        warn(f"{why}: entering anyway (--freeze / freeze=True)")
    joined = lab.enter(pid if pid is not None else os.fspath(path))  # type: ignore[arg-type]
    if joined.inode != inode:  # the process exec'd or the mount changed between look and enter
        raise NoSuchNamespaceError(f"{file} changed while timens-lab looked at it "
                                   f"(time:[{inode}], then time:[{joined.inode}])",
                                   hint="try again; the process may have moved on")
    if info is not None and info.members and pid is not None:
        comm = next((p.comm for p in info.members if p.pid == pid), None)
        what = f"pid {pid} {comm}" if comm else f"pid {pid}"
    else:
        what = f"pid {pid}" if pid is not None else file
    return ForeignNamespace(lab, joined, info, name or (f"pid{pid}" if pid is not None
                                                         else f"ns:{inode}"), what)
