"""Facts of the Linux ABI that need no compiled binding: fixed inode numbers, capability bits.

Kept apart from kernel.py (the one importer of the compiled ``lib``) so that pure-data modules
(discovery records, recordings, tree models) can name them without loading the extension.
"""

from __future__ import annotations

from typing import Final

#: PROC_TIME_INIT_INO / PROC_USER_INIT_INO (include/linux/proc_ns.h): the inodes of the initial
#: time and user namespaces, the same on every boot. Every process is a member of the first.
INIT_TIME_INODE: Final = 0xEFFFFFFA
INIT_USER_INODE: Final = 0xEFFFFFFD

#: Capability bits (include/uapi/linux/capability.h).
CAP_SYS_ADMIN: Final = 21
CAP_SYS_TIME: Final = 25


def has_effective_cap(cap: int, status_path: str = "/proc/self/status") -> bool:
    """Whether ``cap`` is in our effective set (CapEff in proc(5)); root in a default Docker
    container lacks CAP_SYS_ADMIN and must go rootless like any user."""
    try:
        with open(status_path) as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> cap & 1)
    except OSError:
        pass
    return False
