"""Property tests of the Python API against a real Lab (issue 14, item 11): whatever is passed
to Lab.namespace, set_offsets, Offsets, spawn (argv, stdio, env, cwd), run and enter, the
result is a value or a documented typed error (a TimensError with a hint) — never a raw
TypeError, OSError, KeyError or a traceback from the helper. tests/unit/test_fuzz_input.py
does the same for the parsers and the CLI."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from timens_lab.engine.lab import DEVNULL, PIPE, Child, Lab, TimeNamespace
from timens_lab.errors import TimensError
from timens_lab.offsets import Offsets

pytestmark = pytest.mark.usefixtures("need_timens")

FUZZ = settings(max_examples=400, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

anything = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(),
    st.text(max_size=10), st.binary(max_size=6), st.lists(st.integers(0, 3), max_size=2),
    st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2), st.just(object()),
)
durations = st.one_of(anything, st.sampled_from(["1h", "-5s", "90ms", "1e-9s", "2d3h", "0", 0,
                                                 -1, 1.5, 3600, "1e12y", "-1e9"]))
words = st.one_of(st.text(max_size=8), st.binary(max_size=6),
                  st.sampled_from(["true", "/bin/true", "false", "", "/", "a\0b", "./x"]))
argvs = st.one_of(anything, st.lists(st.one_of(words, anything), min_size=0, max_size=3),
                  st.just(["true"]), st.just(["sh", "-c", "exit 3"]))
stdios = st.one_of(st.none(), st.just(PIPE), st.just(DEVNULL), st.just(-2), anything,
                   st.integers(-5, 2**40))
envs = st.one_of(st.none(), anything, st.dictionaries(words, words, max_size=3))
cwds = st.one_of(st.none(), anything, words, st.just("/tmp"))


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with Lab() as lab:
        yield lab


def typed_or_value(call: Callable[[], Any]) -> Any:
    """Run call(); a TimensError is fine (with its hint), anything else fails the test."""
    try:
        return call()
    except TimensError as err:
        assert err.hint, f"{type(err).__name__} without a hint: {err}"
        return err


def _reap(value: Any) -> None:
    if isinstance(value, Child):
        value.kill()
        value.wait(30)
        for stream in (value.stdin, value.stdout, value.stderr):
            if stream is not None:
                stream.close()
    elif isinstance(value, TimeNamespace):
        value.close()


@FUZZ
@given(mono=durations, boot=durations, rootless=anything, map_root=anything, name=anything)
def test_namespace_arguments(lab: Lab, mono: Any, boot: Any, rootless: Any, map_root: Any,
                             name: Any) -> None:
    _reap(typed_or_value(lambda: lab.namespace(mono, boot, rootless=rootless, map_root=map_root,
                                               name=name)))


@FUZZ
@given(mono=durations, boot=durations, whole=st.one_of(anything, durations))
def test_offsets_and_set_offsets(lab: Lab, mono: Any, boot: Any, whole: Any) -> None:
    typed_or_value(lambda: Offsets(mono, boot))
    ns = lab.namespace()
    try:
        typed_or_value(lambda: ns.set_offsets(mono, boot))
        typed_or_value(lambda: setattr(ns, "offsets", whole))
        typed_or_value(lambda: setattr(ns, "offsets", Offsets(mono, boot)))
    finally:
        ns.close()


@FUZZ
@given(argv=argvs, stdin=stdios, stdout=stdios, stderr=stdios, env=envs, cwd=cwds,
       where=st.sampled_from(["lab", "ns", "run"]))
def test_spawn_arguments(lab: Lab, argv: Any, stdin: Any, stdout: Any, stderr: Any, env: Any,
                         cwd: Any, where: str) -> None:
    # Never hand a child our own pytest pipes: a fuzzed fd is one of these or a closed number.
    def fd(spec: Any) -> Any:
        return DEVNULL if isinstance(spec, int) and not isinstance(spec, bool) and 0 <= spec < 1024 \
            and _is_open(spec) else spec

    kw = {"stdin": fd(stdin), "stdout": fd(stdout), "stderr": fd(stderr), "env": env, "cwd": cwd}
    if where == "ns":
        ns = lab.namespace()
        try:
            _reap(typed_or_value(lambda: ns.spawn(argv, **kw)))
        finally:
            ns.close()
    elif where == "run":
        _reap(typed_or_value(lambda: lab.run(argv, "1h", None, **kw)))
    else:
        _reap(typed_or_value(lambda: lab.spawn(argv, **kw)))


@FUZZ
@given(target=st.one_of(anything, words, st.sampled_from([os.getpid(), "/proc/self/ns/time",
                                                          "/proc/self/ns/user", "/dev/null"])))
def test_enter_targets(lab: Lab, target: Any) -> None:
    joined = typed_or_value(lambda: lab.enter(target))
    if not isinstance(joined, TimensError):
        _reap(typed_or_value(lambda: joined.spawn(["true"])))


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def test_specific_bad_arguments_are_typed(lab: Lab) -> None:
    """The cases of the issue, by name: enter(True) is not pid 1, stdout=10**6 is not EBADF."""
    from timens_lab.errors import ArgumentTypeError, InvalidArgumentError

    with pytest.raises(ArgumentTypeError, match="bool"):
        lab.enter(True)
    with pytest.raises(InvalidArgumentError, match="stdout"):
        lab.spawn(["true"], stdout=10**6)
    with pytest.raises(ArgumentTypeError, match="stdin"):
        lab.spawn(["true"], stdin="file.txt")
    with pytest.raises(InvalidArgumentError, match="NUL"):
        lab.spawn(["echo", "a\0b"])
    with pytest.raises(InvalidArgumentError, match="name"):
        lab.spawn(["true"], env={"A=B": "1"})
    other = Lab()
    try:
        foreign = other.namespace()
        with pytest.raises(ArgumentTypeError, match="parent"):
            lab.namespace(parent=foreign)
    finally:
        other.close()
