/* The sampler's failure stages (header.error_stage): declared once, here. Plain C that both
 * cffi (the cdef) and the compiler (ahead of 02-sampler.c) read; see _ffi_build.py. */
enum tns_sampler_stage { TNS_SST_MAP = 1, TNS_SST_HEADER = 2, TNS_SST_REALTIME = 3 };
/* What a stage was doing, for messages ("map the ring"); NULL for an unknown one. */
const char *tns_sampler_stage_text(int stage);
