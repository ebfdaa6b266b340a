"""Shell sessions for the tutorial notebooks: real commands, run visibly, recorded for replay.

Notebooks 08 and 09 show time namespaces with the tools a learner can reuse (util-linux
``unshare``/``nsenter``, ``crun``, ``cc``, ``faketime``) before timens-lab. Each command is one
visible call::

    from timens_lab.tutorial.shell import Scratch, sh
    work = Scratch()                                   # a private temporary directory
    sh(["unshare", "--time=timens", "--boottime=86400", "true"], cwd=work)

``sh`` prints ``$ command`` and its output as it arrives, and returns a :class:`Shell`. Like
the tutorial's other experiments it is taped (tutorial/_tape.py): recorded with the notebook,
played back in replay mode, so a replayed notebook prints the same session. A :class:`Scratch`
directory stands for its path in the recording (``cwd=work``, ``work / "bundle"``, or inside
``env``), so a recording made in one temporary directory replays in another.

``fallback=True`` lets a live run without the program (no crun here, say) show what the
recording printed instead, saying so: "live where the tool is installed, replayed otherwise".
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from ._tape import active, result, signature, tape_path, taped

#: A C-locale environment for tools whose output the notebooks parse.
BASE_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "LC_ALL": "C", "TZ": "UTC"}


class Scratch:
    """A private temporary directory (or a folder inside one), recorded by its name only."""

    def __init__(self, _root: Path | None = None, _rel: str = "") -> None:
        self._root = _root if _root is not None else Path(
            tempfile.mkdtemp(prefix="timens-lab-nb-"))
        self._rel = _rel
        if _root is None:
            self._root.chmod(0o755)   # containers started as another uid must read the bundle
            # A notebook stopped by a failing cell never reaches work.remove(): the kernel's
            # exit still removes the directory.
            atexit.register(shutil.rmtree, self._root, ignore_errors=True)

    @property
    def path(self) -> Path:
        return self._root / self._rel if self._rel else self._root

    def __truediv__(self, name: str) -> Scratch:
        return Scratch(self._root, f"{self._rel}/{name}".lstrip("/"))

    def __fspath__(self) -> str:
        return str(self.path)

    def __str__(self) -> str:
        return str(self.path)

    def __repr__(self) -> str:   # what a recording keeps: stable across runs and machines
        return f"Scratch({self._rel!r})" if self._rel else "Scratch()"

    def remove(self) -> None:
        """Delete the whole temporary directory (its mounts must be gone first)."""
        shutil.rmtree(self._root, ignore_errors=True)


@result
@dataclasses.dataclass(frozen=True)
class Shell:
    """One command's run: what it printed, how it exited, how long it took."""

    argv: list[str]
    returncode: int
    out: str
    err: str
    seconds: float
    replayed: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def lines(self) -> list[str]:
        return self.out.splitlines()

    def json(self) -> Any:
        return json.loads(self.out)

    def __repr__(self) -> str:
        status = "" if self.ok else f"[exit {self.returncode}]\n"
        return f"$ {shlex.join(self.argv)}\n{self.out}{self.err}{status}".rstrip("\n")


def _text(value: Any) -> str:
    return str(value) if isinstance(value, Scratch) else value


def _argv(argv: Sequence[Any]) -> list[str]:
    """``timens-lab`` means this interpreter's timens-lab (the kernel's venv may not be on PATH)."""
    out = [_text(a) for a in argv]
    if out and out[0] == "timens-lab":
        out[:1] = [sys.executable, "-m", "timens_lab"]
    return out


@taped
def _run(argv: list[Any], cwd: Any, env: Mapping[str, Any] | None, timeout: float,
         quiet: bool) -> Shell:
    real_env = {**BASE_ENV, **{k: _text(v) for k, v in (env or {}).items()}}
    shown = [str(a) for a in argv]
    if not quiet:
        print("$", shlex.join(shown), flush=True)
    start = time.monotonic()
    # Output goes to a file, not a pipe: a command that leaves a daemon behind (crun run
    # --detach) hands it its stdout, and a pipe would then never reach EOF.
    with tempfile.TemporaryFile() as sink:
        try:
            proc = subprocess.Popen(_argv(argv), cwd=_text(cwd), env=real_env,
                                    stdin=subprocess.DEVNULL, stdout=sink,
                                    stderr=subprocess.STDOUT)
        except FileNotFoundError as err:
            return Shell(shown, 127, "", f"{err.filename}: command not found\n", 0.0)
        data, pending = b"", b""
        deadline = start + timeout
        while True:
            rc = proc.poll()
            chunk = os.pread(sink.fileno(), 65536, len(data))
            data += chunk
            pending += chunk
            *lines, pending = pending.split(b"\n")
            if not quiet:        # printed as it comes: the learner watches it happen
                for line in lines:
                    print(line.decode(errors="replace"), flush=True)
            if rc is not None and not chunk:
                break
            if rc is None and time.monotonic() > deadline:
                proc.kill()
            if not chunk:
                time.sleep(0.02)
        if pending and not quiet:
            print(pending.decode(errors="replace"), flush=True)
    out = data.decode(errors="replace")
    return Shell(shown, proc.returncode, out, "", round(time.monotonic() - start, 3))


