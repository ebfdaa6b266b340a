"""Typed errors: hints, errno names, and the trip across the helper's socket."""

from __future__ import annotations

import pickle

import pytest

from timens_lab import errors


@pytest.mark.parametrize("cls", [c for c in vars(errors).values()
                                 if isinstance(c, type) and issubclass(c, errors.TimensError)
                                 and c is not errors.TimensError])
def test_every_error_has_a_hint_and_survives_the_wire(cls: type[errors.TimensError]) -> None:
    err = cls("something went wrong", errno=13, pid=42)
    assert err.hint, f"{cls.__name__} has no hint"
    back = errors.from_wire(err.to_wire())
    assert type(back) is cls
    assert (back.message, back.errno, back.context, back.hint) == ("something went wrong", 13,
                                                                    {"pid": 42}, err.hint)
    again = pickle.loads(pickle.dumps(err))
    assert type(again) is cls
    assert str(again) == "something went wrong"


def test_errno_name() -> None:
    assert errors.OffsetsFrozenError("x", errno=13).errno_name == "EACCES"


def test_builtin_categories() -> None:
    assert issubclass(errors.InvalidOffsetError, ValueError)
    assert issubclass(errors.PrivilegeError, PermissionError)
