"""A fake /proc tree under tmp_path for discovery's unit tests (no privilege, no namespaces).

Namespace links are real symlinks whose *text* is ``time:[N]``, as in procfs; they dangle, so
opening them fails and discovery must say it could not (which the tests check too).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

INIT_TIME = 4026531834
INIT_MNT = 4026531841
INIT_USER = 4026531837


@dataclasses.dataclass
class FakeProc:
    pid: int
    comm: str = "sleep"
    ppid: int = 1
    time: int = INIT_TIME
    tfc: int | None = None               # None: same as time
    mnt: int = INIT_MNT
    starttime: int = 100
    uid: int = 0
    threads: dict[int, tuple[int, int]] = dataclasses.field(default_factory=dict)  # tid→(t, tfc)
    fds: dict[int, str] = dataclasses.field(default_factory=dict)   # fd → link text
    offsets: tuple[int, int] = (0, 0)    # of its time_for_children namespace, in seconds
    mountinfo: str = ""


def stat_line(p: FakeProc) -> str:
    """A /proc/PID/stat line with every field the kernel prints (52), values where we read."""
    fields = ["S", str(p.ppid), "1", "1", "0", "-1", "4194560", "0", "0", "0", "0", "0", "0",
              "0", "0", "20", "0", str(1 + len(p.threads)), "0", str(p.starttime)]
    fields += ["0"] * (52 - 2 - len(fields))
    return f"{p.pid} ({p.comm}) {' '.join(fields)}\n"


def build(root: Path, procs: list[FakeProc], self_pid: int | None = None,
          self_user: int = INIT_USER) -> str:
    """Write the tree; returns the proc root as str. ``self`` links to ``self_pid``."""
    root.mkdir(parents=True, exist_ok=True)
    for p in procs:
        write(root, p)
    me = self_pid if self_pid is not None else procs[0].pid
    os.symlink(str(me), root / "self")
    os.symlink(f"user:[{self_user}]", root / str(me) / "ns" / "user")
    (root / "uptime").write_text("1.00 1.00\n")  # a non-pid entry list_pids must skip
    return str(root)


def write(root: Path, p: FakeProc) -> None:
    d = root / str(p.pid)
    (d / "ns").mkdir(parents=True)
    tfc = p.time if p.tfc is None else p.tfc
    os.symlink(f"time:[{p.time}]", d / "ns" / "time")
    os.symlink(f"time:[{tfc}]", d / "ns" / "time_for_children")
    os.symlink(f"mnt:[{p.mnt}]", d / "ns" / "mnt")
    (d / "stat").write_text(stat_line(p))
    (d / "comm").write_text(p.comm + "\n")
    (d / "status").write_text(f"Name:\t{p.comm}\nUmask:\t0022\nState:\tS (sleeping)\n"
                              f"Uid:\t{p.uid}\t{p.uid}\t{p.uid}\t{p.uid}\nGid:\t0\t0\t0\t0\n")
    mono, boot = p.offsets
    (d / "timens_offsets").write_text(f"monotonic  {mono:>10} {0:>9}\n"
                                      f"boottime   {boot:>10} {0:>9}\n")
    (d / "mountinfo").write_text(p.mountinfo)
    (d / "fd").mkdir()
    for fd, target in p.fds.items():
        os.symlink(target, d / "fd" / str(fd))
    (d / "task" / str(p.pid) / "ns").mkdir(parents=True)
    for tid, (t, c) in p.threads.items():
        (d / "task" / str(tid) / "ns").mkdir(parents=True)
        os.symlink(f"time:[{t}]", d / "task" / str(tid) / "ns" / "time")
        os.symlink(f"time:[{c}]", d / "task" / str(tid) / "ns" / "time_for_children")
        # /proc/TID also resolves for threads (proc_pid_lookup): the thread's own view.
        tdir = root / str(tid)
        (tdir / "ns").mkdir(parents=True)
        os.symlink(f"time:[{c}]", tdir / "ns" / "time_for_children")
        (tdir / "timens_offsets").write_text(f"monotonic  {mono + 1:>10} {0:>9}\n"
                                             f"boottime   {boot + 1:>10} {0:>9}\n")


def remove(root: Path, pid: int) -> None:
    import shutil

    shutil.rmtree(root / str(pid))
