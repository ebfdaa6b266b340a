/* The clock sampler: a C hot loop in a child joined to one time namespace, writing clock
 * records into a shared ring that the owner reads without locks (ring.py, sampler.py).
 *
 * One record (64 bytes, source.RECORD_DTYPE) is a REALTIME "sandwich": REALTIME, then the
 * sampled clocks in a fixed order, then REALTIME again. REALTIME is not virtualized by time
 * namespaces (time_namespaces(7)), so it is the common reference between namespaces; the two
 * reads bound when the clocks in between were read.
 *
 * Ring layout (one memfd, MAP_SHARED; ring.py mirrors it as HEADER_DTYPE):
 *   [0, 4096)        struct tns_ring_header, one writer per cache line
 *   [4096, ...)      capacity slots of 64 bytes; record seq s lives in slot s & (capacity - 1)
 *
 * Concurrency: a single writer (the sampler), a single reader (the owner). The writer never
 * waits for the reader; the reader detects what it lost. `head` is the count of records ever
 * written and works as the ring's seqlock (as a Linux seqcount, include/linux/seqlock.h):
 *   writer, record n:  store slot fields (relaxed); store head = n + 1 (release);
 *                      fence(release)  -- orders that head store before record n+1's stores
 *   reader:            h1 = head (acquire); copy records [tail, h1); fence(acquire); h2 = head
 * If the copy saw any store of record w, the writer's fence makes head >= w visible to the
 * reader's h2 load, so every record whose slot was (or is being) rewritten has seq <= h2 - cap
 * and is discarded as a drop. Each delivered record's own seq is checked too. On x86-64 the
 * fences cost nothing (TSO); on arm64 they are the dmb barriers a seqlock needs.
 * The status line (error, clocks, pid, resolutions) is published the same way: plain-field
 * stores, then status with release (tns_set_status); readers take status with acquire first
 * (tns_ring_status), so RUNNING always comes with its clocks and FAILED with its errno.
 */
#include <limits.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <linux/futex.h>

#define TNS_RING_MAGIC 0x31474E4952534E54ULL /* "TNSRING1" little-endian */
#define TNS_RING_VERSION 1
#define TNS_RING_HEADER_SIZE 4096
#define TNS_RING_RECORD_SIZE 64
#define TNS_NCLOCKS 5
#define TNS_CTL_RUN 0
#define TNS_CTL_PAUSE 1
#define TNS_CTL_STOP 2
#define TNS_ST_NEW 0
#define TNS_ST_RUNNING 1
#define TNS_ST_PAUSED 2
#define TNS_ST_STOPPED 3
#define TNS_ST_FAILED 4
#define TNS_READ_UNSAFE 1 /* tests only: skip the head re-check and the seq check */

/* enum tns_sampler_stage (header.error_stage): 02-sampler.h, which the build puts above. */
const char *tns_sampler_stage_text(int stage) {
    switch (stage) {
    case TNS_SST_MAP: return "map the ring";
    case TNS_SST_HEADER: return "check the ring header";
    case TNS_SST_REALTIME: return "read CLOCK_REALTIME";
    }
    return NULL;
}

/* Must match 02-sampler.cdef.h and ring.HEADER_DTYPE. */
struct tns_ring_header {
    /* 0: written once by the creator, before any sampler runs */
    uint64_t magic;
    uint32_t version;
    uint32_t header_size;     /* bytes before slot 0 */
    uint32_t record_size;
    uint32_t reserved0;
    uint64_t capacity;        /* records, a power of two */
    uint8_t pad0[32];
    /* 64: the writer's publication counter, alone on its cache line (read by every poll) */
    uint64_t head;            /* records ever written */
    uint8_t pad1[56];
    /* 128: the controller's word (TNS_CTL_*), also the futex a paused sampler waits on */
    uint32_t control;
    uint8_t pad2[60];
    /* 192: sampler status, written rarely by the sampler */
    uint32_t status;          /* TNS_ST_* */
    int32_t error;            /* errno when FAILED */
    uint32_t error_stage;
    int32_t pid;              /* getpid() of the sampler, as its pid namespace sees it */
    uint32_t clocks;          /* clocks actually sampled: clock_mask minus those the kernel refuses */
    uint32_t reserved1;
    uint64_t late;            /* pacing ticks skipped because the sampler ran late */
    int64_t period_ns;
    int64_t res_ns[8];        /* clock_getres(): [0] REALTIME, [1 + i] SAMPLED_CLOCKS[i]; -1 unknown */
    uint8_t pad3[24];
    /* 320: the reader's bookkeeping, published for other observers (informational) */
    uint64_t reader_tail;
    uint64_t reader_drops;
    uint64_t reader_torn;
    uint8_t pad4[40];
};

