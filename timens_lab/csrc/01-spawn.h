/* Process creation for the helper (timens_lab/engine/_helper.py): declared once, here.
 * Plain C that both cffi (the cdef) and the compiler (ahead of 01-spawn.c) read; see
 * _ffi_build.py. Runs only in the single-threaded helper process, never in a Jupyter kernel. */
struct tns_spawn {
    int userns_fd;          /* setns(CLONE_NEWUSER) first when >= 0 (rootless entry) */
    int timens_fd;          /* setns(CLONE_NEWTIME) when >= 0 */
    int unshare_flags;      /* unshare() after the setns steps (holders: NEWTIME[|NEWUSER]) */
    int map_uid;            /* with CLONE_NEWUSER: outer uid to map, -1 = no map */
    int map_gid;
    int map_inner_root;     /* 1: map to 0 inside (unshare -r), 0: identity map */
    int stdio[3];           /* fd to dup2 onto 0/1/2, or -1 to inherit the helper's */
    const int *keep_fds;    /* fds that stay open (renumbered to 3, 4, ... in order) */
    int n_keep_fds;
    const char *path;       /* execve target (already resolved), or NULL with fn */
    char *const *argv;
    char *const *envp;
    const char *cwd;        /* chdir before exec, or NULL */
    int new_pgrp;           /* setpgid(0, 0) so signals reach the whole job */
    int (*fn)(void *);      /* run fn(arg) and _exit with its result instead of exec */
    void *arg;
    int hold_fd;            /* holders: block reading this fd, exit at EOF */
    const char *offsets;    /* after unshare: written to /proc/self/timens_offsets in ONE write */
    int offsets_len;        /* (<= 2 lines: the kernel's limit per write()); 0 = write nothing */
    void *holder_stack;     /* out: stack of a holder sharing our memory; tns_free_stack it
                             * once the holder is reaped (NULL: nothing to free) */
};

/* The step a child failed at (tns_spawn's *stage); 0: fork() itself failed. */
enum tns_spawn_stage {
    TNS_STAGE_PDEATHSIG = 1, TNS_STAGE_SETNS_USER = 2, TNS_STAGE_SETNS_TIME = 3,
    TNS_STAGE_UNSHARE = 4, TNS_STAGE_SETGROUPS = 5, TNS_STAGE_UID_MAP = 6, TNS_STAGE_GID_MAP = 7,
    TNS_STAGE_STDIO = 8, TNS_STAGE_FDS = 9, TNS_STAGE_CHDIR = 10, TNS_STAGE_EXEC = 11,
    TNS_STAGE_PGRP = 12, TNS_STAGE_OFFSETS = 13, TNS_STAGE_REPORT = 14,
};
/* What a stage was doing, for messages ("setns(CLONE_NEWTIME)"); NULL for an unknown one. */
const char *tns_spawn_stage_text(int stage);

/* fork() a child that applies the request. Returns the pid, or -errno. When the child fails
 * before exec, *stage names the step (enum tns_spawn_stage) and the child is reaped. */
int tns_spawn(struct tns_spawn *req, int *stage);
void tns_free_stack(void *stack);

