/* Declarations for cffi: process creation for the helper (timens_lab/engine/_helper.py).
 * Runs only in the single-threaded helper process, never in a Jupyter kernel. */
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
    int offsets_len;        /* (<= 2 lines, kernel-timens.md §3.2); 0 = write nothing */
    void *holder_stack;     /* out: stack of a holder sharing our memory; tns_free_stack it
                             * once the holder is reaped (NULL: nothing to free) */
};

/* fork() a child that applies the request. Returns the pid, or -errno. When the child fails
 * before exec, *stage names the step (see STAGES in _helper.py) and the child is reaped. */
int tns_spawn(struct tns_spawn *req, int *stage);
void tns_free_stack(void *stack);