/* What tns_ring_status() reads from the status line, in one go (ring.py). */
struct tns_ring_status {
    uint32_t status;
    int32_t error;
    uint32_t error_stage;
    int32_t pid;
    uint32_t clocks;
    uint64_t late;
    int64_t period_ns;
    int64_t res_ns[8];
    uint64_t head;
};

struct tns_sampler_args {
    int32_t ring_fd;
    uint32_t clock_mask;
    int64_t period_ns;
    uint64_t max_records;
    uint32_t flags;
    uint32_t reserved;
};

_Static_assert(sizeof(struct tns_ring_header) == 384, "ring header layout");
_Static_assert(offsetof(struct tns_ring_header, head) == 64, "head on its own line");
_Static_assert(offsetof(struct tns_ring_header, control) == 128, "control on its own line");
_Static_assert(offsetof(struct tns_ring_header, status) == 192, "status line");
_Static_assert(offsetof(struct tns_ring_header, reader_tail) == 320, "reader line");

#define TNS_MISSING INT64_MIN
/* Order of source.SAMPLED_CLOCKS; record words 2..6. */
static const clockid_t tns_sampled[TNS_NCLOCKS] = {
    CLOCK_MONOTONIC, CLOCK_BOOTTIME, CLOCK_MONOTONIC_RAW, CLOCK_MONOTONIC_COARSE,
    CLOCK_BOOTTIME_ALARM,
};
/* A paused or slowly pacing sampler looks at the control word at least this often. */
#define TNS_SLICE_NS 50000000LL

static inline int64_t tns_read_clock(clockid_t clk) {
    struct timespec ts;
    if (clock_gettime(clk, &ts) != 0) return TNS_MISSING;
    return tns_ts_ns(&ts);
}

static inline void tns_futex(uint32_t *word, int op, uint32_t val, const struct timespec *rel) {
    /* A shared (not FUTEX_PRIVATE) futex: the word is in a MAP_SHARED memfd seen by two
     * processes (futex(2)). */
    syscall(SYS_futex, word, op, val, rel, NULL, 0);
}

static void tns_ring_control(void *ring, uint32_t value) {
    struct tns_ring_header *h = ring;
    __atomic_store_n(&h->control, value, __ATOMIC_SEQ_CST);
    tns_futex(&h->control, FUTEX_WAKE, INT_MAX, NULL);
}

static inline uint32_t tns_control(struct tns_ring_header *h) {
    return __atomic_load_n(&h->control, __ATOMIC_ACQUIRE);
}

/* A status-line field, published later by tns_set_status (release). Relaxed atomic, because a
 * reader may load it at any time (tns_ring_status): plain stores would race formally. */
#define TNS_PUT(field, value) __atomic_store_n(&(field), (value), __ATOMIC_RELAXED)

static inline void tns_set_status(struct tns_ring_header *h, uint32_t st) {
    __atomic_store_n(&h->status, st, __ATOMIC_RELEASE);
}

/* One record: seq, rt0, five clocks (or MISSING), rt1. Plain loads on the reader's side would
 * race formally; relaxed atomics are ordinary movs on x86-64 and arm64. */
static inline __attribute__((always_inline))
void tns_push(struct tns_ring_header *h, uint64_t *slots, uint64_t mask, uint64_t seq,
              const int64_t v[7]) {
    uint64_t *s = slots + (seq & mask) * 8;
    __atomic_store_n(&s[0], seq, __ATOMIC_RELAXED);
    for (int k = 0; k < 7; k++) __atomic_store_n(&s[1 + k], (uint64_t)v[k], __ATOMIC_RELAXED);
    __atomic_store_n(&h->head, seq + 1, __ATOMIC_RELEASE);
    __atomic_thread_fence(__ATOMIC_RELEASE);
}

