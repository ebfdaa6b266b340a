"""procfs readers and the C discovery passes, on fake /proc trees and on our own process."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from timens_lab import kernel
from timens_lab.discovery import procfs

from .fakeproc import INIT_MNT, INIT_TIME, FakeProc, build


class TestParsers:
    def test_ns_link(self) -> None:
        """A namespace link's text gives its type and inode."""
        assert procfs.parse_ns_link("time:[4026531834]") == ("time", 4026531834)

    @pytest.mark.parametrize("text", ["time:4026531834", "time:[]", "time:[12a]", "/dev/null",
                                      "socket:[12] "])
    def test_ns_link_rejects(self, text: str) -> None:
        """Anything else is a ValueError, not a wrong number."""
        with pytest.raises(ValueError, match="not a namespace link"):
            procfs.parse_ns_link(text)

    def test_stat_comm_with_parens_and_spaces(self) -> None:
        """comm may hold ') (' and spaces: the fields after the last ')' still line up."""
        p = FakeProc(pid=42, comm="a) (b c", ppid=7, starttime=987654, threads={43: (1, 1)})
        from .fakeproc import stat_line

        assert procfs.Stat("a) (b c", "S", 7, 2, 987654) == procfs.parse_stat(stat_line(p))

    def test_stat_of_ourselves(self) -> None:
        """Our own stat agrees with os.getppid() and the live thread count."""
        stop = threading.Event()
        t = threading.Thread(target=stop.wait)
        t.start()
        try:
            st = procfs.read_stat("self")
            assert (os.getppid(), len(os.listdir("/proc/self/task"))) == (st.ppid,
                                                                          st.num_threads)
        finally:
            stop.set()
            t.join()

    def test_status_uid_is_effective(self) -> None:
        """The second Uid field (effective) is the one returned."""
        text = "Name:\tx\nUid:\t1000\t0\t1000\t1000\nGid:\t0\t0\t0\t0\n"
        assert procfs.parse_status_uid(text) == 0

    def test_status_uid_of_ourselves(self) -> None:
        """Our status Uid is os.geteuid()."""
        assert os.geteuid() == procfs.read_uid("self")

    def test_status_without_uid(self) -> None:
        """A status text without a Uid line is an error, not uid 0."""
        with pytest.raises(ValueError, match="no Uid"):
            procfs.parse_status_uid("Name:\tx\nXUid:\t5\t5\t5\t5\n")

    def test_mountinfo_unescape(self) -> None:
        r"""Octal escapes (\040 space, \011 tab, \012 newline, \134 backslash) are undone."""
        assert procfs.unescape_mountinfo(r"/tmp/a\040b\011c\012d\134e") == "/tmp/a b\tc\nd\\e"

    def test_mountinfo_nsfs(self) -> None:
        """Only nsfs mounts of the asked type are returned, with their decoded mountpoint."""
        text = (
            "22 1 0:21 / /proc rw,nosuid - proc proc rw\n"
            "42 27 0:4 time:[4026532177] /tmp/my\\040ns rw - nsfs nsfs rw\n"
            "43 27 0:4 net:[4026532000] /run/netns/x rw - nsfs nsfs rw\n"
            "44 27 0:4 time:[4026532180] /run/t shared:5 - nsfs nsfs rw\n"
        )
        assert [procfs.NsfsMount(42, "time", 4026532177, "/tmp/my ns"),
                procfs.NsfsMount(44, "time", 4026532180, "/run/t")] == \
            procfs.parse_mountinfo_nsfs(text)


