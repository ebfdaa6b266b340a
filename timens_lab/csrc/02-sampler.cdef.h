/* Declarations for cffi: the clock sampler (sampler.py) and its shared ring (ring.py).
 * The layout of the ring header is documented once, in 02-sampler.c; ring.py mirrors it as a
 * numpy dtype and tests/unit/test_ring.py checks the two against ffi.offsetof. */
#define TNS_RING_MAGIC ...
#define TNS_RING_VERSION ...
#define TNS_RING_HEADER_SIZE ...
#define TNS_RING_RECORD_SIZE ...
#define TNS_NCLOCKS ...
#define TNS_CTL_RUN ...
#define TNS_CTL_PAUSE ...
#define TNS_CTL_STOP ...
#define TNS_ST_NEW ...
#define TNS_ST_RUNNING ...
#define TNS_ST_PAUSED ...
#define TNS_ST_STOPPED ...
#define TNS_ST_FAILED ...
#define TNS_READ_UNSAFE ...

struct tns_ring_header {
    uint64_t magic;
    uint32_t version;
    uint32_t header_size;
    uint32_t record_size;
    uint64_t capacity;
    uint64_t head;
    uint32_t control;
    uint32_t status;
    int32_t error;
    uint32_t error_stage;
    int32_t pid;
    uint32_t clocks;
    uint64_t late;
    int64_t period_ns;
    int64_t res_ns[8];
    uint64_t reader_tail;
    uint64_t reader_drops;
    uint64_t reader_torn;
    ...;
};

/* What tns_sampler_main(arg) reads; built by kernel.sampler_args(). */
struct tns_sampler_args {
    int32_t ring_fd;        /* the ring memfd in the sampler (3 when the engine passes fds[0]) */
    uint32_t clock_mask;    /* bit i: sample source.SAMPLED_CLOCKS[i] */
    int64_t period_ns;      /* 0: as fast as possible; else MONOTONIC deadlines this far apart */
    uint64_t max_records;   /* stop by itself once head reaches this (0: never) */
    uint32_t flags;         /* reserved, 0 */
    ...;
};

/* The status line, read with acquire semantics after the sampler's release (tns_ring_status). */
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
uint32_t tns_ring_status(const void *ring, struct tns_ring_status *out);
/* Bytes fn reads from its argument (0: a NUL-terminated string); the helper checks it. */
int64_t tns_entry_arg_size(const char *fn);

/* Entry points for Lab.start_c / TimeNamespace.start_c: int fn(void *arg), arg = the args. */
int tns_sampler_main(void *arg);
int tns_ring_pattern_main(void *arg);   /* same protocol, synthetic records (ring tests) */

/* Lock-free reader: copy records [st[0], head) into out (at most max_out), never a torn one.
 * cap: the capacity the ring was created with. st = {tail, drops, torn}. Returns the number
 * delivered to out[0..], or -errno. */
int64_t tns_ring_read(void *ring, uint64_t cap, uint64_t *st, void *out, uint64_t max_out,
                      int flags);
/* Store the control word (TNS_CTL_*) and wake a paused sampler (futex(2)). */
void tns_ring_control(void *ring, uint32_t value);
/* The bench anchor: the sampler's clock reads without the ring. Returns elapsed MONOTONIC ns. */
int64_t tns_clock_ref_loop(uint64_t n, uint32_t clock_mask, int64_t *sink);
