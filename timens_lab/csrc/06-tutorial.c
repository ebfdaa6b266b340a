/* The tutorial's kernel experiments: small C programs the notebooks run through the engine.
 *
 * Why C: several behaviours exist only between a syscall and the next (a vfork child before
 * exec, a thread of the unsharer, legacy clone, clone3, setns from a single-threaded caller), and
 * Python cannot stand there. Each entry point runs in a fresh fork of the single-threaded helper
 * (Lab.start_c_host or TimeNamespace.start_c), reads its parameters from a "key=value" string and
 * writes "key value" lines to fd 3. Every process an experiment creates is reaped before it
 * returns; namespaces die with their last process. The numbers below ("behaviour N") are those of
 * timens_lab/_tutorial_behaviours.py; the rules are time_namespaces(7)'s.
 */
#include <pthread.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <grp.h>

#define TNS_OUT_FD 3

extern char **environ;

/* --- small tools -------------------------------------------------------------------------- */

static void tut_out(const char *key, const char *fmt, ...) {
    char line[512];
    int n = snprintf(line, sizeof line, "%s ", key);
    va_list ap;
    va_start(ap, fmt);
    n += vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof line - 2) n = (int)sizeof line - 2;
    line[n++] = '\n';
    ssize_t w = write(TNS_OUT_FD, line, (size_t)n); /* one write: lines never interleave */
    (void)w;
}

/* The value of "key=" in a "k=v k=v" string, or dflt. */
static long long tut_arg(const char *args, const char *key, long long dflt) {
    size_t k = strlen(key);
    for (const char *p = args; p && *p; ) {
        while (*p == ' ') p++;
        if (strncmp(p, key, k) == 0 && p[k] == '=') return strtoll(p + k + 1, NULL, 10);
        p = strchr(p, ' ');
    }
    return dflt;
}

static int64_t tut_now(clockid_t clk) {
    struct timespec ts;
    if (clock_gettime(clk, &ts) != 0) return INT64_MIN;
    return tns_ts_ns(&ts);
}

/* clock − REALTIME, with REALTIME read on both sides: REALTIME is the same in every time
 * namespace, so comparing this between processes gives the offset to within a microsecond. */
static int64_t tut_vs_realtime(clockid_t clk) {
    int64_t a = tut_now(CLOCK_REALTIME), c = tut_now(clk), b = tut_now(CLOCK_REALTIME);
    return c - (a + (b - a) / 2);
}

static unsigned long long tut_ino(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (unsigned long long)st.st_ino : 0ULL;
}

/* write(2) a string into a /proc file in one call; returns bytes written or -errno. */
static long tut_write_file(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    ssize_t n = write(fd, text, strlen(text));
    long r = n < 0 ? -errno : (long)n;
    close(fd);
    return r;
}

static long tut_set_offsets(long long mono_s, long long boot_s) {
    char text[96];
    snprintf(text, sizeof text, "monotonic %lld 0\nboottime %lld 0\n", mono_s, boot_s);
    return tut_write_file("/proc/self/timens_offsets", text);
}

static void tut_wait(pid_t pid, int flags) {
    int status;
    while (waitpid(pid, &status, flags) < 0 && errno == EINTR) {}
}

/* Block until the other end of a pipe is closed (a one-shot "go" signal between processes). */
static void tut_await_close(int fd) {
    char c;
    while (read(fd, &c, 1) < 0 && errno == EINTR) {}
}

/* --- behaviours 1-6, 36: every clock, once ------------------------------------------------ */

int tns_tut_clocks_main(void *arg) {
    (void)arg;
    static const clockid_t ids[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11};
    int64_t values[sizeof ids / sizeof ids[0]];
    int errs[sizeof ids / sizeof ids[0]];
    int64_t rt0 = tut_now(CLOCK_REALTIME);
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        struct timespec ts;
        errs[i] = clock_gettime(ids[i], &ts) == 0 ? 0 : errno;
        values[i] = errs[i] ? 0 : tns_ts_ns(&ts);
    }
    int64_t rt1 = tut_now(CLOCK_REALTIME);
    tut_out("rt0", "%lld", (long long)rt0);
    tut_out("rt1", "%lld", (long long)rt1);
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        char key[16];
        snprintf(key, sizeof key, "clock%d", (int)ids[i]);
        if (errs[i]) tut_out(key, "E%d", errs[i]);
        else tut_out(key, "%lld", (long long)values[i]);
    }
    tut_out("time_ino", "%llu", tut_ino("/proc/self/ns/time"));
    tut_out("tfc_ino", "%llu", tut_ino("/proc/self/ns/time_for_children"));
    return 0;
}