/* Map and check the ring. Returns the header or NULL with *err set (then nothing is mapped). */
static struct tns_ring_header *tns_map_ring(int fd, size_t *size_out, int *err, int *stage) {
    struct stat st;
    *stage = TNS_SST_MAP;
    if (fstat(fd, &st) < 0) { *err = errno; return NULL; }
    if (st.st_size < TNS_RING_HEADER_SIZE) { *err = EINVAL; return NULL; }
    size_t size = (size_t)st.st_size;
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) { *err = errno; return NULL; }
    struct tns_ring_header *h = p;
    uint64_t cap = h->capacity;
    *stage = TNS_SST_HEADER;
    if (h->magic != TNS_RING_MAGIC || h->version != TNS_RING_VERSION
        || h->header_size != TNS_RING_HEADER_SIZE || h->record_size != TNS_RING_RECORD_SIZE
        || cap == 0 || (cap & (cap - 1)) != 0
        || cap > (size - TNS_RING_HEADER_SIZE) / TNS_RING_RECORD_SIZE) {
        /* Not our ring (or a truncated one): say so in it only if the magic is ours. */
        if (h->magic == TNS_RING_MAGIC) {
            TNS_PUT(h->error, EPROTO);
            TNS_PUT(h->error_stage, TNS_SST_HEADER);
            tns_set_status(h, TNS_ST_FAILED);
        }
        munmap(p, size);
        *err = EPROTO;
        return NULL;
    }
    *size_out = size;
    return h;
}

/* Wait while paused (futex on the control word, in slices so a dead parent is noticed).
 * Returns the new control value. */
static uint32_t tns_wait_paused(struct tns_ring_header *h, pid_t ppid) {
    uint32_t c;
    tns_set_status(h, TNS_ST_PAUSED);
    while ((c = tns_control(h)) == TNS_CTL_PAUSE) {
        struct timespec rel = {0, TNS_SLICE_NS};
        tns_futex(&h->control, FUTEX_WAIT, TNS_CTL_PAUSE, &rel);
        if (getppid() != ppid) return TNS_CTL_STOP;
    }
    if (c == TNS_CTL_RUN) tns_set_status(h, TNS_ST_RUNNING);
    return c;
}

/* Sleep until the MONOTONIC deadline, in this namespace's time: absolute clock_nanosleep
 * targets are converted to host time by the kernel (timens_ktime_to_host). Long sleeps are cut
 * into slices so that pause and stop take effect within TNS_SLICE_NS at any rate.
 * Returns nonzero when the control word or the parent changed. */
static int tns_sleep_until(struct tns_ring_header *h, int64_t deadline, int64_t now, pid_t ppid) {
    for (;;) {
        int64_t until = deadline - now > TNS_SLICE_NS ? now + TNS_SLICE_NS : deadline;
        struct timespec ts = tns_ns_ts(until);
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {}
        if (until == deadline) return 0;
        if (tns_control(h) != TNS_CTL_RUN || getppid() != ppid) return 1;
        now = tns_read_clock(CLOCK_MONOTONIC);
        if (now >= deadline) return 0;
    }
}

#define TNS_TRIES 3
#define TNS_SAMPLER_ONE_TRY 1u /* args.flags: one sandwich per tick even when paced */

/* REALTIME, the sampled clocks (MISSING for the others), REALTIME. */
static inline __attribute__((always_inline)) void tns_sandwich(int64_t v[7], uint32_t clocks) {
    v[0] = tns_read_clock(CLOCK_REALTIME);
    for (int i = 0; i < TNS_NCLOCKS; i++)
        v[1 + i] = (clocks & (1u << i)) ? tns_read_clock(tns_sampled[i]) : TNS_MISSING;
    v[6] = tns_read_clock(CLOCK_REALTIME);
}

/* The loop shared by the sampler and the pattern writer (pattern is a compile-time constant at
 * both call sites, so each gets its own specialised copy). */
