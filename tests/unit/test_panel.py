"""The control panel, headless: Button.click() and trait assignment against a fake Lab.

The fake implements the public Lab API the panel drives (namespace/enter/namespaces, offsets and
set_offsets, spawn, close, sampler) with the same duration parsing and the same typed errors, so
these tests check the wiring and what the user sees, not the kernel.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from tests.unit.fakelab import FakeJoined, FakeLab, FakeNamespace
from timens_lab.errors import InvalidOffsetError
from timens_lab.offsets import Offsets

pytest.importorskip("ipywidgets")
from timens_lab.views.panel import Panel, split_duration

H = 3600 * 10**9
D = 24 * H


@pytest.fixture
def lab() -> FakeLab:
    return FakeLab()


@pytest.fixture
def panel(lab: FakeLab) -> Panel:
    return Panel(lab, sampler_factory=lambda ns, rate, clocks: ns.sampler(rate=rate,
                                                                          clocks=clocks),
                 joiner=lambda lab_, pid: lab_.enter(pid), member_of=lambda inode: None)


def create(panel: Panel, mono: float, mono_unit: str, boot: float, boot_unit: str) -> Any:
    panel.monotonic.value.value, panel.monotonic.unit.value = mono, mono_unit
    panel.boottime.value.value, panel.boottime.unit.value = boot, boot_unit
    panel.create_button.click()
    return panel.current()


def test_create_passes_offsets_with_units_and_rootless(panel: Panel, lab: FakeLab) -> None:
    """1.5 h and 2 d typed with units become exactly 1.5·3600e9 and 2·86400e9 ns."""
    panel.rootless.value = True
    ns = create(panel, 1.5, "h", 2, "d")
    assert Offsets(5_400_000_000_000, 172_800_000_000_000) == ns.offsets
    assert ns.rootless is True
    assert panel.error.value == ""
    assert panel.namespace.value == "ns1"
    assert "ns1 +1h30m/+2d" in panel.status.value
    assert f"time:{ns.inode}" == panel.selected


def test_create_hands_the_lab_an_offsets_not_text(panel: Panel, lab: FakeLab) -> None:
    """The panel passes exact nanoseconds as an Offsets (offsets=), never durations as text."""
    create(panel, 1.5, "h", 250, "ms")
    assert ("namespace", None, None, Offsets(5_400_000_000_000, 250_000_000), None) == lab.calls[-1]


def test_negative_and_sub_second_offsets(panel: Panel) -> None:
    """−5 s and 250 ms survive the round trip through the widgets."""
    ns = create(panel, -5, "s", 250, "ms")
    assert Offsets(-5 * 10**9, 250_000_000) == ns.offsets


def test_edit_while_pending_then_frozen_shows_error_and_hint(panel: Panel) -> None:
    """Set offsets works while pending; after a spawn the kernel's refusal appears with its hint."""
    ns = create(panel, 1, "h", 1, "h")
    assert not panel.apply_button.disabled
    panel.monotonic.value.value, panel.monotonic.unit.value = 2, "h"
    panel.apply_button.click()
    assert ns.offsets.monotonic_ns == 2 * H
    assert "+2h/+1h" in panel.status.value

    panel.command.value = "sleep 60"
    panel.run_button.click()
    assert [c.argv for c in ns.spawned] == [["sleep", "60"]]
    assert panel.apply_button.disabled            # frozen: the button says so before the kernel

    panel.apply_offsets()                         # called anyway (e.g. from code)
    assert "error:" in panel.error.value
    assert "offsets frozen" in panel.error.value
    assert "hint:" in panel.error.value
    assert "before the first process enters" in panel.error.value
    assert ns.offsets.monotonic_ns == 2 * H       # unchanged


@pytest.mark.parametrize(("value", "unit", "expected"), [
    (float("nan"), "s", "not a duration"),
    (0.5, "ns", "not a whole number of nanoseconds"),
    (1e300, "d", "is beyond the kernel"),
])
def test_bad_offset_input_is_an_error_not_a_traceback(panel: Panel, lab: FakeLab, value: float,
                                                      unit: str, expected: str) -> None:
    """Unparsable or out-of-range input shows error + hint and creates nothing."""
    create(panel, value, unit, 0, "s")
    assert lab.namespaces == []
    assert expected in panel.error.value
    assert "hint:" in panel.error.value


def test_command_is_split_not_shelled(panel: Panel) -> None:
    """Quotes group words like a shell; the argv goes to spawn() as a list."""
    ns = create(panel, 0, "s", 0, "s")
    panel.command.value = "sh -c 'echo $$; sleep 1'"
    panel.run_button.click()
    assert ns.spawned[0].argv == ["sh", "-c", "echo $$; sleep 1"]