/* --- checks 18, 28-31: who lands where after unshare(CLONE_NEWTIME) ------------------------ */

struct tut_thread_seen { int64_t d_mono; unsigned long long ino; };

static void *tut_thread(void *p) {
    struct tut_thread_seen *seen = p;
    seen->d_mono = tut_vs_realtime(CLOCK_MONOTONIC);
    seen->ino = tut_ino("/proc/thread-self/ns/time");
    return NULL;
}

/* Run argv with stdout into a pipe; return what it printed (up to len - 1 bytes). */
static void tut_collect(int fd, char *buf, size_t len) {
    size_t got = 0;
    ssize_t n;
    while (got < len - 1 && ((n = read(fd, buf + got, len - 1 - got)) > 0 || (n < 0 && errno == EINTR)))
        if (n > 0) got += (size_t)n;
    buf[got] = '\0';
    for (size_t i = 0; i < got; i++) if (buf[i] == '\n') buf[i] = ' ';
}

static const char TUT_REPORT[] = "readlink /proc/self/ns/time; cut -d' ' -f1 /proc/uptime";

/* vfork (raw): the child shares our memory until it execs, so it reports by storing into it. */
static void tut_vfork(void) {
    volatile int64_t d_mono = 0;
    volatile unsigned long long ino = 0;
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) { tut_out("vfork_errno", "%d", errno); return; }
    char *argv[] = {"sh", "-c", (char *)TUT_REPORT, NULL};
    pid_t pid = vfork();
    if (pid == 0) {
        /* Before exec: still in the unsharer's namespace (fs/exec.c: exec enters time_for_children, Linux >= 6.2). */
        d_mono = tut_vs_realtime(CLOCK_MONOTONIC);
        ino = tut_ino("/proc/self/ns/time");
        dup2(p[1], 1);
        execve("/bin/sh", argv, environ);
        _exit(127);
    }
    close(p[1]);
    if (pid < 0) { tut_out("vfork_errno", "%d", errno); close(p[0]); return; }
    char buf[256];
    tut_collect(p[0], buf, sizeof buf);
    close(p[0]);
    tut_wait(pid, 0);
    tut_out("vfork_before_exec_d_mono", "%lld", (long long)d_mono);
    tut_out("vfork_before_exec_ino", "%llu", (unsigned long long)ino);
    tut_out("vfork_after_exec", "%s", buf);
}

static void tut_posix_spawn(void) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) return;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p[1], 1);
    char *argv[] = {"sh", "-c", (char *)TUT_REPORT, NULL};
    pid_t pid;
    int err = posix_spawn(&pid, "/bin/sh", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(p[1]);
    tut_out("posix_spawn_errno", "%d", err);
    if (err == 0) {
        char buf[256];
        tut_collect(p[0], buf, sizeof buf);
        tut_wait(pid, 0);
        tut_out("posix_spawn_after_exec", "%s", buf);
    }
    close(p[0]);
}

/* A child created by fork(), legacy clone(CLONE_NEWTIME|SIGCHLD) or clone3(CLONE_NEWTIME):
 * reports its namespaces and clock on fd 3, then waits until the parent closes `go`. */
static void tut_child_report(const char *prefix, int go) {
    char key[64];
    snprintf(key, sizeof key, "%s_ino", prefix);
    tut_out(key, "%llu", tut_ino("/proc/self/ns/time"));
    snprintf(key, sizeof key, "%s_tfc_ino", prefix);
    tut_out(key, "%llu", tut_ino("/proc/self/ns/time_for_children"));
    snprintf(key, sizeof key, "%s_d_mono", prefix);
    tut_out(key, "%lld", (long long)tut_vs_realtime(CLOCK_MONOTONIC));
    if (go >= 0) tut_await_close(go);
    _exit(0);
}

static void tut_legacy_clone(void) {
    /* clone(2) has no room for CLONE_NEWTIME (0x80): it falls in CSIGNAL, the exit-signal
     * byte, so the kernel reads 0x80|SIGCHLD = 145 as the signal and creates no namespace. A
     * child whose exit signal is not SIGCHLD is reaped with __WALL (wait(2)). */
    unsigned long flags = CLONE_NEWTIME | SIGCHLD;
#if defined(__s390__)
    long pid = syscall(SYS_clone, 0L, flags, 0L, 0L, 0L);
#else
    long pid = syscall(SYS_clone, flags, 0L, 0L, 0L, 0L);
#endif
    if (pid == 0) tut_child_report("legacy_clone", -1);
    tut_out("legacy_clone_errno", "%d", pid < 0 ? errno : 0);
    if (pid > 0) tut_wait((pid_t)pid, __WALL);
}

