/* Process creation for the helper: fork, join or create namespaces, exec or run C.
 *
 * Between fork() and exec() the child calls only async-signal-safe functions (signal-safety(7)),
 * like CPython's _posixsubprocess: the helper is Python, and nothing of Python may run there.
 * Failures before exec travel back over a CLOEXEC pipe as (stage, errno). */
#include <sys/mman.h>
#include <sys/stat.h>

/* struct tns_spawn and enum tns_spawn_stage: 01-spawn.h, which the build puts just above. */

const char *tns_spawn_stage_text(int stage) {
    switch (stage) {
    case TNS_STAGE_PDEATHSIG: return "prctl(PR_SET_PDEATHSIG)";
    case TNS_STAGE_SETNS_USER: return "setns(CLONE_NEWUSER)";
    case TNS_STAGE_SETNS_TIME: return "setns(CLONE_NEWTIME)";
    case TNS_STAGE_UNSHARE: return "unshare";
    case TNS_STAGE_SETGROUPS: return "write /proc/self/setgroups";
    case TNS_STAGE_UID_MAP: return "write /proc/self/uid_map";
    case TNS_STAGE_GID_MAP: return "write /proc/self/gid_map";
    case TNS_STAGE_STDIO: return "set up stdio";
    case TNS_STAGE_FDS: return "pass fds";
    case TNS_STAGE_CHDIR: return "chdir";
    case TNS_STAGE_EXEC: return "execve";
    case TNS_STAGE_PGRP: return "setpgid";
    case TNS_STAGE_OFFSETS: return "write /proc/self/timens_offsets";
    case TNS_STAGE_REPORT: return "report";
    }
    return NULL;
}

#ifndef SYS_close_range
#define SYS_close_range 436
#endif

static int tns_write_file(const char *path, const char *buf, size_t len) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    ssize_t n = write(fd, buf, len);
    int err = n < 0 ? errno : 0;
    close(fd);
    return n < 0 ? -err : 0;
}

/* "<inner> <outer> 1\n" without snprintf (not async-signal-safe). */
static size_t tns_map_line(char *out, long inner, long outer) {
    char tmp[24];
    size_t n = 0;
    long parts[2] = {inner, outer};
    for (int p = 0; p < 2; p++) {
        long v = parts[p];
        int k = 0;
        do { tmp[k++] = (char)('0' + v % 10); v /= 10; } while (v > 0 && k < 20);
        while (k > 0) out[n++] = tmp[--k];
        out[n++] = ' ';
    }
    out[n++] = '1';
    out[n++] = '\n';
    return n;
}

static void tns_child_fail(int errfd, int stage, int err) {
    int msg[2] = {stage, err};
    ssize_t w = write(errfd, msg, sizeof msg);
    (void)w;
    _exit(127);
}

static void tns_close_others(int lowest) {
    if (syscall(SYS_close_range, lowest, ~0U, 0) == 0) return;
    long max = sysconf(_SC_OPEN_MAX);
    if (max < 0 || max > 65536) max = 65536;
    for (long fd = lowest; fd < max; fd++) close((int)fd);
}

