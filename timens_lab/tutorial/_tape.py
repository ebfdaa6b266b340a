"""Tapes: record what a notebook's kernel work returned, and play it back where the kernel says no.

The tutorial notebooks use the real API (``lab.namespace(...)``, ``ns.spawn(...)``) and the
tutorial's experiments (``T.clocks(ns)``). On a machine without time namespaces (or with
``TIMENS_LAB_MODE=replay``) those calls cannot run, yet every notebook must still execute and
check its claims. So each notebook has a *tape*: recorded once on a real kernel, it holds, in
order, every value that the Lab objects and the experiments returned (or the error they raised).
In replay mode the Lab is a stand-in that answers from the tape; the claims are then checked
against the recorded values, and the banner says so.

Three modes: ``live`` (no tape at all: the real objects, zero overhead), ``record`` (real
objects behind a recording proxy; ``TIMENS_LAB_TAPE=record``) and ``replay``. A replay that
meets a call the recording did not make stops with :class:`TapeMismatch`, which says how to
re-record: a tape is only valid for the notebook as it was recorded.
"""

from __future__ import annotations

import base64
import builtins
import contextvars
import dataclasses
import functools
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar

from ..errors import TimensError, from_wire

Mode = Literal["live", "record", "replay"]
F = TypeVar("F", bound=Callable[..., Any])

#: Where tapes live: package data, so an installed timens-lab replays too.
TAPE_DIR = Path(__file__).resolve().parents[1] / "data"
#: Lab objects that are recorded as objects (a proxy per instance), not as values.
PROXIED = ("Lab", "TimeNamespace", "JoinedNamespace", "Child")
RECORD_HINT = ("re-record the tape as root on a machine with time namespaces: "
               "python scripts/run_notebook.py --mode record notebooks/NOTEBOOK.ipynb")

_registry: dict[str, type] = {}
_active: contextvars.ContextVar[Tape | None] = contextvars.ContextVar("tape", default=None)
_depth: contextvars.ContextVar[int] = contextvars.ContextVar("tape_depth", default=0)


class TapeMismatch(TimensError):
    """Replay met a call the recording does not have at this point."""

    hint = ("replay plays the recording in order: restart the kernel and run all cells; if the "
            "notebook changed, " + RECORD_HINT)


def tape_path(name: str) -> Path:
    return TAPE_DIR / f"tutorial-{name}.json"


def result(cls: type) -> type:
    """Register a dataclass as a value a tape may hold (experiments' results)."""
    _registry[cls.__name__] = cls
    return cls


class Tape:
    """The ordered events of one notebook run."""

    def __init__(self, name: str, mode: Mode, meta: dict[str, Any] | None = None,
                 events: list[dict[str, Any]] | None = None) -> None:
        self.name = name
        self.mode: Mode = mode
        self.meta = meta or {}
        self.events = events or []
        self.pos = 0
        self._names: dict[int, tuple[str, Any]] = {}   # id(real object) -> (name, object)
        self._counts: dict[str, int] = {}

    # --- files

    @classmethod
    def load(cls, name: str) -> Tape:
        path = tape_path(name)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError as err:
            raise TapeMismatch(f"no recording for notebook {name!r} ({path})",
                               hint=RECORD_HINT) from err
        return cls(name, "replay", data.get("meta", {}), data["events"])

    def save(self) -> Path:
        path = tape_path(self.name)
        text = json.dumps({"meta": self.meta, "events": self.events}, indent=0,
                          separators=(",", ":"))
        path.write_text(text + "\n")
        return path

    # --- events

    def put(self, key: str, sig: str, **event: Any) -> None:
        self.events.append({"k": key, "a": sig, **event})

    def take(self, key: str, sig: str) -> dict[str, Any]:
        if self.pos >= len(self.events):
            raise TapeMismatch(f"the recording ends before {key}({sig})")
        ev = self.events[self.pos]
        if ev["k"] != key or ev["a"] != sig:
            raise TapeMismatch(f"the recording has {ev['k']}({ev['a']}) where this run asks "
                               f"for {key}({sig}) (event {self.pos})")
        self.pos += 1
        return ev

    @property
    def finished(self) -> bool:
        return self.pos >= len(self.events)

    def name_for(self, obj: Any) -> str:
        """A stable name for a Lab object: lab, ns1, child3 ... (the same object, the same name)."""
        known = self._names.get(id(obj))
        if known is not None and known[1] is obj:
            return known[0]
        kind = {"TimeNamespace": "ns", "JoinedNamespace": "joined", "Child": "child",
                "Lab": "lab"}[type(obj).__name__]
        self._counts[kind] = self._counts.get(kind, 0) + 1
        name = kind if kind == "lab" and self._counts[kind] == 1 else f"{kind}{self._counts[kind]}"
        self._names[id(obj)] = (name, obj)
        return name