static void tut_clone3(void) {
#if TNS_HAS_CLONE3
    int go[2];
    if (pipe2(go, O_CLOEXEC) < 0) return;
    struct tns_clone_args args;
    memset(&args, 0, sizeof args);
    args.flags = CLONE_NEWTIME;
    args.exit_signal = SIGCHLD;
    long pid = syscall(SYS_clone3, &args, sizeof args);
    if (pid == 0) { close(go[1]); tut_child_report("clone3", go[0]); }
    close(go[0]);
    tut_out("clone3_errno", "%d", pid < 0 ? errno : 0);
    if (pid > 0) {
        /* The child is already inside its new namespace, so its offsets are frozen at birth. */
        char path[64];
        snprintf(path, sizeof path, "/proc/%ld/timens_offsets", pid);
        tut_out("clone3_write", "%ld", tut_write_file(path, "monotonic 1 0\n"));
    }
    close(go[1]);
    if (pid > 0) tut_wait((pid_t)pid, 0);
#else
    tut_out("clone3_errno", "%d", ENOSYS);
#endif
}

int tns_tut_unsharer_main(void *arg) {
    const char *args = arg;
    long long mono = tut_arg(args, "mono", 3600), boot = tut_arg(args, "boot", 3600);
    int flags = CLONE_NEWTIME | (tut_arg(args, "rootless", 0) ? CLONE_NEWUSER : 0);
    tut_out("before_ino", "%llu", tut_ino("/proc/self/ns/time"));
    tut_out("before_d_mono", "%lld", (long long)tut_vs_realtime(CLOCK_MONOTONIC));
    tut_out("before_boottime", "%lld", (long long)tut_now(CLOCK_BOOTTIME));
    if (unshare(flags) < 0) { tut_out("unshare_errno", "%d", errno); return 1; }
    long w = tut_set_offsets(mono, boot);
    tut_out("offsets_write", "%ld", w);
    if (w < 0) return 1;
    /* behaviour 18: the caller itself has not moved; only its time_for_children has. */
    tut_out("self_ino", "%llu", tut_ino("/proc/self/ns/time"));
    tut_out("self_tfc_ino", "%llu", tut_ino("/proc/self/ns/time_for_children"));
    tut_out("self_d_mono", "%lld", (long long)tut_vs_realtime(CLOCK_MONOTONIC));
    /* behaviour 30: a thread shares the caller's mm and stays where the caller is (Linux >= 6.2;
     * before, pthread_create failed with EINVAL here). */
    struct tut_thread_seen seen = {0, 0};
    pthread_t th;
    int terr = pthread_create(&th, NULL, tut_thread, &seen);
    tut_out("thread_errno", "%d", terr);
    if (terr == 0) {
        pthread_join(th, NULL);
        tut_out("thread_d_mono", "%lld", (long long)seen.d_mono);
        tut_out("thread_ino", "%llu", seen.ino);
    }
    /* behaviour 31: vfork child before and after exec; posix_spawn (glibc: CLONE_VM|CLONE_VFORK). */
    tut_vfork();
    tut_posix_spawn();
    /* behaviour 29, then 28 (clone3 makes a namespace of its own, copied from time_for_children). */
    tut_legacy_clone();
    tut_clone3();
    /* A plain fork lands in time_for_children; it freezes the offsets (behaviour 16). */
    pid_t pid = fork();
    if (pid == 0) tut_child_report("fork", -1);
    if (pid > 0) tut_wait(pid, 0);
    tut_out("write_after_fork", "%ld", tut_set_offsets(mono + 1, boot));
    return 0;
}

/* --- checks 21, 22, 32, 33: nesting, setns(pidfd) and whose offsets the file shows --------- */

