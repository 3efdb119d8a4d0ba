// Debian's liblmdb-dev 0.9.24 for Swift. The MDB_* flags are plain macros, imported as Int32;
// the functions take unsigned int flags, so Weft converts at the call.
#ifndef WEFT_CLMDB_SHIM_H
#define WEFT_CLMDB_SHIM_H

#include <lmdb.h>
#include <pthread.h>
#include <sys/prctl.h>

/// Names the calling thread (shown by top, perf and debuggers).
static inline void weft_lmdb_name_current_thread(const char *name) { prctl(PR_SET_NAME, name, 0, 0, 0); }

#endif