def sh(argv: Sequence[Any], *, cwd: Any = None, env: Mapping[str, Any] | None = None,
       timeout: float = 30.0, quiet: bool = False, fallback: bool = False,
       recorded: bool = False, tool: str | None = None) -> Shell:
    """Run ``argv`` (a list, never a shell string) on the host, print it, return a Shell.

    stderr is merged into the output, as a terminal shows it. The environment is C-locale UTC
    with a plain PATH, plus ``env``. In a live run, ``fallback`` answers from this notebook's
    recording when the program is not installed here, and ``recorded`` always does (the tool is
    there but cannot run here); both say so. ``tool`` names the program when ``argv`` starts
    with a wrapper, so a recording made with the wrapper still answers a run without it.
    """
    argv = list(argv)
    tape = active()
    if (tape is None or tape.mode == "live") and (recorded or (fallback and shutil.which(
            _argv(argv)[0], path=BASE_ENV["PATH"]) is None)):
        return _from_recording(argv, cwd, env, timeout, quiet, tool)
    done = _run(argv, cwd, env, timeout, quiet)
    if tape is not None and tape.mode == "replay" and not quiet:
        print(repr(done), flush=True)
    return done


# --- a live run without the tool: the recording's answer -----------------------------------------

class _Recorded:
    """The recorded ``_run`` results of the running notebook, by call (each used once)."""

    notebook: ClassVar[str | None] = None
    events: ClassVar[list[dict[str, Any]]] = []


def use_recording_of(notebook: str) -> None:
    """Name the notebook whose recording ``fallback=True`` answers from (its T.begin name)."""
    _Recorded.notebook = notebook
    _Recorded.events = []
    with contextlib.suppress(FileNotFoundError):
        _Recorded.events = [ev for ev in json.loads(tape_path(notebook).read_text())["events"]
                            if ev.get("k") == "T._run" and ev.get("t") == "value"]


def _tail(argv: list[str], tool: str | None) -> list[str]:
    return argv[argv.index(tool):] if tool in argv else argv


def _from_recording(argv: list[Any], cwd: Any, env: Any, timeout: float, quiet: bool,
                    tool: str | None) -> Shell:
    """The latest unused recorded run of the same command (after any wrapper before ``tool``).

    The latest, because a notebook that runs a command live early on and from the recording
    later (``timens-lab tree`` before and after the containers) wants the later one there.
    """
    from ._tape import Tape, decode

    want = _tail(json.loads(signature((argv,), {}))[0][0], tool)
    for i, ev in reversed(list(enumerate(_Recorded.events))):
        if _tail(json.loads(ev["a"])[0][0], tool) == want:
            done = dataclasses.replace(decode(_Recorded.events.pop(i)["v"],
                                              Tape("fallback", "replay")), replayed=True)
            break
    else:
        done = Shell([str(a) for a in argv], 127, "",
                     f"{argv[0]}: cannot run here, and not in the recording\n", 0.0)
    if not quiet:
        print(f"({tool or argv[0]} cannot run here: what it printed on a real machine)")
        print(repr(done), flush=True)
    return done


# --- small facts, taped ----------------------------------------------------------------------------

@taped
def which(program: str) -> str | None:
    """``shutil.which`` on the plain PATH (recorded: replay answers as the recording machine)."""
    return shutil.which(program, path=BASE_ENV["PATH"])


@taped
def read_json(path: Any) -> Any:
    """A JSON file's content (recorded, so replay has it without the file)."""
    return json.loads(Path(_text(path)).read_text())


def write_json(path: Any, value: Any) -> None:
    Path(_text(path)).parent.mkdir(parents=True, exist_ok=True)
    Path(_text(path)).write_text(json.dumps(value, indent=2) + "\n")


@taped
def boottime_ns() -> int:
    """The host's CLOCK_BOOTTIME now, read by this process (recorded)."""
    return time.clock_gettime_ns(time.CLOCK_BOOTTIME)


@taped
def monotonic_ns() -> int:
    """The host's CLOCK_MONOTONIC now, read by this process (recorded)."""
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


def chown_tree(root: Any, uid: int) -> None:
    """Hand a bundle to ``uid`` (a rootless container started as that user must own it)."""
    for path in [Path(_text(root)), *Path(_text(root)).rglob("*")]:
        os.chown(path, uid, uid, follow_symlinks=False)


@taped
def cgroup_hybrid() -> bool:
    """cgroup v1 hierarchies plus a v2 mount that has a controller (crun 1.8 refuses to run)."""
    with contextlib.suppress(OSError):
        return bool(Path("/sys/fs/cgroup/unified/cgroup.controllers").read_text().strip())
    return False


def start(argv: Sequence[str], *, comm: str, timeout: float = 10.0) -> subprocess.Popen[bytes]:
    """Start a long-running process (a namespace's keeper) and wait until it runs ``comm``.

    Waiting matters: ``unshare ... sleep`` creates the namespaces first and execs sleep last, so
    entering it before then could find the namespaces half made. Kill it with ``.kill()``.
    """
    proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            env=BASE_ENV)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if Path(f"/proc/{proc.pid}/comm").read_text().strip() == comm:
                return proc
        if proc.poll() is not None:
            break
        time.sleep(0.01)
    proc.kill()
    proc.wait()
    raise RuntimeError(f"{argv[0]} did not start {comm} (exit {proc.returncode})")