def active() -> Tape | None:
    return _active.get()


def activate(tape: Tape | None) -> None:
    _active.set(tape)


# --- values ------------------------------------------------------------------------------------

def encode(value: Any, tape: Tape) -> Any:
    """A JSON-able form of a return value (Lab objects become references)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if type(value).__name__ in PROXIED and type(value).__module__.startswith("timens_lab"):
        return {"$obj": tape.name_for(value)}
    if isinstance(value, Proxy):
        return {"$obj": value._name}
    if isinstance(value, bytes):
        return {"$b": base64.b64encode(value).decode()}
    if isinstance(value, tuple):
        return {"$t": [encode(v, tape) for v in value]}
    if isinstance(value, list):
        return [encode(v, tape) for v in value]
    if isinstance(value, dict):
        return {"$d": [[encode(k, tape), encode(v, tape)] for k, v in value.items()]}
    if type(value).__name__ == "ndarray":
        import numpy as np

        buf = io.BytesIO()
        np.save(buf, value, allow_pickle=False)
        return {"$nd": base64.b64encode(buf.getvalue()).decode()}
    if dataclasses.is_dataclass(value) and type(value).__name__ in _registry | {"Offsets": 0}:
        fields = {f.name: encode(getattr(value, f.name), tape) for f in dataclasses.fields(value)}
        return {"$dc": type(value).__name__, "f": fields}
    return {"$opaque": repr(value)}


def decode(value: Any, tape: Tape) -> Any:
    if isinstance(value, list):
        return [decode(v, tape) for v in value]
    if not isinstance(value, dict):
        return value
    if "$obj" in value:
        return Proxy(tape, value["$obj"], None)
    if "$b" in value:
        return base64.b64decode(value["$b"])
    if "$t" in value:
        return tuple(decode(v, tape) for v in value["$t"])
    if "$d" in value:
        return {decode(k, tape): decode(v, tape) for k, v in value["$d"]}
    if "$nd" in value:
        import numpy as np

        return np.load(io.BytesIO(base64.b64decode(value["$nd"])), allow_pickle=False)
    if "$dc" in value:
        if value["$dc"] == "Offsets":
            from ..offsets import Offsets

            return Offsets(**{k: decode(v, tape) for k, v in value["f"].items()})
        cls = _registry[value["$dc"]]
        return cls(**{k: decode(v, tape) for k, v in value["f"].items()})
    if "$opaque" in value:
        return _Opaque(value["$opaque"])
    return value


def encode_error(err: BaseException) -> dict[str, Any]:
    if isinstance(err, TimensError):
        return {"timens": err.to_wire()}
    if isinstance(err, OSError) and err.errno is not None:
        return {"os": [err.errno, err.strerror or "", err.filename]}
    return {"exc": [type(err).__name__, str(err)]}


def decode_error(data: dict[str, Any]) -> BaseException:
    if "timens" in data:
        return from_wire(data["timens"])
    if "os" in data:
        code, text, filename = data["os"]
        return OSError(code, text, filename)  # the right subclass (PermissionError, ...)
    name, text = data["exc"]
    cls = getattr(builtins, name, None)
    if isinstance(cls, type) and issubclass(cls, Exception):
        return cls(text)
    return RuntimeError(f"{name}: {text}")


def signature(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """Arguments as a stable string (Lab objects by name) to tell a changed call apart."""
    def norm(v: Any) -> Any:
        if isinstance(v, Proxy):
            return f"<{v._name}>"
        if isinstance(v, list | tuple):
            return [norm(x) for x in v]
        if isinstance(v, dict):
            return {str(k): norm(x) for k, x in v.items()}
        if isinstance(v, bytes | str | int | float | bool) or v is None:
            return v if not isinstance(v, bytes) else v.decode("latin-1")
        return repr(v)

    return json.dumps([norm(list(args)), norm(kwargs)], sort_keys=True, default=repr)[:400]


def unwrap(value: Any) -> Any:
    if isinstance(value, Proxy):
        return value._real
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    if isinstance(value, tuple):
        return tuple(unwrap(v) for v in value)
    if isinstance(value, dict):
        return {k: unwrap(v) for k, v in value.items()}
    return value


# --- the proxy -----------------------------------------------------------------------------------

class Proxy:
    """A Lab object seen through a tape: recording (``_real`` set) or replaying (``_real`` None)."""

    __slots__ = ("_name", "_real", "_tape")

    def __init__(self, tape: Tape, name: str, real: Any) -> None:
        object.__setattr__(self, "_tape", tape)
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_real", real)

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("_"):  # IPython's _repr_*_ probes, dunders: not part of the API
            raise AttributeError(attr)
        key = f"{self._name}.{attr}"
        tape = self._tape
        if tape.mode == "replay":
            ev = tape.take(key, "")
            if ev["t"] == "method":
                return functools.partial(_call_replay, tape, key)
            return _replayed(ev, tape)
        try:
            value = getattr(self._real, attr)
        except Exception as err:
            tape.put(key, "", t="raise", e=encode_error(err))
            raise
        if callable(value) and type(value).__name__ not in PROXIED:
            tape.put(key, "", t="method")
            return functools.partial(_call_record, tape, key, value)
        tape.put(key, "", t="value", v=encode(value, tape))
        return wrap(value, tape)

    def __setattr__(self, attr: str, value: Any) -> None:
        key, sig = f"{self._name}.{attr}=", signature((value,), {})
        tape = self._tape
        if tape.mode == "replay":
            _replayed(tape.take(key, sig), tape)
            return
        try:
            setattr(self._real, attr, unwrap(value))
        except Exception as err:
            tape.put(key, sig, t="raise", e=encode_error(err))
            raise
        tape.put(key, sig, t="value", v=None)

    def __repr__(self) -> str:
        tape = self._tape
        if tape.mode == "replay":
            return str(_replayed(tape.take(f"{self._name}.__repr__", ""), tape))
        text = repr(self._real)
        tape.put(f"{self._name}.__repr__", "", t="value", v=text)
        return text

    def __enter__(self) -> Proxy:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._real is not None:
            self._real.__exit__(*exc)


def wrap(value: Any, tape: Tape) -> Any:
    """Real return values, with Lab objects behind recording proxies."""
    if type(value).__name__ in PROXIED and type(value).__module__.startswith("timens_lab"):
        return Proxy(tape, tape.name_for(value), value)
    if isinstance(value, list):
        return [wrap(v, tape) for v in value]
    if isinstance(value, tuple):
        return tuple(wrap(v, tape) for v in value)
    return value


def _call_record(tape: Tape, key: str, method: Callable[..., Any], *args: Any, **kw: Any) -> Any:
    sig = signature(args, kw)
    token = _depth.set(_depth.get() + 1)
    try:
        value = method(*unwrap(args), **unwrap(kw))
    except Exception as err:
        tape.put(key + "()", sig, t="raise", e=encode_error(err))
        raise
    finally:
        _depth.reset(token)
    tape.put(key + "()", sig, t="value", v=encode(value, tape))
    return wrap(value, tape)


def _call_replay(tape: Tape, key: str, *args: Any, **kw: Any) -> Any:
    return _replayed(tape.take(key + "()", signature(args, kw)), tape)


def _replayed(ev: dict[str, Any], tape: Tape) -> Any:
    if ev["t"] == "raise":
        raise decode_error(ev["e"])
    return decode(ev.get("v"), tape)


class _Opaque:
    """A recorded value that could not be stored (a file object...): its repr only."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text

    def __getattr__(self, attr: str) -> Any:
        raise TapeMismatch(f"{self.text} was not recorded, only its repr; use it in live mode")


def taped(fn: F) -> F:
    """Record an experiment's result (or error) on the active tape; replay it from there.

    Calls made *inside* a taped call are not taped themselves: only what the notebook sees.
    """
    @functools.wraps(fn)
    def wrapper(*args: Any, **kw: Any) -> Any:
        tape = _active.get()
        if tape is None or tape.mode == "live" or _depth.get() > 0:
            return fn(*unwrap(args), **unwrap(kw))
        key, sig = f"T.{fn.__name__}", signature(args, kw)
        if tape.mode == "replay":
            return _replayed(tape.take(key, sig), tape)
        token = _depth.set(_depth.get() + 1)
        try:
            value = fn(*unwrap(args), **unwrap(kw))
        except Exception as err:
            tape.put(key, sig, t="raise", e=encode_error(err))
            raise
        finally:
            _depth.reset(token)
        tape.put(key, sig, t="value", v=encode(value, tape))
        return wrap(value, tape)

    return wrapper  # type: ignore[return-value]