static void tns_child(const struct tns_spawn *rq, int errfd, pid_t parent) {
    /* Signals arrive blocked (tns_spawn). Reset every disposition Python changed (SIGPIPE,
     * SIGINT...) before unblocking: after vfork() a Python handler would run on the parent's
     * memory (the reason _posixsubprocess does the same). */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    /* Only signals sigaction accepts: a failing libc call writes errno, and a holder that shares
     * our memory shares our errno too (CLONE_VM without CLONE_SETTLS). SIGKILL/SIGSTOP and
     * the signals libc reserves for itself (32 .. SIGRTMIN-1 on glibc) are refused (EINVAL);
     * SIGRTMIN only reads a libc variable. */
    for (int s = 1; s < 65; s++) {
        if (s == SIGKILL || s == SIGSTOP || (s >= 32 && s < SIGRTMIN)) continue;
        sigaction(s, &sa, NULL);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);

    /* Die with the helper (prctl(2): the signal is sent when the parent thread exits; the helper
     * is single-threaded). Re-check the parent to close the fork/prctl race. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) tns_child_fail(errfd, TNS_STAGE_PDEATHSIG, errno);
    if (getppid() != parent) _exit(127);
    if (rq->new_pgrp && setpgid(0, 0) < 0) tns_child_fail(errfd, TNS_STAGE_PGRP, errno);

    /* setns(2): joining a user namespace first gives us CAP_SYS_ADMIN over the time namespace
     * it owns; both need a single-threaded caller, which a fresh fork is. */
    if (rq->userns_fd >= 0 && setns(rq->userns_fd, CLONE_NEWUSER) < 0)
        tns_child_fail(errfd, TNS_STAGE_SETNS_USER, errno);
    if (rq->timens_fd >= 0 && setns(rq->timens_fd, CLONE_NEWTIME) < 0)
        tns_child_fail(errfd, TNS_STAGE_SETNS_TIME, errno);
    if (rq->unshare_flags && unshare(rq->unshare_flags) < 0)
        tns_child_fail(errfd, TNS_STAGE_UNSHARE, errno);

    if (rq->map_uid >= 0) {
        /* user_namespaces(7): an unprivileged process may map only its own ids, and must deny
         * setgroups before writing gid_map. */
        char line[64];
        size_t n;
        int r = tns_write_file("/proc/self/setgroups", "deny", 4);
        if (r < 0 && r != -ENOENT) tns_child_fail(errfd, TNS_STAGE_SETGROUPS, -r);
        n = tns_map_line(line, rq->map_inner_root ? 0 : rq->map_uid, rq->map_uid);
        if ((r = tns_write_file("/proc/self/uid_map", line, n)) < 0)
            tns_child_fail(errfd, TNS_STAGE_UID_MAP, -r);
        n = tns_map_line(line, rq->map_inner_root ? 0 : rq->map_gid, rq->map_gid);
        if ((r = tns_write_file("/proc/self/gid_map", line, n)) < 0)
            tns_child_fail(errfd, TNS_STAGE_GID_MAP, -r);
    }

    if (rq->offsets_len > 0) {
        /* Our own time_for_children is the new namespace: set its offsets before anything
         * enters it. exec() below then moves us in (Linux >= 6.2, fs/exec.c). */
        int r = tns_write_file("/proc/self/timens_offsets", rq->offsets, (size_t)rq->offsets_len);
        if (r < 0) tns_child_fail(errfd, TNS_STAGE_OFFSETS, -r);
    }

    /* Move every fd we keep above the highest target first, so dup2 never clobbers one.
     * Locals only: after vfork() the request is the parent's memory. */
    /* Above every fd involved and every target slot (0..2, 3..3+nkeep, hold, errfd), but no
     * higher than needed: a fixed high base fails with EINVAL under a low RLIMIT_NOFILE. */
    int base = 3 + (rq->n_keep_fds > 64 ? 64 : rq->n_keep_fds) + 2;
    for (int i = 0; i < 3; i++) if (rq->stdio[i] >= base) base = rq->stdio[i] + 1;
    for (int i = 0; i < rq->n_keep_fds && i < 64; i++)
        if (rq->keep_fds[i] >= base) base = rq->keep_fds[i] + 1;
    if (rq->hold_fd >= base) base = rq->hold_fd + 1;
    if (errfd >= base) base = errfd + 1;
    int stdio[3] = {-1, -1, -1};
    for (int i = 0; i < 3; i++) {
        if (rq->stdio[i] >= 0) {
            stdio[i] = fcntl(rq->stdio[i], F_DUPFD, base);
            if (stdio[i] < 0) tns_child_fail(errfd, TNS_STAGE_STDIO, errno);
        }
    }
    int kept[64];
    int nkeep = rq->n_keep_fds > 64 ? 64 : rq->n_keep_fds;
    for (int i = 0; i < nkeep; i++) {
        kept[i] = fcntl(rq->keep_fds[i], F_DUPFD, base);
        if (kept[i] < 0) tns_child_fail(errfd, TNS_STAGE_FDS, errno);
    }
    int herr = -1;
    /* A failed dup must fail here: falling through would make a holder exec(NULL). */
    if (rq->hold_fd >= 0 && (herr = fcntl(rq->hold_fd, F_DUPFD, base)) < 0)
        tns_child_fail(errfd, TNS_STAGE_FDS, errno);
    int e2 = fcntl(errfd, F_DUPFD_CLOEXEC, base);
    if (e2 < 0) tns_child_fail(errfd, TNS_STAGE_FDS, errno);
    errfd = e2;
    for (int i = 0; i < 3; i++)
        if (stdio[i] >= 0 && dup2(stdio[i], i) < 0) tns_child_fail(errfd, TNS_STAGE_STDIO, errno);
    for (int i = 0; i < nkeep; i++)
        if (dup2(kept[i], 3 + i) < 0) tns_child_fail(errfd, TNS_STAGE_FDS, errno);
    int hold = -1;
    if (herr >= 0) {
        hold = 3 + nkeep;
        if (dup2(herr, hold) < 0) tns_child_fail(errfd, TNS_STAGE_FDS, errno);
    }
    int lowest = 3 + nkeep + (hold >= 0 ? 1 : 0);
    if (dup2(errfd, lowest) < 0) tns_child_fail(errfd, TNS_STAGE_FDS, errno);
    errfd = lowest;
    /* Without CLOEXEC the pipe would stay open across exec and the helper would wait for the
     * command to exit instead of seeing EOF at exec. */
    if (fcntl(errfd, F_SETFD, FD_CLOEXEC) < 0) tns_child_fail(errfd, TNS_STAGE_FDS, errno);
    tns_close_others(lowest + 1);

    if (rq->cwd && chdir(rq->cwd) < 0) tns_child_fail(errfd, TNS_STAGE_CHDIR, errno);

    if (hold >= 0) {
        /* A holder: keeps time_for_children alive (and writable) until the helper lets go. */
        int ok[2] = {0, 0};
        ssize_t w = write(errfd, ok, sizeof ok);
        (void)w;
        close(errfd);
        char buf[64];
        for (;;) {
            ssize_t r = read(hold, buf, sizeof buf);
            if (r == 0) _exit(0);
            if (r < 0 && errno != EINTR) _exit(1);
        }
    }
    if (rq->fn) {
        int ok[2] = {0, 0};
        ssize_t w = write(errfd, ok, sizeof ok);
        (void)w;
        close(errfd);
        _exit(rq->fn(rq->arg));
    }
    if (rq->path == NULL) tns_child_fail(errfd, TNS_STAGE_EXEC, EFAULT);
    execve(rq->path, rq->argv, rq->envp);
    tns_child_fail(errfd, TNS_STAGE_EXEC, errno);
}