int tns_tut_nested_main(void *arg) {
    const char *args = arg;
    long long a = tut_arg(args, "a", 1000), b = tut_arg(args, "b", 5);
    long long boot = tut_arg(args, "boot", 2000);
    int flags = CLONE_NEWTIME | (tut_arg(args, "rootless", 0) ? CLONE_NEWUSER : 0);
    tut_out("host_d_mono", "%lld", (long long)tut_vs_realtime(CLOCK_MONOTONIC));
    if (unshare(flags) < 0) { tut_out("unshare_errno", "%d", errno); return 1; }
    if (tut_set_offsets(a, boot) < 0) { tut_out("offsets_errno", "%d", errno); return 1; }
    tut_out("a_ino", "%llu", tut_ino("/proc/self/ns/time_for_children"));
    int ready[2], go[2], fork_go[2];
    if (pipe2(ready, O_CLOEXEC) < 0 || pipe2(go, O_CLOEXEC) < 0 || pipe2(fork_go, O_CLOEXEC) < 0)
        return 1;
    pid_t p = fork(); /* P: a member of A */
    if (p == 0) {
        close(ready[0]); close(go[1]); close(fork_go[1]);
        if (unshare(CLONE_NEWTIME) < 0) { tut_out("p_unshare_errno", "%d", errno); _exit(1); }
        char text[128];
        int fd = open("/proc/self/timens_offsets", O_RDONLY | O_CLOEXEC);
        ssize_t n = fd >= 0 ? read(fd, text, sizeof text - 1) : -1;
        if (fd >= 0) close(fd);
        text[n > 0 ? n : 0] = '\0';
        for (char *c = text; *c; c++) if (*c == '\n') *c = '|';
        tut_out("b_inherited", "%s", text);                   /* behaviour 21: a copy of A's */
        char b_text[64];
        snprintf(b_text, sizeof b_text, "monotonic %lld 0\n", b);
        tut_out("b_write", "%ld", tut_write_file("/proc/self/timens_offsets", b_text));
        fd = open("/proc/self/timens_offsets", O_RDONLY | O_CLOEXEC);
        n = fd >= 0 ? read(fd, text, sizeof text - 1) : -1;
        if (fd >= 0) close(fd);
        text[n > 0 ? n : 0] = '\0';
        for (char *c = text; *c; c++) if (*c == '\n') *c = '|';
        tut_out("p_file", "%s", text);                        /* behaviour 33: B's offsets ... */
        tut_out("p_d_mono", "%lld", (long long)tut_vs_realtime(CLOCK_MONOTONIC)); /* ... clock A */
        tut_out("p_ino", "%llu", tut_ino("/proc/self/ns/time"));
        tut_out("b_ino", "%llu", tut_ino("/proc/self/ns/time_for_children"));
        close(ready[1]);                                      /* "unshared, never forked" */
        tut_await_close(fork_go[0]);
        pid_t g = fork();                                     /* behaviour 22: G is in B: host + b */
        if (g == 0) tut_child_report("g", -1);
        if (g > 0) tut_wait(g, 0);
        tut_await_close(go[0]);
        _exit(0);
    }
    close(ready[1]); close(go[0]); close(fork_go[0]);
    if (p < 0) return 1;
    tut_await_close(ready[0]);
    /* behaviour 32: setns(pidfd(P), CLONE_NEWTIME) joins P's *own* namespace (A), not the B it
     * unshared. We are single-threaded, so the kernel lets us (EUSERS otherwise). */
    int pidfd = (int)syscall(SYS_pidfd_open, p, 0);
    int r = pidfd >= 0 ? setns(pidfd, CLONE_NEWTIME) : -1;
    tut_out("setns_errno", "%d", r < 0 ? errno : 0);
    if (pidfd >= 0) close(pidfd);
    tut_out("joined_ino", "%llu", tut_ino("/proc/self/ns/time"));
    tut_out("joined_d_mono", "%lld", (long long)tut_vs_realtime(CLOCK_MONOTONIC));
    close(fork_go[1]);
    close(go[1]);
    tut_wait(p, 0);
    return 0;
}

/* --- behaviour 26: a rootless write and the dumpable flag----------------------------------- */

int tns_tut_dumpable_main(void *arg) {
    uid_t uid = (uid_t)tut_arg(arg, "uid", 65534);
    if (geteuid() == 0) {
        /* Changing credentials without exec makes a process non-dumpable (prctl(2),
         * PR_SET_DUMPABLE; fs.suid_dumpable=0): its /proc/self files then belong to root. */
        if (setgroups(0, NULL) < 0 || setresgid(uid, uid, uid) < 0 || setresuid(uid, uid, uid) < 0) {
            tut_out("setuid_errno", "%d", errno);
            return 1;
        }
        tut_out("path", "setuid");
    } else {
        /* Already unprivileged: make ourselves non-dumpable the way setuid() would. */
        prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
        tut_out("path", "prctl");
    }
    tut_out("euid", "%d", (int)geteuid());
    tut_out("dumpable", "%d", prctl(PR_GET_DUMPABLE, 0, 0, 0, 0));
    tut_out("newtime", "%d", unshare(CLONE_NEWTIME) < 0 ? errno : 0);
    tut_out("newuser_newtime", "%d", unshare(CLONE_NEWUSER | CLONE_NEWTIME) < 0 ? errno : 0);
    int fd = open("/proc/self/timens_offsets", O_WRONLY | O_CLOEXEC);
    tut_out("open_nondumpable", "%d", fd < 0 ? errno : 0);
    if (fd >= 0) close(fd);
    prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
    tut_out("write_dumpable", "%ld", tut_write_file("/proc/self/timens_offsets", "monotonic 5 0\n"));
    return 0;
}