static inline __attribute__((always_inline))
int tns_run(void *arg, int pattern) {
    struct tns_sampler_args a;
    memcpy(&a, arg, sizeof a); /* the engine's buffer has no alignment promise */
    size_t size = 0;
    int err = 0, stage = 0;
    struct tns_ring_header *h = tns_map_ring(a.ring_fd, &size, &err, &stage);
    if (h == NULL) return err > 0 && err < 256 ? err : 1;
    uint64_t *slots = (uint64_t *)((char *)h + TNS_RING_HEADER_SIZE);
    uint64_t mask = h->capacity - 1;
    pid_t ppid = getppid();

    /* Timer slack (prctl(2) PR_SET_TIMERSLACK) defaults to 50 us, which would smear every
     * deadline at 1-100 kHz; 1 ns asks the hrtimer to fire on time. */
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);

    /* Which clocks does this kernel let us read? BOOTTIME_ALARM needs an RTC (alarmtimer.c):
     * without one clock_gettime gives EINVAL, and the field stays MISSING. */
    uint32_t clocks = 0;
    struct timespec res;
    TNS_PUT(h->res_ns[0], clock_getres(CLOCK_REALTIME, &res) == 0 ? tns_ts_ns(&res) : -1);
    for (int i = 0; i < TNS_NCLOCKS; i++) {
        TNS_PUT(h->res_ns[1 + i], -1);
        if (!(a.clock_mask & (1u << i))) continue;
        if (pattern || tns_read_clock(tns_sampled[i]) != TNS_MISSING) {
            clocks |= 1u << i;
            if (clock_getres(tns_sampled[i], &res) == 0) TNS_PUT(h->res_ns[1 + i], tns_ts_ns(&res));
        }
    }
    if (!pattern && tns_read_clock(CLOCK_REALTIME) == TNS_MISSING) {
        TNS_PUT(h->error, errno);
        TNS_PUT(h->error_stage, TNS_SST_REALTIME);
        tns_set_status(h, TNS_ST_FAILED);
        munmap(h, size);
        return 1;
    }
    TNS_PUT(h->clocks, clocks);
    TNS_PUT(h->period_ns, a.period_ns);
    TNS_PUT(h->pid, getpid());
    uint64_t seq = __atomic_load_n(&h->head, __ATOMIC_RELAXED); /* continue an existing ring */
    tns_set_status(h, TNS_ST_RUNNING);

    int64_t v[7];
    int64_t next = tns_read_clock(CLOCK_MONOTONIC);
    for (;;) {
        uint32_t c = tns_control(h);
        if (__builtin_expect(c != TNS_CTL_RUN, 0)) {
            if (c == TNS_CTL_PAUSE) c = tns_wait_paused(h, ppid);
            if (c != TNS_CTL_RUN) break;
            next = tns_read_clock(CLOCK_MONOTONIC); /* a fresh schedule after a pause */
        }
        if (pattern) {
            /* Every field a function of seq: a record mixing two writes cannot pass the check. */
            for (int k = 0; k < 7; k++) v[k] = (int64_t)(seq * 8 + (uint64_t)k + 1);
        } else {
            tns_sandwich(v, clocks);
            /* Paced: after a sleep the caches and TLB are cold and the first sandwich is often
             * wide. Keep the narrowest of TNS_TRIES (as NTP's clock filter keeps the shortest
             * round trip): a tighter bound for ~0.3 us per tick. Free-running, one is enough. */
            if (a.period_ns > 0 && !(a.flags & TNS_SAMPLER_ONE_TRY)) {
                int64_t u[7];
                for (int t = 1; t < TNS_TRIES; t++) {
                    tns_sandwich(u, clocks);
                    if (u[6] - u[0] < v[6] - v[0]) memcpy(v, u, sizeof u);
                }
            }
        }
        tns_push(h, slots, mask, seq, v);
        seq++;
        if (a.max_records && seq >= a.max_records) break;
        if (a.period_ns > 0) {
            next += a.period_ns;
            int64_t now = (!pattern && (clocks & 1u)) ? v[1] : tns_read_clock(CLOCK_MONOTONIC);
            if (now - next >= a.period_ns) {
                /* Whole ticks already past (preempted, or the rate is beyond us): skip them,
                 * count them, keep the phase; the next record is taken at once. */
                int64_t missed = (now - next) / a.period_ns;
                __atomic_store_n(&h->late, h->late + (uint64_t)missed, __ATOMIC_RELAXED);
                next += missed * a.period_ns;
            }
            if (next > now && tns_sleep_until(h, next, now, ppid) && getppid() != ppid) break;
        }
    }
    tns_set_status(h, TNS_ST_STOPPED);
    munmap(h, size);
    return 0;
}

static int tns_sampler_main(void *arg) { return tns_run(arg, 0); }
static int tns_ring_pattern_main(void *arg) { return tns_run(arg, 1); }

/* The bytes an entry point reads from its argument. fn(void *arg) cannot see the length of
 * what it was given, and tns_run copies a whole struct tns_sampler_args: the helper checks an
 * argument against this before it starts fn (engine/_args.py entry_arg). 0: the entry point reads
 * a NUL-terminated string (the tutorial's; the helper always appends a NUL). */
static int64_t tns_entry_arg_size(const char *fn) {
    if (strcmp(fn, "tns_sampler_main") == 0 || strcmp(fn, "tns_ring_pattern_main") == 0)
        return (int64_t)sizeof(struct tns_sampler_args);
    return 0;
}

/* The status line as one consistent reading. The sampler fills error, error_stage, pid,
 * clocks, period_ns and res_ns with plain stores and then publishes them with a release store
 * of status (tns_set_status); loading status with acquire first makes every field stored
 * before that release visible here (C11 release/acquire; on arm64 a plain load could see
 * RUNNING with the clocks of before, or FAILED with error 0). late is a relaxed counter. */