struct tns_vfork_arg {
    const struct tns_spawn *req;
    int errfd;
    pid_t parent;
    int unshare_flags;
};

static int tns_vfork_child(void *p) {
    struct tns_vfork_arg *a = p;
    struct tns_spawn rq = *a->req; /* a private copy: the original is the parent's memory */
    rq.unshare_flags = a->unshare_flags;
    tns_child(&rq, a->errfd, a->parent);
    return 127; /* not reached: tns_child execs or _exits */
}

#define TNS_HOLDER_STACK (64 * 1024)
#define TNS_GUARD 4096

/* A holder's own stack, with a PROT_NONE guard page below it. */
static void *tns_holder_stack(void) {
    char *m = mmap(NULL, TNS_HOLDER_STACK + TNS_GUARD, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (m == MAP_FAILED) return NULL;
    if (mprotect(m, TNS_GUARD, PROT_NONE) < 0) {
        munmap(m, TNS_HOLDER_STACK + TNS_GUARD);
        return NULL;
    }
    return m;
}

void tns_free_stack(void *stack) {
    if (stack != NULL) munmap(stack, TNS_HOLDER_STACK + TNS_GUARD);
}

int tns_spawn(struct tns_spawn *req, int *stage) {
    int pipefd[2];
    *stage = 0;
    req->holder_stack = NULL;
    if (pipe2(pipefd, O_CLOEXEC) < 0) return -errno;
    pid_t parent = getpid();
    /* A CLONE_VM|CLONE_VFORK child skips copying the helper's page tables (a Python process:
     * ~1 ms per fork here), as posix_spawn does. Only for children that exec without setns
     * (EUSERS with a shared mm, setns(2)) and are not holders or C entry points
     * (those never exec). CLONE_NEWUSER goes into clone() itself: unshare(CLONE_NEWUSER) is
     * EINVAL with a shared mm, clone(CLONE_NEWUSER|CLONE_VM) is not (only CLONE_THREAD/FS are
     * refused, kernel/fork.c); the child then unshares CLONE_NEWTIME alone. */
    int use_vfork = req->timens_fd < 0 && req->userns_fd < 0 && req->hold_fd < 0 && req->fn == NULL;
    /* A holder that joins nothing shares our memory too (CLONE_VM without CLONE_VFORK: it never
     * execs). A fork would copy the helper's page tables and leave every page copy-on-write
     * for as long as the holder lives, so each later write of the helper's Python heap
     * faults and copies, per holder. The holder writes only its own stack, its own fd table
     * (no CLONE_FILES) and, through a failing libc call, errno: the TLS it shares with us. We
     * do run at the same time (from clone() until we block in read()), so: tns_child makes no
     * call that fails on a normal path (it skips the signals sigaction refuses), we look at
     * errno after clone() only when clone failed (no holder then), and every signal stays
     * blocked here until its report is read, so that read() cannot end early with EINTR (and
     * an errno the holder may have just overwritten), nor let us return and free the request
     * while the holder still reads it. After its report it only blocks in read() with no
     * handler installed. setns would refuse a shared mm (EUSERS, §2.4), so nested holders
     * fork. */
    int use_vm_holder = req->hold_fd >= 0 && req->timens_fd < 0 && req->userns_fd < 0 &&
                        req->fn == NULL;
    /* Read by a shared-memory child as it starts: it lives until we return, which is after
     * the child has reported (or died). */
    struct tns_vfork_arg arg = {req, pipefd[1], parent, req->unshare_flags & ~CLONE_NEWUSER};
    sigset_t all, old;
    sigfillset(&all);
    /* Blocked from before the clone until the child's report is read (or it is reaped). */
    sigprocmask(SIG_SETMASK, &all, &old);
    pid_t pid;
    int fork_err = 0;
    if (use_vfork) {
        /* One stack, mapped once and kept: the helper is single-threaded and CLONE_VFORK holds
         * us until the child has exec'd or exited, so it is never in use twice. Unmapping it
         * after every spawn cost a TLB shootdown across CPUs each time. */
        static void *stack;
        const size_t size = 256 * 1024;
        if (stack == NULL) {
            void *m = mmap(NULL, size, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
            if (m != MAP_FAILED) stack = m;
            else fork_err = errno;
        }
        if (stack == NULL) {
            pid = -1;
        } else {
            int flags = CLONE_VM | CLONE_VFORK | SIGCHLD | (req->unshare_flags & CLONE_NEWUSER);
            pid = clone(tns_vfork_child, (char *)stack + size, flags, &arg);
            fork_err = errno;
        }
    } else if (use_vm_holder) {
        void *hstack = tns_holder_stack();
        if (hstack == NULL) {
            pid = -1;
            fork_err = errno;
        } else {
            int flags = CLONE_VM | SIGCHLD | (req->unshare_flags & CLONE_NEWUSER);
            pid = clone(tns_vfork_child, (char *)hstack + TNS_HOLDER_STACK + TNS_GUARD, flags, &arg);
            fork_err = errno;
            if (pid < 0) tns_free_stack(hstack);
            else req->holder_stack = hstack;
        }
    } else {
        pid = fork();
        fork_err = errno;
        if (pid == 0) {
            close(pipefd[0]);
            tns_child(req, pipefd[1], parent);
        }
    }
    if (pid < 0) {
        sigprocmask(SIG_SETMASK, &old, NULL);
        close(pipefd[0]);
        close(pipefd[1]);
        return -fork_err;
    }
    close(pipefd[1]);
    /* Signals are still blocked (see use_vm_holder): nothing interrupts this read. */
    int msg[2] = {0, 0};
    ssize_t n;
    do { n = read(pipefd[0], msg, sizeof msg); } while (n < 0 && errno == EINTR);
    int read_err = n < 0 ? errno : 0;
    close(pipefd[0]);
    /* EOF means every copy of the pipe's write end is closed: for a child that execs, exec
     * succeeded (CLOEXEC); a holder or a C entry point must report first, so for them EOF
     * means it died before it could (killed from outside): a failure, not a pid. */
    int reports = req->hold_fd >= 0 || req->fn != NULL;
    int failed = n < 0 || (n > 0 && n != (ssize_t)sizeof msg) || (n == 0 && reports) ||
                 (n == (ssize_t)sizeof msg && msg[0] != 0);
    if (failed) {
        int status;
        if (n != (ssize_t)sizeof msg) kill(pid, SIGKILL);  /* our unreaped child */
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
        tns_free_stack(req->holder_stack);  /* reaped: nothing runs on it any more */
        req->holder_stack = NULL;
        sigprocmask(SIG_SETMASK, &old, NULL);
        if (n == (ssize_t)sizeof msg) {
            *stage = msg[0];
            return -msg[1];
        }
        *stage = TNS_STAGE_REPORT;
        return -(read_err ? read_err : ESRCH);
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    /* n == 0: exec succeeded. n == 8 with stage 0: a holder or fn child is ready. */
    return pid;
}
