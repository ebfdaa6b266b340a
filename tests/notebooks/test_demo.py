"""The demo: scenarios one click each, recovery from a dead helper, replay where the kernel says
no, and ``timens-lab demo`` serving the page through Voilà."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.conftest import REPO

pytest.importorskip("ipywidgets")


def _drive(app: Any, steps: list[Any], *, wait: float = 30.0) -> None:
    """Start ``app`` on a fresh loop and run ``steps`` (callables; coroutines are awaited)."""

    async def main() -> None:
        app.start()
        await _settle(app, wait)
        for step in steps:
            out = step(app)
            if asyncio.iscoroutine(out):
                await out
            await _settle(app, wait)
        app.stop()

    asyncio.run(main())


async def _settle(app: Any, wait: float) -> None:
    deadline = time.monotonic() + wait
    while app._busy is not None and not app._busy.done():
        assert time.monotonic() < deadline, "the scenario did not finish"
        await asyncio.sleep(0.05)


def _labels(app: Any) -> list[str]:
    return [ns.name for ns in app.lab.namespaces]


@pytest.mark.slow
def test_every_scenario_one_click(need_timens: str) -> None:
    """Each preset builds its namespaces, samplers and views, and leaves the app healthy."""
    from timens_lab.demo.app import DemoApp

    app = DemoApp(rollover_s=None, watchdog_s=0.5, rate=50)
    seen: dict[str, list[str]] = {}

    def click(name: str) -> Any:
        def step(a: Any) -> None:
            a.buttons[name].click()
        return step

    def record(name: str) -> Any:
        def step(a: Any) -> None:
            assert a.health() is None, a.health()
            seen[name] = _labels(a)
            assert set(a.dash.source.samplers) == set(seen[name])
        return step

    steps = []
    for name in ("a year behind", "nesting", "migration"):
        steps += [click(name), record(name)]
    _drive(app, [record("a day ahead"), *steps])
    assert seen["a day ahead"] == ["a day ahead"]
    assert seen["a year behind"] == ["max behind"]
    assert seen["nesting"] == ["A", "B in A", "C in A"]
    assert seen["migration"] == ["machine A", "machine B"]
    assert app.recoveries == 0
    assert app.lab is None  # stop() closed it


@pytest.mark.slow
def test_migration_keeps_monotonic_going(need_timens: str) -> None:
    """Machine B's offsets continue machine A's MONOTONIC: B = A − the downtime (to the ms)."""
    from timens_lab.demo.app import DemoApp

    app = DemoApp(rollover_s=None, watchdog_s=0.5, rate=50)
    got: dict[str, Any] = {}

    def check(a: Any) -> None:
        ns = {n.name: n for n in a.lab.namespaces}
        got["a"] = ns["machine A"].offsets.monotonic_ns
        got["b"] = ns["machine B"].offsets.monotonic_ns

    _drive(app, [lambda a: a.choose("migration"), check], wait=40)
    hidden = (got["a"] - got["b"]) / 1e9
    downtime = (app.migration["restore_host_ns"] - app.migration["checkpoint_host_ns"]) / 1e9
    assert downtime >= 2.0                     # the scenario pauses 2 s
    assert 0 <= downtime - hidden < 0.001, (downtime, hidden)  # offsets rounded up to the ms


@pytest.mark.slow
def test_recovers_from_a_dead_helper(need_timens: str) -> None:
    """SIGKILL the Lab's helper: the watchdog notices, builds a new Lab and the scenario again."""
    from timens_lab.demo.app import DemoApp

    app = DemoApp(rollover_s=None, watchdog_s=0.3, rate=50)
    before: dict[str, Any] = {}

    def kill(a: Any) -> None:
        before["lab"] = a.lab
        os.kill(a.lab.helper_pid, signal.SIGKILL)

    async def recovered(a: Any) -> None:
        deadline = time.monotonic() + 20
        while a.recoveries == 0 or a.lab is before["lab"] or a.health() is not None:
            assert time.monotonic() < deadline, f"no recovery: {a.health()}, {list(a.log)}"
            await asyncio.sleep(0.1)
            await _settle(a, 20)
        assert _labels(a) == ["a day ahead"]

    _drive(app, [kill, recovered])
    assert app.recoveries >= 1
    assert any("recovering" in line for line in app.log)