@pytest.mark.parametrize(("command", "expected"), [
    ("echo 'unclosed", "cannot split the command"),
    ("   ", "no command given"),
    ("no-such-command --x", "not found"),
])
def test_bad_command(panel: Panel, command: str, expected: str) -> None:
    """Bad command lines and spawn errors are reported with a hint."""
    create(panel, 0, "s", 0, "s")
    panel.command.value = command
    panel.run_button.click()
    assert expected in panel.error.value
    assert "hint:" in panel.error.value


def test_sampler_rate_clocks_pause_resume(panel: Panel) -> None:
    """The sampler gets the chosen rate and clocks; Pause/Resume reach every sampler."""
    ns = create(panel, 1, "h", 0, "s")
    assert panel.pause_button.disabled
    panel.rate.value = 50
    panel.clocks.value = ("monotonic", "boottime_alarm")
    panel.sample_button.click()
    (sampler,) = ns.samplers
    assert (sampler.rate, sampler.clocks) == (50.0, ("monotonic", "boottime_alarm"))
    assert not panel.pause_button.disabled
    panel.pause_button.click()
    assert panel.pause_button.description == "Resume samplers"
    panel.pause_button.click()
    assert sampler.calls == ["pause", "resume"]

    panel.clocks.value = ()
    panel.sample_button.click()
    assert "no clock chosen" in panel.error.value
    assert len(ns.samplers) == 1


def test_on_sampler_hook_sees_each_new_sampler(lab: FakeLab) -> None:
    """on_sampler(ns, sampler) is how a dashboard adds the sampler to its Source."""
    seen: list[tuple[Any, Any]] = []
    panel = Panel(lab, sampler_factory=lambda ns, r, c: ns.sampler(rate=r, clocks=c),
                  on_sampler=lambda ns, s: seen.append((ns, s)))
    ns = create(panel, 0, "s", 0, "s")
    panel.sample_button.click()
    assert [(ns, ns.samplers[0])] == seen


def test_kill_closes_namespace_and_stops_its_samplers(panel: Panel, lab: FakeLab) -> None:
    """Kill stops the samplers, closes the namespace, and the dropdown forgets it."""
    first = create(panel, 1, "h", 0, "s")
    second = create(panel, 2, "h", 0, "s")
    panel.namespace.value = first.name
    panel.sample_button.click()
    panel.kill_button.click()
    assert first.closed
    assert first.samplers[0].calls == ["stop"]
    assert [second.name] == [v for _, v in panel.namespace.options]
    assert second.name == panel.namespace.value


def test_enter_by_pid_and_kill_only_what_we_started(panel: Panel, lab: FakeLab) -> None:
    """An entered namespace is listed; Kill kills our processes in it, not the namespace."""
    panel.pid.value = 1234
    panel.enter_button.click()
    assert lab.calls[-1] == ("enter", 1234)
    handle = panel.current()
    assert isinstance(handle, FakeJoined)
    assert f"time:[{handle.inode}]" == panel.namespace.value
    panel.command.value = "sleep 5"
    panel.run_button.click()
    panel.kill_button.click()
    assert handle.spawned[0].killed
    assert panel.current() is None

    panel.pid.value = -1
    panel.enter_button.click()
    assert "no process -1" in panel.error.value
    assert "hint:" in panel.error.value


def test_selection_is_shared_through_the_trait(panel: Panel) -> None:
    """Setting ``selected`` to a tree key picks that namespace, and the dropdown sets the key."""
    a = create(panel, 1, "h", 0, "s")
    b = create(panel, 2, "h", 0, "s")
    panel.selected = f"time:{a.inode}"
    assert a.name == panel.namespace.value
    panel.namespace.value = b.name
    assert f"time:{b.inode}" == panel.selected
    panel.selected = "time:1"                    # a namespace the panel does not own
    assert b.name == panel.namespace.value


def test_refresh_keeps_what_the_user_is_typing(panel: Panel) -> None:
    """A periodic refresh after a state change does not overwrite the offset inputs."""
    ns = create(panel, 1, "h", 0, "s")
    panel.monotonic.value.value = 7.0
    ns.frozen = True                              # e.g. frozen by someone else
    panel.refresh()
    assert panel.monotonic.value.value == 7.0
    assert panel.namespace.options[0][0] == "ns1 +1h/0 · frozen"
    assert panel.apply_button.disabled


def test_no_namespace_selected(panel: Panel) -> None:
    """Actions without a namespace say so instead of failing."""
    panel.run_command()
    assert "no namespace selected" in panel.error.value