/* --- behaviour 35: user.max_time_namespaces, inside a user namespace------------------------ */

int tns_tut_enospc_main(void *arg) {
    (void)arg;
    uid_t uid = geteuid();
    gid_t gid = getegid();
    if (unshare(CLONE_NEWUSER) < 0) { tut_out("userns_errno", "%d", errno); return 1; }
    char map[64];
    tut_write_file("/proc/self/setgroups", "deny");
    snprintf(map, sizeof map, "0 %u 1\n", (unsigned)uid);
    tut_write_file("/proc/self/uid_map", map);
    snprintf(map, sizeof map, "0 %u 1\n", (unsigned)gid);
    tut_write_file("/proc/self/gid_map", map);
    const char *limit = "/proc/sys/user/max_time_namespaces";
    tut_out("set_0", "%ld", tut_write_file(limit, "0\n"));
    tut_out("unshare_at_0", "%d", unshare(CLONE_NEWTIME) < 0 ? errno : 0);
    tut_out("set_1", "%ld", tut_write_file(limit, "1\n"));
    tut_out("unshare_at_1", "%d", unshare(CLONE_NEWTIME) < 0 ? errno : 0);
    /* The first namespace has no member but is counted from unshare() on (inc_time_namespaces() in create_time_ns()); unsharing again
     * would need a second one before the first is dropped. */
    tut_out("unshare_again_at_1", "%d", unshare(CLONE_NEWTIME) < 0 ? errno : 0);
    return 0;
}

/* --- behaviour 27: absolute sleeps and timers, run inside a namespace -------------------- */

static int64_t tut_sleep_abs(clockid_t clk, int64_t target) {
    struct timespec ts = tns_ns_ts(target);
    int64_t t0 = tut_now(CLOCK_MONOTONIC);
    while (clock_nanosleep(clk, TIMER_ABSTIME, &ts, NULL) == EINTR) {}
    return tut_now(CLOCK_MONOTONIC) - t0;
}

