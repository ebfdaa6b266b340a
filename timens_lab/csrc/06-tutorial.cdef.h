/* Declarations for cffi: the tutorial's kernel experiments (timens_lab/tutorial/_exp.py).
 *
 * Each is an entry point for Lab.start_c_host / TimeNamespace.start_c: int fn(void *arg), where
 * arg is a NUL-terminated "key=value key=value" string. Results go to fd 3 (the first fd passed)
 * as "key value" lines, each written with one write(); the exit status is 0 unless a step that
 * every later step needs failed. None of them runs Python: they are forks of the helper. */
int tns_tut_clocks_main(void *arg);     /* every clock id once, between two REALTIME reads */
int tns_tut_unsharer_main(void *arg);   /* who lands where after unshare (checks 18, 28-31) */
int tns_tut_nested_main(void *arg);     /* inherited offsets, setns(pidfd), the file (21-22, 32-33) */
int tns_tut_dumpable_main(void *arg);   /* rootless writes and the dumpable flag (check 26) */
int tns_tut_enospc_main(void *arg);     /* user.max_time_namespaces in a user namespace (35) */
int tns_tut_timers_main(void *arg);     /* absolute sleeps and timers inside a namespace (27) */
int tns_tut_cost_main(void *arg);       /* ns per clock read: vDSO and syscall (section 8) */
