"""Engine: create a namespace with offsets and have a child running in it.

Anchors measured in the same run: util-linux ``unshare --time --monotonic N --fork true`` via
subprocess.run (what a Python user would otherwise write), and a raw C loop doing
fork → unshare(CLONE_NEWTIME) → write(timens_offsets) → fork → exec. "Running" means the
workload's execve() succeeded (a CLOEXEC pipe closes), for every contender alike, and every
contender has reaped its previous child before the next timing starts (the anchors must: they
wait for it; ours is waited for outside the timed span). The contenders take turns in rounds, so
a load change on this 2-core machine hits them all alike. One row also shows lab.run back to
back, the previous children still running, for what a tight loop of spawns sees.
"""

from __future__ import annotations

import os
import subprocess
import time

from timens_lab import kernel
from timens_lab.engine.lab import Lab

from ._util import compile_c, median_ms, table

RAW_C = r"""
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}
int main(int argc, char **argv) {
    int n = atoi(argv[1]);
    double *t = malloc(sizeof(double) * n);
    for (int i = 0; i < n; i++) {
        int p[2]; pipe2(p, O_CLOEXEC);
        double t0 = now();
        pid_t a = fork();
        if (a == 0) {
            close(p[0]);
            if (unshare(atoi(argv[2])) < 0) _exit(1);
            int fd = open("/proc/self/timens_offsets", O_WRONLY);
            if (write(fd, "monotonic 5 0\nboottime 7 0\n", 27) != 27) _exit(2);
            close(fd);
            pid_t b = fork();
            if (b == 0) { execl("/bin/true", "true", (char *)0); _exit(3); }
            close(p[1]);
            int st; waitpid(b, &st, 0); _exit(0);
        }
        close(p[1]);
        char c; while (read(p[0], &c, 1) > 0) {}
        t[i] = now() - t0;
        close(p[0]);
        int st; waitpid(a, &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st)) { fprintf(stderr, "raw loop failed\n"); return 1; }
    }
    for (int i = 0; i < n; i++) printf("%.9f\n", t[i]);
    return 0;
}
"""

ROUNDS, PER_ROUND = 10, 20


def _round(lab: Lab, exe: str, flags: int, userns: list[str], out: dict[str, list[float]]) -> None:
    for _ in range(PER_ROUND):
        t = time.perf_counter()
        child = lab.run(["/bin/true"], monotonic=5, boottime=7)
        out["run"].append(time.perf_counter() - t)
        child.wait()
    for i in range(PER_ROUND):
        t = time.perf_counter()
        ns = lab.namespace(monotonic=i, boottime=7)
        child = ns.spawn(["/bin/true"])
        out["pending"].append(time.perf_counter() - t)
        child.wait()
        ns.close()
    t = time.perf_counter()
    children = [lab.run(["/bin/true"], monotonic=5, boottime=7) for _ in range(PER_ROUND)]
    out["back"].append((time.perf_counter() - t) / PER_ROUND)
    for child in children:
        child.wait()
    argv = ["unshare", *userns, "--time", "--monotonic", "5", "--boottime", "7", "--fork", "true"]
    for _ in range(PER_ROUND // 2):
        t = time.perf_counter()
        subprocess.run(argv, check=True)
        out["unshare"].append(time.perf_counter() - t)
    raw = subprocess.run([exe, str(PER_ROUND), str(flags)], capture_output=True, text=True,
                         check=True).stdout
    out["raw"] += [float(x) for x in raw.split()]


def compare(rootless: bool) -> None:
    """One table: every contender in ``rootless`` mode (a user namespace too) or as root."""
    out: dict[str, list[float]] = {k: [] for k in ("run", "pending", "back", "unshare", "raw")}
    exe = str(compile_c(RAW_C, "raw_spawn"))
    # The anchors do what this mode does: rootless adds a user namespace (unshare --user).
    userns = ["--user"] if rootless else []
    flags = 0x80 | (0x10000000 if rootless else 0)  # CLONE_NEWTIME [| CLONE_NEWUSER]
    with Lab(rootless=rootless) as lab:
        _round(lab, exe, flags, userns, {k: [] for k in out})  # warm-up, not counted
        for _ in range(ROUNDS):
            _round(lab, exe, flags, userns, out)
    unshare_ms, raw_ms = median_ms(out["unshare"]), median_ms(out["raw"])
    rows = []
    for label, key in (("lab.run(argv, monotonic=, boottime=)", "run"),
                       ("lab.namespace(...) + ns.spawn(argv)", "pending"),
                       ("lab.run, back to back (previous children running)", "back"),
                       (f"subprocess.run(unshare {' '.join(userns)} --time ... --fork true)",
                        "unshare"),
                       ("raw C fork+unshare+write+fork+exec", "raw")):
        ms = median_ms(out[key])
        rows.append([label, f"{ms:.3f}", f"{ms / unshare_ms:.2f}x", f"{ms / raw_ms:.2f}x"])
    n = ROUNDS * PER_ROUND
    print(f"median time until a child runs in a new namespace "
          f"({'rootless' if rootless else 'root'}; {ROUNDS} interleaved rounds, n={n} each, "
          f"unshare(1) n={n // 2}; goal: lab.run <= 1 ms and <= 0.3x unshare(1)):")
    table(rows, ["path", "median ms", "vs unshare(1)", "vs raw C"])
    run_ms = median_ms(out["run"])
    verdict = "MET" if run_ms <= 1.0 and run_ms <= 0.3 * unshare_ms else "NOT MET"
    print(f"goal {verdict}: lab.run {run_ms:.3f} ms, {run_ms / unshare_ms:.2f}x unshare(1)")


def main() -> None:
    # As root, both modes: root's own path, and the rootless one a normal user gets.
    for rootless in ([False, True] if kernel.has_effective_cap(kernel.CAP_SYS_ADMIN) else [True]):
        compare(rootless)

    # 1,000 namespaces alive at once, each pending with its holder.
    with Lab() as lab:
        t = time.perf_counter()
        nss = [lab.namespace(monotonic=i) for i in range(1000)]
        created = time.perf_counter() - t
        inodes = {os.readlink(f"/proc/{ns.holder_pid}/ns/time_for_children") for ns in nss}
        t = time.perf_counter()
    closed = time.perf_counter() - t
    print(f"1,000 namespaces alive at once: created in {created:.2f} s "
          f"({created:.3f} ms each, pending, each with its holder), {len(inodes)} distinct inodes in /proc, "
          f"all closed in {closed:.2f} s")