int tns_tut_timers_main(void *arg) {
    const char *args = arg;
    int64_t mono_off = tut_arg(args, "mono_off", 0), boot_off = tut_arg(args, "boot_off", 0);
    int64_t wait = tut_arg(args, "wait_ns", 200000000LL);
    int64_t foreign = tut_arg(args, "host_deadline", 0);
    int64_t now = tut_now(CLOCK_MONOTONIC);
    /* behaviour 27: an absolute target in namespace time sleeps as long as asked ... */
    tut_out("sleep_ns_abs", "%lld", (long long)tut_sleep_abs(CLOCK_MONOTONIC, now + wait));
    /* ... one computed from the host's clock is already in the past here: it returns at once. */
    now = tut_now(CLOCK_MONOTONIC);
    tut_out("sleep_host_abs", "%lld",
            (long long)tut_sleep_abs(CLOCK_MONOTONIC, now - mono_off + wait));
    now = tut_now(CLOCK_BOOTTIME);
    tut_out("sleep_boot_abs", "%lld", (long long)tut_sleep_abs(CLOCK_BOOTTIME, now + wait));
    if (foreign) /* a deadline the host computed and handed in, as a config file might */
        tut_out("sleep_foreign", "%lld", (long long)tut_sleep_abs(CLOCK_MONOTONIC, foreign));
    struct timespec rel = tns_ns_ts(wait / 2);
    int64_t t0 = tut_now(CLOCK_MONOTONIC);
    clock_nanosleep(CLOCK_MONOTONIC, 0, &rel, NULL);
    tut_out("sleep_relative", "%lld", (long long)(tut_now(CLOCK_MONOTONIC) - t0));

    /* timerfd: armed in namespace time, reported relative (timerfd_gettime(2)). */
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
    if (tfd >= 0) {
        struct itimerspec its = {{0, 0}, tns_ns_ts(tut_now(CLOCK_MONOTONIC) + wait)};
        struct itimerspec cur;
        timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
        timerfd_gettime(tfd, &cur);
        tut_out("timerfd_left", "%lld", (long long)tns_ts_ns(&cur.it_value));
        uint64_t n = 0;
        t0 = tut_now(CLOCK_MONOTONIC);
        ssize_t r = read(tfd, &n, sizeof n);
        tut_out("timerfd_fired_after", "%lld", (long long)(tut_now(CLOCK_MONOTONIC) - t0));
        its.it_value = tns_ns_ts(tut_now(CLOCK_MONOTONIC) - mono_off + wait); /* host time */
        timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
        t0 = tut_now(CLOCK_MONOTONIC);
        r = read(tfd, &n, sizeof n);
        tut_out("timerfd_host_fired_after", "%lld", (long long)(tut_now(CLOCK_MONOTONIC) - t0));
        tut_out("timerfd_host_expirations", "%lld", r == sizeof n ? (long long)n : -1LL);
        close(tfd);
    }

    /* POSIX timer (timer_create(2), SIGEV_NONE: poll it with timer_gettime). An hour ahead in
     * namespace time is an hour left, whatever the offset. */
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_NONE;
    timer_t timer;
    if (timer_create(CLOCK_MONOTONIC, &sev, &timer) == 0) {
        struct itimerspec its = {{0, 0}, tns_ns_ts(tut_now(CLOCK_MONOTONIC) + 3600000000000LL)};
        struct itimerspec cur;
        timer_settime(timer, TIMER_ABSTIME, &its, NULL);
        timer_gettime(timer, &cur);
        tut_out("posix_timer_left", "%lld", (long long)tns_ts_ns(&cur.it_value));
        its.it_value = tns_ns_ts(tut_now(CLOCK_MONOTONIC) - mono_off + 3600000000000LL);
        timer_settime(timer, TIMER_ABSTIME, &its, NULL);
        timer_gettime(timer, &cur);
        tut_out("posix_timer_host_left", "%lld", (long long)tns_ts_ns(&cur.it_value));
        timer_delete(timer);
    } else {
        tut_out("posix_timer_errno", "%d", errno);
    }
    tut_out("boot_off", "%lld", (long long)boot_off);
    return 0;
}

/* --- section 8: what one clock read costs, vDSO and syscall -------------------------------- */

static int64_t tut_loop(clockid_t clk, long n, int use_syscall) {
    struct timespec ts;
    int64_t sink = 0;
    int64_t t0 = tut_now(CLOCK_MONOTONIC);
    if (use_syscall) {
        for (long i = 0; i < n; i++) { syscall(SYS_clock_gettime, clk, &ts); sink += ts.tv_nsec; }
    } else {
        for (long i = 0; i < n; i++) { clock_gettime(clk, &ts); sink += ts.tv_nsec; }
    }
    int64_t t1 = tut_now(CLOCK_MONOTONIC);
    __asm__ volatile("" : : "r"(sink) : "memory");
    return t1 - t0;
}

int tns_tut_cost_main(void *arg) {
    const char *args = arg;
    long n = (long)tut_arg(args, "n", 200000);
    int rounds = (int)tut_arg(args, "rounds", 5);
    static const clockid_t ids[] = {CLOCK_MONOTONIC, CLOCK_BOOTTIME, CLOCK_REALTIME,
                                    CLOCK_MONOTONIC_RAW, CLOCK_MONOTONIC_COARSE,
                                    CLOCK_REALTIME_COARSE, CLOCK_TAI};
    tut_out("ino", "%llu", tut_ino("/proc/self/ns/time"));
    for (size_t c = 0; c < sizeof ids / sizeof ids[0]; c++) {
        for (int sys = 0; sys < 2; sys++) {
            long iters = sys ? n / 10 : n; /* a syscall is ~10x slower: same wall time */
            char key[32];
            snprintf(key, sizeof key, "%s%d", sys ? "syscall" : "vdso", (int)ids[c]);
            /* One line per clock: every round's ns/call (the caller takes min and median). */
            char line[256];
            int len = 0;
            for (int r = 0; r < rounds && len < (int)sizeof line - 16; r++) {
                double per = (double)tut_loop(ids[c], iters, sys) / (double)iters;
                len += snprintf(line + len, sizeof line - (size_t)len, "%s%.3f", r ? "," : "", per);
            }
            tut_out(key, "%s", line);
        }
    }
    return 0;
}
