/* Declarations for cffi: read-only helpers for namespace discovery (timens_lab/discovery.py). */

/* NS_GET_OWNER_UID on a user-namespace fd (uapi/linux/nsfs.h): the uid that created it. */
int tns_ns_owner_uid(int fd, uint32_t *out);

/* Offsets of the time namespace behind nsfd, read by a throwaway child that setns()es into it
 * and reads /proc/self/timens_offsets. For namespaces no process holds as time_for_children.
 * Returns the byte count copied into buf, or -errno (EPERM: no CAP_SYS_ADMIN over it). */
int tns_timens_offsets_via_setns(int nsfd, char *buf, int len);

/* The two discovery passes. Results are flat int64 arrays with a fixed number of fields per
 * record (the TNS_*_FIELDS constants), which Python unpacks in one ffi.unpack() call instead of
 * reading struct fields one by one: that per-field cost was a third of the whole scan. */
#define TNS_SCAN_FDS ...
#define TNS_SCAN_MNT ...
#define TNS_MAX_NS_FDS ...
#define TNS_PROC_FIELDS ...
#define TNS_COMM_LEN ...
#define TNS_NSQ_OUT_FIELDS ...
#define TNS_QUERY_USER_ID ...

/* Pass 1, per pid: out[i*TNS_PROC_FIELDS ...] = err, time, time_for_children, mnt, ppid,
 * num_threads, uid, starttime, fd_err, n_fds, then TNS_MAX_NS_FDS (fd, inode) pairs. comms gets
 * each comm NUL-terminated, one after the other (room: n * TNS_COMM_LEN). */
int tns_scan_procs(int procfd, const int *pids, int n, int flags, int64_t *out, char *comms);

/* Pass 2, per namespace. `in` holds n variable-length records back to back: inode, n_cand,
 * n_cand x (kind, pid, arg), n_readers, n_readers tasks. out[i*TNS_NSQ_OUT_FIELDS ...] =
 * open_err, id_ok, ns_id, user_err, user_ino, user_id_ok, user_id, off_err, off_reader,
 * monotonic_ns, boottime_ns. The owner's NS_GET_ID only with TNS_QUERY_USER_ID in flags. */
int tns_query_namespaces(int procfd, const int64_t *in, int n, int flags, int64_t *out);
int tns_read_proc_files(int procfd, const int *pids, int n, const char *name, char *buf,
                        int buflen, int32_t *lens);
