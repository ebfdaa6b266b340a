"""Engine: create a namespace with offsets and have a child running in it.

Anchors measured in the same run: util-linux ``unshare --time --monotonic N --fork true`` via
subprocess.run (what a Python user would otherwise write), and a raw C loop doing
fork → unshare(CLONE_NEWTIME) → write(timens_offsets) → fork → exec. "Running" means the
workload's execve() succeeded (a CLOEXEC pipe closes), for every contender alike.
"""

from __future__ import annotations

import os
import subprocess
import time

from timens_lab.lab import Lab

from ._util import compile_c, median_ms, table, timed

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
static int cmp(const void *a, const void *b) {
    double x = *(double *)a, y = *(double *)b;
    return (x > y) - (x < y);
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
    qsort(t, n, sizeof(double), cmp);
    printf("%.6f\n", t[n / 2] * 1e3);
    return 0;
}
"""

N = 200


def main() -> None:
    rows = []
    with Lab() as lab:
        fast = timed(lambda: lab.run(["/bin/true"], monotonic=5, boottime=7), N)
        pending: list[float] = []
        for i in range(N):
            t = time.perf_counter()
            ns = lab.namespace(monotonic=i, boottime=7)
            ns.spawn(["/bin/true"])
            pending.append(time.perf_counter() - t)
            ns.close()
        mode = "rootless" if lab.rootless else "root"
    # The anchors do what this mode does: rootless adds a user namespace (unshare --user).
    userns = ["--user"] if mode == "rootless" else []
    flags = 0x80 | (0x10000000 if mode == "rootless" else 0)  # CLONE_NEWTIME [| CLONE_NEWUSER]
    unshare_ms = median_ms(timed(lambda: subprocess.run(
        ["unshare", *userns, "--time", "--monotonic", "5", "--boottime", "7", "--fork", "true"],
        check=True), N // 2))
    exe = compile_c(RAW_C, "raw_spawn")
    raw_ms = float(subprocess.run([str(exe), str(N), str(flags)], capture_output=True, text=True,
                                  check=True).stdout)
    for label, samples in (("lab.run(argv, monotonic=, boottime=)", fast),
                           ("lab.namespace(...) + ns.spawn(argv)", pending)):
        ms = median_ms(samples)
        rows.append([label, f"{ms:.3f}", f"{ms / unshare_ms:.2f}x", f"{ms / raw_ms:.2f}x"])
    rows.append([f"subprocess.run(unshare {' '.join(userns)} --time ... --fork true)",
                 f"{unshare_ms:.3f}", "1.00x", f"{unshare_ms / raw_ms:.2f}x"])
    rows.append(["raw C fork+unshare+write+fork+exec", f"{raw_ms:.3f}",
                 f"{raw_ms / unshare_ms:.2f}x", "1.00x"])
    print(f"median time until a child runs in a new namespace ({mode}, n={N}):")
    table(rows, ["path", "median ms", "vs unshare(1)", "vs raw C"])

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