@pytest.mark.slow
def test_replay_where_the_kernel_says_no(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forced replay: presets are disabled with a reason, the recording plays, the app is healthy."""
    from timens_lab.demo.app import DemoApp

    monkeypatch.setenv("TIMENS_LAB_MODE", "replay")
    app = DemoApp(rollover_s=None, watchdog_s=0.5)
    assert all(b.disabled for b in app.buttons.values())

    def healthy(a: Any) -> None:
        assert a.health() is None
        assert a.dash.source.mode == "replay"

    _drive(app, [healthy])


@pytest.mark.slow
def test_presenter_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """What each key does, sent as the page sends it (a comm message to the Keys widget):
    1–4 choose, next/previous step and wrap, reset rebuilds, pause holds the picture and says
    so, theme switches the page and the figures."""
    import matplotlib as mpl

    from timens_lab.demo import DemoApp

    monkeypatch.setenv("TIMENS_LAB_MODE", "replay")   # no namespaces needed for the keys
    app = DemoApp(rollover_s=None, watchdog_s=0.5, theme="light")
    seen: list[Any] = []

    def press(key: str) -> Any:
        def step(a: Any) -> None:
            a.keys._on_msg(a.keys, {"key": key}, [])
            seen.append((key, a.preset, a.paused, a.theme, a.built_at))
        return step

    _drive(app, [press(k) for k in ("3", "next", "next", "previous", "reset", "pause",
                                    "pause", "theme")])
    presets = [p for _, p, *_ in seen]
    assert presets == ["nesting", "migration", "a day ahead", "migration", "migration",
                       "migration", "migration", "migration"]
    assert seen[4][4] > seen[3][4]                        # reset: built again
    assert [p for _, _, p, *_ in seen][5:7] == [True, False]
    assert seen[-1][3] == "dark" and "tl-dark" in app.root._dom_classes
    assert mpl.colors.to_hex(mpl.rcParams["figure.facecolor"]) == "#000000"
    mpl.rcdefaults()


#: Runs the shipped demo notebook's cell as a kernel would, on a loop, and reports what exists
#: when the cell has returned (what Voilà waits for before it sends the page's scripts) and
#: once the first build is done.
_CELL_THEN_BUILD = """
import asyncio, json, sys
import IPython.display

from timens_lab.demo.app import NOTEBOOK

shown = []
IPython.display.display = lambda *objs, **kw: shown.extend(objs)
cell = "".join(json.loads(NOTEBOOK.read_text())["cells"][0]["source"])

async def main():
    scope = {}
    exec(cell, scope)                       # app = DemoApp().start()
    app = scope["app"]
    print(json.dumps({"shown": app.root in shown, "dash": app.dash is not None,
                      "heavy": sorted(m for m in ("matplotlib", "timens_lab.views.dashboard")
                                      if m in sys.modules)}), flush=True)
    while app._busy is not None and not app._busy.done():
        await asyncio.sleep(0.05)
    print(json.dumps({"dash": app.dash is not None, "status": app.status.value}), flush=True)
    app.stop()

asyncio.run(main())
"""


@pytest.mark.slow
def test_the_notebook_cell_shows_the_stage_before_the_heavy_start() -> None:
    """The demo notebook's cell returns with the stage displayed and none of the figures'
    imports done (Voilà sends the page's scripts only when the cell has run); the imports and
    the first build follow on the loop, and the build completes."""
    env = {**os.environ, "TIMENS_LAB_MODE": "replay"}   # no namespaces needed for this
    done = subprocess.run([sys.executable, "-c", _CELL_THEN_BUILD], capture_output=True,
                          text=True, timeout=120, env=env, cwd=REPO, check=False)
    assert done.returncode == 0, done.stderr
    after_cell, after_build = (json.loads(line) for line in done.stdout.splitlines()[-2:])
    assert after_cell == {"shown": True, "dash": False, "heavy": []}
    assert after_build["dash"], after_build
    assert "error" not in after_build["status"], after_build


#: DemoApp() with a probe that notes whether the stage's widgets had been imported when it
#: started, then returns once their import has begun (or after 20 s): it says whether the probe
#: ran while they were importing.
_PROBE_DURING_IMPORT = """
import json, sys, time
import timens_lab.probing.check as check

real, seen, WIDGETS = check.probe, {}, "timens_lab.demo.widgets"

def probe(refresh=False):
    seen["before_import"] = WIDGETS not in sys.modules
    deadline = time.monotonic() + 20
    while WIDGETS not in sys.modules and time.monotonic() < deadline:
        time.sleep(0.01)
    seen["during_import"] = WIDGETS in sys.modules
    return real(refresh)

check.probe = probe
from timens_lab.demo.app import DemoApp

app = DemoApp()
print(json.dumps({"seen": seen, "live": app.live, "reason": app.reason}))
"""


@pytest.mark.slow
def test_the_probe_runs_while_the_stage_imports() -> None:
    """DemoApp() probes for time namespaces (a child Python) while it imports the stage's
    widgets, not before: both lie between the notebook cell's start and the stage on the page.
    The probe's verdict still decides the stage (here: replay, forced)."""
    env = {**os.environ, "TIMENS_LAB_MODE": "replay"}
    done = subprocess.run([sys.executable, "-c", _PROBE_DURING_IMPORT], capture_output=True,
                          text=True, timeout=120, env=env, cwd=REPO, check=False)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout.splitlines()[-1])
    assert got["seen"] == {"before_import": True, "during_import": True}
    assert got["live"] is False and "TIMENS_LAB_MODE" in got["reason"]


@pytest.mark.slow
def test_the_voila_kernel_runs_without_the_debugger(tmp_path: Any,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """In the environment ``timens-lab demo`` gives Voila, the python3 kernel is ours
    (commands/_demo_kernel.py): it runs cells as the stock one does, in the server's
    interpreter, and never imports ipykernel's debugger (debugpy: a fifth of its imports)."""
    import argparse

    from jupyter_client.manager import KernelManager

    from timens_lab.commands import demo

    for name, value in demo.env_for(argparse.Namespace(jupyterlab=False, dark=False)).items():
        monkeypatch.setenv(name, value)
    km = KernelManager(kernel_name="python3")
    km.start_kernel(cwd=str(tmp_path))
    out: list[str] = []
    try:
        kc = km.client()
        kc.start_channels()
        kc.wait_for_ready(timeout=60)
        code = ("import json, sys; print(json.dumps([sys.executable, sorted(m for m in sys.modules "
                "if m.split('.')[0] in ('debugpy', '_pydevd_bundle') and sys.modules[m]), "
                "6 * 7]))")
        reply = kc.execute_interactive(code, timeout=60, output_hook=lambda msg: out.append(
            msg["content"].get("text", "")) if msg["msg_type"] == "stream" else None)
        kc.stop_channels()
    finally:
        km.shutdown_kernel(now=True)
    assert reply["content"]["status"] == "ok", reply["content"]
    executable, debugger, answer = json.loads("".join(out))
    assert os.path.realpath(executable) == os.path.realpath(sys.executable)
    assert debugger == []
    assert answer == 42


def _unauthenticated_gets_no_app(port: int) -> bool:
    """Without the token the server refuses or redirects to a login page: no widgets."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30) as r:
                return "application/vnd.jupyter.widget-view+json" not in r.read().decode()
        except urllib.error.HTTPError as err:
            return err.code in (401, 403)
        except OSError:
            time.sleep(0.2)
    return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_cli_serves_the_page() -> None:
    """``timens-lab demo`` prints its URL and serves the app there, rendered without an error."""
    pytest.importorskip("voila")
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "timens_lab", "demo", f"--port={port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            cwd=REPO, start_new_session=True)
    try:
        first = proc.stderr.readline() if proc.stderr else ""
        assert f"http://127.0.0.1:{port}/?token=" in first
        url = first.split()[2]
        assert _unauthenticated_gets_no_app(port), "the demo can run commands: never serve it open"
        body = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(url, timeout=30) as r:
                    body = r.read().decode()
                break
            except OSError:
                time.sleep(0.2)
        assert "application/vnd.jupyter.widget-view+json" in body
        assert '"ename"' not in body
        assert "Traceback" not in body
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if proc.stderr:
            proc.stderr.close()


def test_cli_without_voila_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """No Voilà: one error line and a hint (install the extra, or --jupyterlab), exit 1."""
    import importlib.util

    from timens_lab import cli

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "voila" else real(name, *a))
    assert cli.main(["demo"]) == 1
    err = capsys.readouterr().err
    assert "error: Voila is not installed" in err
    assert "timens-lab[demo]" in err