@pytest.mark.parametrize(("ns", "expected"), [
    (5_400 * 10**9, (90.0, "min")), (2 * D, (2.0, "d")), (-5 * 10**9, (-5.0, "s")),
    (1500, (1500.0, "ns")), (3_000, (3.0, "us")), (0, (0.0, "d")),
])
def test_split_duration(ns: int, expected: tuple[float, str]) -> None:
    """Inputs show the largest unit that divides exactly (0 shows as 0 d)."""
    value, unit = split_duration(ns)
    assert expected == (float(value), unit)


def test_invalid_offset_error_type() -> None:
    """The input error the panel raises for bad text is the API's own InvalidOffsetError."""
    from timens_lab.views.panel import OffsetInput

    box = OffsetInput("monotonic")
    box.value.value = float("inf")
    with pytest.raises(InvalidOffsetError):
        box.ns()


def test_views_do_not_import_the_kernel_layer() -> None:
    """Importing every view module pulls in neither timens_lab.kernel nor the cffi binding."""
    code = ("import sys, matplotlib; matplotlib.use('Agg')\n"
            "import timens_lab.views.panel, timens_lab.views.tree_plot, timens_lab.views.live\n"
            "import timens_lab.views.layout, timens_lab.views.decimate\n"
            "bad = [m for m in sys.modules if m in ('timens_lab.kernel', 'timens_lab._timens')]\n"
            "print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def test_package_import_stays_light() -> None:
    """import timens_lab and timens_lab.views load neither matplotlib nor ipywidgets."""
    code = ("import sys, timens_lab, timens_lab.views\n"
            "print(sorted(m for m in ('matplotlib', 'ipywidgets') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def test_no_sampler_wired_is_an_error_with_a_hint() -> None:
    """Without a sampler factory (and no ns.sampler) the panel says how to wire one."""

    class Bare(FakeNamespace):
        @property
        def sampler(self) -> Any:  # type: ignore[override]  # like a Lab namespace: none
            raise AttributeError("sampler")

    lab = FakeLab()
    panel = Panel(lab)
    ns = create(panel, 0, "s", 0, "s")
    ns.__class__ = Bare
    panel.sample_button.click()
    assert "no sampler wired" in panel.error.value
    assert "Dashboard.for_lab" in panel.error.value


def test_value_error_from_the_api_is_shown(panel: Panel) -> None:
    """The API's own argument checks (e.g. a sampler rate out of range) reach the error area."""

    def refuse(ns: Any, rate: float | None, clocks: tuple[str, ...]) -> Any:
        raise ValueError(f"rate must be in (0, 1e+06] Hz, not {rate!r}")

    panel.control.sampler_factory = refuse  # type: ignore[attr-defined]
    create(panel, 0, "s", 0, "s")
    panel.rate.value = 5e9
    panel.sample_button.click()
    assert "rate must be in" in panel.error.value
    assert "hint:" in panel.error.value


@pytest.mark.filterwarnings("ignore:Widget.widgets is deprecated:DeprecationWarning")
def test_closing_the_panel_tree_closes_every_widget_it_made(lab: FakeLab) -> None:
    """The demo makes a panel at every rebuild and closes its tree afterwards: nothing may stay
    in ipywidgets' registry (a Layout or Style replaced after construction would)."""
    import ipywidgets as W

    from timens_lab.views._widgets import close_tree

    before = set(W.Widget.widgets)
    panel = Panel(lab)
    close_tree(panel.widget)
    left = {k: type(w).__name__ for k, w in W.Widget.widgets.items() if k not in before}
    assert left == {}


def test_sample_by_pid_from_a_tree_selection(lab: FakeLab) -> None:
    """Selecting a namespace that is not the lab's (a container's) offers a member's pid, and
    "Sample by pid" joins it and starts a sampler there; a bad pid is an error with a hint."""
    started: list[tuple[Any, float | None, tuple[str, ...]]] = []
    panel = Panel(lab, sampler_factory=lambda ns, r, c: started.append((ns, r, c)) or ns,
                  joiner=lambda lab_, pid: lab_.enter(pid), member_of={777: 4242}.get)
    panel.selected = "time:777"
    assert panel.pid.value == 4242
    assert "Sample by pid" in panel.status.value
    panel.sample_pid_button.click()
    assert lab.calls[-1] == ("enter", 4242)
    handle = panel.current()
    assert isinstance(handle, FakeJoined)
    assert [handle] == [ns for ns, _, _ in started]
    panel.pid.value = 0
    panel.sample_pid_button.click()
    assert "not a process id" in panel.error.value
    assert "hint:" in panel.error.value
