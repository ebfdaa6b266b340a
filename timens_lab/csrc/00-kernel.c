/* The kernel layer: thin syscall wrappers returning 0/value or -errno.
 * Fallback constants for older libc/kernel headers come first (util-linux does the same). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <linux/kcmp.h>
#include <linux/nsfs.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080 /* uapi/linux/sched.h, Linux 5.6 */
#endif
#ifndef CLOCK_BOOTTIME_ALARM
#define CLOCK_BOOTTIME_ALARM 9
#endif
#ifndef CLOCK_REALTIME_ALARM
#define CLOCK_REALTIME_ALARM 8
#endif
#ifndef NS_GET_ID
/* uapi/linux/nsfs.h (Linux 6.18): _IOR(NSIO, 13, __u64); Debian 12 headers predate it. */
#define NS_GET_ID _IOR(0xb7, 13, uint64_t)
#define TNS_NS_GET_ID_FROM_HEADERS 0
#else
#define TNS_NS_GET_ID_FROM_HEADERS 1
#endif
#ifndef NS_GET_OWNER_UID
#define NS_GET_OWNER_UID _IO(0xb7, 0x4)
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#ifndef SYS_clone3
#define TNS_HAS_CLONE3 0
#else
#define TNS_HAS_CLONE3 1
#endif

#define TNS_RET(expr) do { long _r = (long)(expr); return _r < 0 ? -errno : (int)_r; } while (0)

static inline int64_t tns_ts_ns(const struct timespec *ts) {
    return (int64_t)ts->tv_sec * 1000000000LL + ts->tv_nsec;
}

static inline struct timespec tns_ns_ts(int64_t ns) {
    struct timespec ts;
    ts.tv_sec = ns / 1000000000LL;
    ts.tv_nsec = ns % 1000000000LL;
    if (ts.tv_nsec < 0) { ts.tv_nsec += 1000000000LL; ts.tv_sec -= 1; }
    return ts;
}

static int tns_unshare(int flags) { TNS_RET(unshare(flags)); }
static int tns_setns(int fd, int nstype) { TNS_RET(setns(fd, nstype)); }

static int tns_clock_gettime(int clk, int64_t *out_ns) {
    struct timespec ts;
    if (clock_gettime((clockid_t)clk, &ts) != 0) return -errno;
    *out_ns = tns_ts_ns(&ts);
    return 0;
}

static int tns_clock_getres(int clk, int64_t *out_ns) {
    struct timespec ts;
    if (clock_getres((clockid_t)clk, &ts) != 0) return -errno;
    *out_ns = tns_ts_ns(&ts);
    return 0;
}

static int tns_clock_nanosleep(int clk, int flags, int64_t ns, int64_t *remain_ns) {
    struct timespec req = tns_ns_ts(ns), rem = {0, 0};
    int r = clock_nanosleep((clockid_t)clk, flags, &req, &rem); /* returns the error number */
    if (remain_ns) *remain_ns = tns_ts_ns(&rem);
    return -r;
}

static int tns_timerfd_create(int clk, int flags) { TNS_RET(timerfd_create(clk, flags)); }

static int tns_timerfd_settime(int fd, int flags, int64_t value_ns, int64_t interval_ns,
                               int64_t *old_value_ns, int64_t *old_interval_ns) {
    struct itimerspec nv, ov;
    nv.it_value = tns_ns_ts(value_ns);
    nv.it_interval = tns_ns_ts(interval_ns);
    if (timerfd_settime(fd, flags, &nv, &ov) != 0) return -errno;
    if (old_value_ns) *old_value_ns = tns_ts_ns(&ov.it_value);
    if (old_interval_ns) *old_interval_ns = tns_ts_ns(&ov.it_interval);
    return 0;
}

static int tns_timerfd_gettime(int fd, int64_t *value_ns, int64_t *interval_ns) {
    struct itimerspec cur;
    if (timerfd_gettime(fd, &cur) != 0) return -errno;
    *value_ns = tns_ts_ns(&cur.it_value);
    *interval_ns = tns_ts_ns(&cur.it_interval);
    return 0;
}

static int tns_pidfd_open(int pid, unsigned int flags) {
    TNS_RET(syscall(SYS_pidfd_open, pid, flags));
}

static int tns_pidfd_send_signal(int pidfd, int sig) {
    TNS_RET(syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0));
}

static int tns_prctl(int option, unsigned long arg2) { TNS_RET(prctl(option, arg2, 0, 0, 0)); }

static int tns_ioctl_fd(int fd, unsigned long request) { TNS_RET(ioctl(fd, request)); }

/* kcmp(2); ENOSYS where the headers know no syscall number for it. */
static int tns_kcmp(int pid1, int pid2, int type) {
#ifdef SYS_kcmp
    TNS_RET(syscall(SYS_kcmp, pid1, pid2, type, 0, 0));
#else
    (void)pid1; (void)pid2; (void)type;
    return -ENOSYS;
#endif
}

static int tns_ns_get_id(int fd, uint64_t *out) { TNS_RET(ioctl(fd, NS_GET_ID, out)); }

static int tns_has_clone3(void) { return TNS_HAS_CLONE3; }
static int tns_has_ns_get_id(void) { return 1; }

/* clone3(CLONE_NEWTIME) works since 6.3 (a402f1e35313); earlier kernels say EINVAL and
 * seccomp'd containers ENOSYS. Run it in a throwaway child only: the probe must not leave a
 * namespace behind. Returns 0 when the kernel accepted the flag, else -errno. */
struct tns_clone_args {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};
static int tns_clone3_newtime_probe(void) {
#if TNS_HAS_CLONE3
    struct tns_clone_args args;
    memset(&args, 0, sizeof args);
    args.flags = CLONE_NEWTIME;
    args.exit_signal = SIGCHLD;
    long pid = syscall(SYS_clone3, &args, sizeof args);
    if (pid < 0) return -errno;
    if (pid == 0) _exit(0);
    int status;
    while (waitpid((pid_t)pid, &status, 0) < 0 && errno == EINTR) {}
    return 0;
#else
    return -ENOSYS;
#endif
}
