"""A Lab shared by threads, and a Lab in a forked child (issue 14, items 6 and 7)."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from timens_lab.engine.lab import PIPE, Child, Lab
from timens_lab.errors import LabClosedError, LabForkedError

pytestmark = pytest.mark.usefixtures("need_timens")


def _close_under_load() -> list[str]:
    """One round: 4 threads busy with the Lab, then close() from this one; unexpected errors."""
    lab = Lab()
    errors: list[BaseException] = []
    done = 0
    lock = threading.Lock()
    started = threading.Barrier(5)

    def work() -> None:
        nonlocal done
        started.wait()
        try:
            while True:
                ns = lab.namespace(monotonic="1h")
                ns.set_offsets(boottime="2h")
                assert ns.offsets.monotonic_ns == 3600 * 10**9  # no reply of another thread
                child = ns.spawn(["true"])
                assert child.wait(30) == 0
                lab.run(["true"]).wait(30)
                with lock:
                    done += 1
        except LabClosedError:
            return
        except BaseException as err:  # every other error is the finding
            errors.append(err)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    started.wait()
    deadline = time.monotonic() + 10
    while done < 4 and time.monotonic() < deadline:  # let them get going, under any load
        time.sleep(0.01)
    lab.close()
    for t in threads:
        t.join(30)
    assert not [t for t in threads if t.is_alive()]
    with pytest.raises(LabClosedError):
        lab.namespace()
    return [f"{type(e).__name__}: {e}" for e in errors]


def test_close_from_one_thread_while_others_work_gives_typed_errors_only() -> None:
    """Threads create, spawn, edit and wait while the main thread closes the Lab: each call
    either works or raises LabClosedError (before: raw EBADF, KeyError 'id', crossed replies)."""
    for _ in range(4):
        assert _close_under_load() == []


FORK = textwrap.dedent("""
    import json, os, sys
    from timens_lab.errors import LabForkedError
    from timens_lab.engine.lab import Lab
    lab = Lab()
    helper = lab.helper_pid
    pid = os.fork()
    if pid == 0:
        out = {}
        try:
            lab.namespace()
            out["namespace"] = "worked"
        except LabForkedError as err:
            out["namespace"] = type(err).__name__
        out["closed"] = lab.closed
        lab.close()                       # lets go of the child's copy only
        sys.stdout.write(json.dumps(out) + "\\n")
        sys.stdout.flush()
        sys.exit(0)                       # a normal exit: atexit and finalizers run here
    _, status = os.waitpid(pid, 0)
    child = lab.run(["true"])             # the parent's helper still serves the parent
    print(json.dumps({"status": status, "rc": child.wait(30), "helper": helper,
                      "alive": os.path.exists(f"/proc/{helper}")}))
    lab.close()
""")


def test_a_forked_child_never_touches_the_parents_helper() -> None:
    """After os.fork(), the child's use of the Lab is a typed error and its exit does not shut
    the parent's helper down (before: the child's exit ran the finalizer and the parent then
    got HelperDiedError)."""
    done = subprocess.run([sys.executable, "-c", FORK], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    child, parent = (json.loads(line) for line in done.stdout.splitlines())
    assert child == {"namespace": "LabForkedError", "closed": True}
    assert parent["status"] == 0 and parent["rc"] == 0 and parent["alive"]


def test_fork_while_another_thread_holds_the_lab_busy() -> None:
    """A fork taken while another thread is inside a request (the lock held): the child's
    calls fail fast with LabForkedError instead of waiting on a lock nobody will release."""
    with Lab() as lab:
        stop = threading.Event()

        def busy() -> None:
            while not stop.is_set():
                lab.run(["true"]).wait(30)

        t = threading.Thread(target=busy)
        t.start()
        try:
            time.sleep(0.05)
            r, w = os.pipe()
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the child reports through the pipe
                code = b"?"
                try:
                    lab.spawn(["true"])
                except LabForkedError:
                    code = b"F"
                except BaseException:
                    code = b"X"
                os.write(w, code)
                os._exit(0)
            os.close(w)
            poller = select.poll()
            poller.register(r, select.POLLIN)
            got = os.read(r, 1) if poller.poll(20_000) else b"hung"  # waiting on a dead lock
            os.close(r)
            if got == b"hung":
                os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        finally:
            stop.set()
            t.join(30)
        assert got == b"F"
        out, _ = lab.spawn(["echo", "still mine"], stdout=PIPE).communicate(timeout=30)
        assert out == b"still mine\n"


def _wait_three_times(child: Child) -> list[object]:
    got: list[object] = []

    def wait() -> None:
        try:
            got.append(child.wait(30))
        except BaseException as err:
            got.append(err)

    threads = [threading.Thread(target=wait) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return got


def test_two_threads_waiting_for_one_child_both_get_its_status() -> None:
    """The helper hands a status out once; every waiter gets it, none a 'not started by this
    Lab' error."""
    with Lab() as lab:
        for _ in range(20):
            assert _wait_three_times(lab.spawn(["sh", "-c", "sleep 0.01; exit 7"])) == [7, 7, 7]
