"""What the probe reports and the facts it reasons from: plain data and pure parsers.

:mod:`.check` gathers the facts and runs the live attempt, :mod:`.rules` turns them into checks
and a verdict; both import this module, and it imports neither (no circle between them).
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any, Literal

from ..linux import CAP_SYS_ADMIN

Mode = Literal["root", "rootless", "unavailable"]

#: Environment variable that selects the run mode (README: "From Python").
MODE_ENV = "TIMENS_LAB_MODE"
#: Modes that never touch the kernel: the probe reports "unavailable" without trying.
FORCED_MODES = frozenset({"replay"})
#: Time namespaces were merged in 5.6 ("ns: Introduce Time Namespace", 769071ac9f20).
MIN_KERNEL = (5, 6)
#: exec() switches to time_for_children since 6.2 (2b5f9dad32ed, "fs/exec: switch timens when a
#: task gets a new mm").
EXEC_SEMANTICS_KERNEL = (6, 2)
_INITIAL_UID_MAP = ("0", "0", "4294967295")


@dataclasses.dataclass(frozen=True, slots=True)
class Check:
    """One line of the probe: ``ok`` is True, False, or None (not applicable / skipped).

    ``required`` is False for features timens-lab can do without (exec semantics, clone3,
    NS_GET_ID): their absence is shown as "no", not as a failure.
    """

    name: str
    ok: bool | None
    detail: str
    hint: str = ""
    required: bool = True


@dataclasses.dataclass(frozen=True, slots=True)
class ProbeResult:
    """The probe's verdict, its evidence (``checks``) and how long it took."""

    time_namespaces: bool
    mode: Mode
    kernel: str
    reason: str
    hint: str
    checks: list[Check]
    elapsed_ms: float = 0.0

    def check(self, name: str) -> Check:
        """The check called ``name`` (KeyError if there is none)."""
        for item in self.checks:
            if item.name == name:
                return item
        raise KeyError(name)

    def summary(self) -> str:
        """One line for a CLI footer or a notebook banner."""
        if self.time_namespaces:
            return f"time namespaces: usable ({self.mode})"
        return f"time namespaces: unavailable: {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent)


# --- pure parsers ------------------------------------------------------------------------------

_VERSION = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?")


def parse_kernel_version(release: str) -> tuple[int, int, int] | None:
    """``"6.18.44-fc-v657"`` → (6, 18, 44); ``"6.8.0-rc3+"`` → (6, 8, 0); junk → None."""
    m = _VERSION.match(release.strip())
    if not m:
        return None
    return int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)


@dataclasses.dataclass(frozen=True, slots=True)
class Status:
    """The lines of /proc/PID/status the probe needs (proc(5))."""

    euid: int
    cap_eff: int
    seccomp: int | None  # 0 disabled, 1 strict, 2 filter; None: kernel without CONFIG_SECCOMP
    seccomp_filters: int | None

    def has_cap(self, cap: int) -> bool:
        return bool(self.cap_eff >> cap & 1)


def parse_status(text: str) -> Status:
    """Parse /proc/PID/status (proc(5)): ``Uid:`` (real, effective…), ``CapEff:``, ``Seccomp:``."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key] = value.strip()
    uids = fields.get("Uid", "").split()
    if len(uids) < 2 or "CapEff" not in fields:
        raise ValueError("not a /proc/PID/status text: no Uid or CapEff line")

    def number(key: str) -> int | None:
        return int(fields[key]) if fields.get(key, "").isdigit() else None

    return Status(euid=int(uids[1]), cap_eff=int(fields["CapEff"], 16),
                  seccomp=number("Seccomp"), seccomp_filters=number("Seccomp_filters"))


# --- facts: what /proc says, without trying anything -------------------------------------------

@dataclasses.dataclass(frozen=True, slots=True)
class Facts:
    release: str
    version: tuple[int, int, int] | None
    time_ns: str | None  # readlink /proc/self/ns/time; None: no CONFIG_TIME_NS
    status: Status
    uid_map: str | None  # None: unreadable; "0 0 4294967295" is the initial user namespace
    sysctls: dict[str, int | None]  # None: not present on this kernel
    env_mode: str = ""
    proc_mounted: bool = True

    @property
    def privileged(self) -> bool:
        return self.status.has_cap(CAP_SYS_ADMIN)

    @property
    def initial_userns(self) -> bool | None:
        return None if self.uid_map is None else tuple(self.uid_map.split()) == _INITIAL_UID_MAP

    def sysctl_cmd(self, *assignments: str) -> str:
        """``sysctl -w a=1 b=2`` (with sudo unless we are root), one command for several values."""
        return ("" if self.status.euid == 0 else "sudo ") + "sysctl -w " + " ".join(assignments)
