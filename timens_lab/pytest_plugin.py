"""pytest plugin: the ``timens`` fixture runs code in a time namespace with the offsets you give.

Installed with timens-lab (entry point ``pytest11``), so any test can ask for ``timens``::

    def test_uptime_counter_after_49_7_days(timens):
        done = timens.run(["cat", "/proc/uptime"], boottime="49.7d")
        assert float(done.stdout.split()[0]) > 49.7 * 86400

    def uptime_days() -> float:                 # module level: it is pickled by reference
        with open("/proc/uptime") as f:
            return float(f.read().split()[0]) / 86400

    def test_in_python(timens):
        assert timens.call(uptime_days, boottime="49.7d") > 49.7

Each ``run``/``call``/``spawn`` gets a fresh namespace with those offsets (MONOTONIC and BOOTTIME
only: time namespaces never shift REALTIME), started by a :class:`~timens_lab.engine.lab.Lab` that the
fixture closes at teardown, killing whatever is still running. Rootless by default (a user
namespace too, so tests need no root): set ``timens_rootless = false`` in the pytest ini to use
plain CLONE_NEWTIME as root. Where time namespaces are unavailable (no ``CONFIG_TIME_NS``, user
namespaces disabled, a container's seccomp profile, ``TIMENS_LAB_MODE=replay``) the test is
*skipped* with the probe's reason and hint (``timens-lab probe`` says the same).

``call`` runs a function in a new Python process inside the namespace (the interpreter running
pytest, with its ``sys.path``): arguments and the result travel by pickle, an exception raised
there is raised again here, and what the function prints goes to stderr.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .engine.child import Child
    from .engine.lab import Lab
    from .engine.namespace import TimeNamespace

Duration = str | int | float | None

# Runs inside the namespace: read (fn, args, kwargs) from stdin, run it, pickle the outcome to
# the original stdout; the function's own prints go to stderr so they cannot corrupt it.
_BOOTSTRAP = """\
import os, pickle, sys
out = os.fdopen(os.dup(1), "wb")
os.dup2(2, 1)
fn, args, kwargs = pickle.load(sys.stdin.buffer)
try:
    result = ("ok", fn(*args, **kwargs))
except BaseException as err:
    result = ("raised", err)
try:
    data = pickle.dumps(result)
except Exception as err:
    data = pickle.dumps(("unpicklable", f"{type(err).__name__}: {err}"))
out.write(data)
out.flush()
"""


class CallError(RuntimeError):
    """``timens.call`` could not run the function or bring its result back."""


class TimensFixture:
    """What the ``timens`` fixture gives a test (one Lab, closed at teardown)."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab

    def namespace(self, monotonic: Duration = None, boottime: Duration = None) -> TimeNamespace:
        """A pending namespace of this Lab (offsets editable until something enters it)."""
        return self.lab.namespace(monotonic, boottime)

    def spawn(self, argv: Sequence[str | os.PathLike[str]], *, monotonic: Duration = None,
              boottime: Duration = None, **kw: Any) -> Child:
        """Start ``argv`` (e.g. a daemon under test) in a new namespace; killed at teardown.
        Keywords as :meth:`Lab.run` / subprocess.Popen: stdin, stdout, stderr, env, cwd."""
        return self.lab.run(argv, monotonic, boottime, **kw)

    def run(self, argv: Sequence[str | os.PathLike[str]], *, monotonic: Duration = None,
            boottime: Duration = None, input: bytes | str | None = None, timeout: float = 60,
            check: bool = False, text: bool = True, env: Mapping[str, str] | None = None,
            cwd: str | os.PathLike[str] | None = None) -> subprocess.CompletedProcess[Any]:
        """Run ``argv`` to completion in a new namespace, like ``subprocess.run`` with
        ``capture_output=True`` (``text=True`` by default)."""
        from .engine.lab import PIPE

        child = self.lab.run(argv, monotonic, boottime, stdin=PIPE if input is not None else None,
                             stdout=PIPE, stderr=PIPE, env=env, cwd=cwd)
        data = input.encode() if isinstance(input, str) else input
        try:
            out, err = child.communicate(data, timeout=timeout)
        except TimeoutError:
            child.kill()
            child.wait()
            raise
        args = [os.fspath(a) for a in argv]
        done: subprocess.CompletedProcess[Any] = subprocess.CompletedProcess(
            args, child.returncode, (out or b"").decode() if text else out,
            (err or b"").decode() if text else err)
        if check:
            done.check_returncode()
        return done

    def call(self, fn: Callable[..., Any], /, *args: Any, monotonic: Duration = None,
             boottime: Duration = None, timeout: float = 60, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)`` in a new Python process inside a new namespace; its result.

        Raises:
            whatever ``fn`` raised (pickled back);
            CallError: ``fn`` or its result cannot be pickled, or the process died.
        """
        try:
            payload = pickle.dumps((fn, args, kwargs))
        except Exception as err:
            raise CallError(f"cannot send {fn!r} to the namespace: {err} (define it at module "
                            "level, not as a lambda or a nested function)") from err
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        done = self.run([sys.executable, "-c", _BOOTSTRAP], monotonic=monotonic,
                        boottime=boottime, input=payload, timeout=timeout, text=False, env=env)
        try:
            # Trusted: our own child, running the test's own function, sent it (the pipe is
            # private to this process and that child).
            kind, value = pickle.loads(done.stdout)  # noqa: S301
        except Exception as err:
            stderr = (done.stderr or b"").decode(errors="replace").strip()[-2000:]
            raise CallError(f"{fn!r} in the namespace exited with status {done.returncode} and "
                            f"no result: {stderr or 'no output'}") from err
        if kind == "raised":
            raise value
        if kind == "unpicklable":
            raise CallError(f"the result of {fn!r} cannot be pickled back: {value}")
        return value


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("timens_rootless", type="bool", default=True,
                  help="timens fixture: create a user namespace too (default true; false needs "
                       "root)")


def _skip_reason(rootless: bool) -> str | None:
    from .probing.check import probe

    result = probe()
    if not result.time_namespaces:
        hint = f" (hint: {result.hint})" if result.hint else ""
        return f"time namespaces unavailable: {result.reason}{hint}"
    name = "timens_rootless" if rootless else "timens_root"
    try:
        check = result.check(name)
    except KeyError:
        return None
    if check.ok is False or (check.ok is None and not rootless):
        hint = f" (hint: {check.hint})" if check.hint else ""
        how = "rootless" if rootless else "as root (timens_rootless = false)"
        return f"time namespaces unavailable {how}: {check.detail}{hint}"
    return None


@pytest.fixture
def timens(request: pytest.FixtureRequest) -> Iterator[TimensFixture]:
    """Run commands and Python callables in time namespaces with chosen offsets (see
    timens_lab.pytest_plugin); skipped with the probe's reason where that is impossible."""
    rootless = bool(request.config.getini("timens_rootless"))
    reason = _skip_reason(rootless)
    if reason:
        pytest.skip(reason)
    from .engine.lab import Lab

    lab = Lab(rootless=rootless)
    try:
        yield TimensFixture(lab)
    finally:
        lab.close()