static uint32_t tns_ring_status(const void *ring, struct tns_ring_status *out) {
    const struct tns_ring_header *h = ring;
    uint32_t st = __atomic_load_n(&h->status, __ATOMIC_ACQUIRE);
    out->status = st;
    out->error = __atomic_load_n(&h->error, __ATOMIC_RELAXED);
    out->error_stage = __atomic_load_n(&h->error_stage, __ATOMIC_RELAXED);
    out->pid = __atomic_load_n(&h->pid, __ATOMIC_RELAXED);
    out->clocks = __atomic_load_n(&h->clocks, __ATOMIC_RELAXED);
    out->late = __atomic_load_n(&h->late, __ATOMIC_RELAXED);
    out->period_ns = __atomic_load_n(&h->period_ns, __ATOMIC_RELAXED);
    for (int i = 0; i < 8; i++) out->res_ns[i] = __atomic_load_n(&h->res_ns[i], __ATOMIC_RELAXED);
    out->head = __atomic_load_n(&h->head, __ATOMIC_ACQUIRE);
    return st;
}

/* `cap` is the capacity the owner created the ring with, never the header's copy: the
 * sampler can write the header, and a reader must not compute addresses from it. */
static int64_t tns_ring_read(void *ring, uint64_t cap, uint64_t *st, void *out, uint64_t max_out,
                             int flags) {
    struct tns_ring_header *h = ring;
    const uint64_t *slots = (const uint64_t *)((const char *)ring + TNS_RING_HEADER_SIZE);
    uint64_t *dst = out;
    uint64_t mask = cap - 1;
    uint64_t tail = st[0], lost = 0, torn = 0;
    if (cap == 0 || (cap & mask) != 0) return -EINVAL;

    uint64_t h1 = __atomic_load_n(&h->head, __ATOMIC_ACQUIRE);
    if (h1 < tail) return -EPROTO; /* head never goes back: a different or reset ring */
    if (h1 - tail > cap) { lost += h1 - cap - tail; tail = h1 - cap; }
    uint64_t n = h1 - tail < max_out ? h1 - tail : max_out;
    for (uint64_t i = 0; i < n; i++) {
        const uint64_t *s = slots + ((tail + i) & mask) * 8;
        for (int k = 0; k < 8; k++) dst[i * 8 + k] = __atomic_load_n(&s[k], __ATOMIC_RELAXED);
    }
    uint64_t skip = 0;
    if (!(flags & TNS_READ_UNSAFE)) {
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        uint64_t h2 = __atomic_load_n(&h->head, __ATOMIC_RELAXED);
        /* The writer may be rewriting the slot of seq h2 - cap (it writes record h2 now). */
        uint64_t first_ok = h2 >= cap ? h2 - cap + 1 : 0;
        if (first_ok > tail) skip = first_ok - tail < n ? first_ok - tail : n;
    }
    uint64_t kept = 0;
    for (uint64_t i = skip; i < n; i++) {
        if (!(flags & TNS_READ_UNSAFE) && dst[i * 8] != tail + i) { torn++; continue; }
        if (kept != i) memmove(dst + kept * 8, dst + i * 8, TNS_RING_RECORD_SIZE);
        kept++;
    }
    lost += skip + torn;
    st[0] = tail + n;
    st[1] += lost;
    st[2] += torn;
    __atomic_store_n(&h->reader_tail, st[0], __ATOMIC_RELAXED);
    __atomic_store_n(&h->reader_drops, st[1], __ATOMIC_RELAXED);
    __atomic_store_n(&h->reader_torn, st[2], __ATOMIC_RELAXED);
    return (int64_t)kept;
}

static int64_t tns_clock_ref_loop(uint64_t n, uint32_t clock_mask, int64_t *sink) {
    /* The same reads as the sampler, into a local record, without the ring: what the loop
     * would cost if publishing were free. */
    int64_t acc = 0, v[7];
    int64_t t0 = tns_read_clock(CLOCK_MONOTONIC);
    for (uint64_t j = 0; j < n; j++) {
        v[0] = tns_read_clock(CLOCK_REALTIME);
        for (int i = 0; i < TNS_NCLOCKS; i++)
            v[1 + i] = (clock_mask & (1u << i)) ? tns_read_clock(tns_sampled[i]) : TNS_MISSING;
        v[6] = tns_read_clock(CLOCK_REALTIME);
        for (int k = 0; k < 7; k++) acc ^= v[k];
    }
    *sink = acc;
    return tns_read_clock(CLOCK_MONOTONIC) - t0;
}
