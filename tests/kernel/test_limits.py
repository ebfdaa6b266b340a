"""Limits bite cleanly: max_time_namespaces (ENOSPC) and RLIMIT_NOFILE (EMFILE) give typed
errors that name the limit, and leave nothing behind (issue 10, kernel-timens.md §10)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.usefixtures("need_timens")

LIMITED = textwrap.dedent("""
    import json, os, sys
    from timens_lab.engine.lab import Lab
    from timens_lab.errors import NamespaceLimitError
    # We are root in a fresh user namespace: its ucount sysctls are ours to lower (§10).
    with open("/proc/sys/user/max_time_namespaces", "w") as f:
        f.write(sys.argv[1])
    lab = Lab()
    made, error = [], None
    try:
        for i in range(int(sys.argv[1]) + 5):
            made.append(lab.namespace(monotonic=i))
    except NamespaceLimitError as err:
        error = {"message": str(err), "hint": err.hint, "errno": err.errno}
    helper_children = open(f"/proc/{lab.helper_pid}/task/{lab.helper_pid}/children").read().split()
    holders = sorted(ns.holder_pid for ns in made)
    lab.close()
    print(json.dumps({"made": len(made), "error": error, "children": sorted(map(int, helper_children)),
                      "holders": holders}))
""")


def test_max_time_namespaces_gives_a_typed_error_and_leaks_nothing() -> None:
    """With user.max_time_namespaces=3 the 4th namespace is NamespaceLimitError (ENOSPC)."""
    r = subprocess.run(["unshare", "--user", "--map-root-user", "--fork", sys.executable, "-c",
                        LIMITED, "3"], capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["made"] == 3
    assert out["error"]["errno"] == 28  # ENOSPC, from the kernel
    assert "user.max_time_namespaces=3" in out["error"]["message"]
    assert "sysctl" in out["error"]["hint"]
    # The failed attempt left no process: the helper's children are exactly the 3 holders.
    assert out["children"] == out["holders"]


FDS = textwrap.dedent("""
    import json, os, resource
    from timens_lab.engine.lab import Lab, PIPE
    from timens_lab.errors import ResourceLimitError
    resource.setrlimit(resource.RLIMIT_NOFILE, (48, 48))
    lab = Lab()
    children, error = [], None
    try:
        for i in range(200):
            ns = lab.namespace(monotonic=i)
            children.append(ns.spawn(["sleep", "60"], stdout=PIPE))
    except ResourceLimitError as err:
        error = {"message": str(err), "hint": err.hint, "errno": err.errno}
    helper = lab.helper_pid
    pids = [c.pid for c in children]
    lab.close()
    alive = [p for p in pids if os.path.exists(f"/proc/{p}") and
             open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"]
    print(json.dumps({"children": len(children), "error": error, "alive_after_close": alive,
                      "helper_alive": os.path.exists(f"/proc/{helper}")}))
""")


def test_low_rlimit_nofile_gives_a_typed_error_and_leaks_nothing() -> None:
    """Out of fds (RLIMIT_NOFILE=48) is ResourceLimitError with a hint; close() cleans up."""
    r = subprocess.run([sys.executable, "-c", FDS], capture_output=True, text=True, timeout=120,
                       check=False)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    out = json.loads(r.stdout)
    assert out["error"] is not None, "the fd limit never bit"
    assert out["error"]["errno"] in (23, 24)
    assert "ulimit -n" in out["error"]["hint"]
    assert out["children"] > 0
    assert out["alive_after_close"] == []
    assert not out["helper_alive"]