class TestReadersOnAFakeTree:
    @pytest.fixture
    def proc(self, tmp_path: Path) -> str:
        return build(tmp_path / "proc", [
            FakeProc(pid=1, comm="init", ppid=0),
            FakeProc(pid=50, comm="holder", tfc=4026532200, offsets=(3600, 7200),
                     fds={0: "/dev/null", 3: "time:[4026532300]", 4: "socket:[77]"},
                     threads={51: (INIT_TIME, 4026532400)},
                     mountinfo="42 27 0:4 time:[4026532500] /run/ns rw - nsfs nsfs rw\n"),
        ])

    def test_list_pids_skips_other_entries(self, proc: str) -> None:
        """Numeric directories are processes; 'self' and 'uptime' are not."""
        assert {1, 50} <= set(procfs.list_pids(proc))
        assert not {p for p in procfs.list_pids(proc) if not isinstance(p, int)}

    def test_links(self, proc: str) -> None:
        """ns/time and ns/time_for_children are read separately."""
        links = (procfs.read_ns(50, "time", proc), procfs.read_ns(50, "time_for_children", proc))
        assert links == (INIT_TIME, 4026532200)

    def test_fd_namespaces(self, proc: str) -> None:
        """Only fds on time namespaces are reported, with their inode."""
        assert procfs.fd_namespaces(50, "time", proc) == [(3, 4026532300)]

    def test_threads(self, proc: str) -> None:
        """A thread's own time_for_children is read under task/TID."""
        assert procfs.read_task_ns(50, 51, "time_for_children", proc) == 4026532400

    def test_mounts(self, proc: str) -> None:
        """nsfs bind mounts are read from the process's mountinfo."""
        assert [m.inode for m in procfs.nsfs_mounts(50, "time", proc)] == [4026532500]

    def test_gone_process(self, proc: str) -> None:
        """A vanished pid raises FileNotFoundError (the caller's "gone")."""
        with pytest.raises(FileNotFoundError):
            procfs.read_stat(999, proc)

    def test_c_pass_agrees_with_python_readers(self, proc: str) -> None:
        """kernel.scan_procs (C) reads what the Python readers read, field by field."""
        fd = os.open(proc, os.O_RDONLY | os.O_DIRECTORY)
        try:
            rows = {r.pid: r for r in kernel.scan_procs(fd, [1, 50, 999])}
        finally:
            os.close(fd)
        r = rows[50]
        st = procfs.read_stat(50, proc)
        expected = (0, procfs.read_ns(50, "time", proc),
                    procfs.read_ns(50, "time_for_children", proc), procfs.read_ns(50, "mnt", proc),
                    st.ppid, st.num_threads, st.starttime, st.comm,
                    tuple(procfs.fd_namespaces(50, "time", proc)), os.stat(f"{proc}/50").st_uid)
        assert expected == (r.err, r.time, r.time_for_children, r.mnt, r.ppid, r.num_threads,
                            r.starttime, r.comm, r.fds, r.uid)
        assert r.mnt == INIT_MNT
        assert rows[999].err < 0

    def test_c_pass_without_fds_and_mounts(self, proc: str) -> None:
        """The flags switch the fd and mount reads off."""
        fd = os.open(proc, os.O_RDONLY | os.O_DIRECTORY)
        try:
            (r,) = kernel.scan_procs(fd, [50], fds=False, mounts=False)
        finally:
            os.close(fd)
        assert (r.fds, r.n_fds, r.mnt) == ((), 0, 0)


class TestCPassOnRealProc:
    def test_ourselves(self) -> None:
        """Our own record matches os.stat of the ns files and os.getppid()."""
        fd = os.open("/proc", os.O_RDONLY | os.O_DIRECTORY)
        try:
            (r,) = kernel.scan_procs(fd, [os.getpid()])
        finally:
            os.close(fd)
        assert (0, os.stat("/proc/self/ns/time").st_ino,
                os.stat("/proc/self/ns/time_for_children").st_ino,
                os.stat("/proc/self/ns/mnt").st_ino, os.getppid(),
                procfs.read_stat("self").starttime, procfs.read_comm("self")) == \
            (r.err, r.time, r.time_for_children, r.mnt, r.ppid, r.starttime, r.comm)

    def test_many_time_fds_are_counted(self) -> None:
        """More time-namespace fds than C keeps: n_fds says how many, fds keeps the first."""
        mine = [os.open("/proc/self/ns/time", os.O_RDONLY | os.O_CLOEXEC)
                for _ in range(kernel.MAX_NS_FDS + 2)]
        fd = os.open("/proc", os.O_RDONLY | os.O_DIRECTORY)
        try:
            (r,) = kernel.scan_procs(fd, [os.getpid()])
        finally:
            for f in [*mine, fd]:
                os.close(f)
        assert (len(mine), kernel.MAX_NS_FDS) == (r.n_fds, len(r.fds))
        assert set(mine) >= {f for f, _ in r.fds}
