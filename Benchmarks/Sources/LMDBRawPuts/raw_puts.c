// The physical limit for Weft's LMDB store: a plain C loop of fsynced, batched puts.
#include "LMDBRawPuts.h"

#include <lmdb.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static double seconds_now(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

double weft_lmdb_raw_puts(const char *path, int total, int per_txn) {
    MDB_env *env;
    MDB_dbi dbi;
    MDB_txn *txn;
    int rc = mdb_env_create(&env);
    if (rc) return -rc;
    mdb_env_set_mapsize(env, (size_t)1 << 30);
    if ((rc = mdb_env_open(env, path, MDB_NOTLS, 0644))) { mdb_env_close(env); return -rc; }
    if ((rc = mdb_txn_begin(env, NULL, 0, &txn))) { mdb_env_close(env); return -rc; }
    if ((rc = mdb_dbi_open(txn, NULL, 0, &dbi))) { mdb_txn_abort(txn); mdb_env_close(env); return -rc; }
    mdb_txn_commit(txn);

    char key_bytes[44];
    char value_bytes[16];
    memset(value_bytes, 'v', sizeof value_bytes);
    double start = seconds_now();
    int written = 0;
    while (written < total) {
        if ((rc = mdb_txn_begin(env, NULL, 0, &txn))) break;
        for (int i = 0; i < per_txn && written < total; i++, written++) {
            // A run id (UUID-like, 36 characters) and a record name.
            snprintf(key_bytes, sizeof key_bytes, "%c%08x-0000-4000-8000-%012d\001n%03d.0", 36, written / 10, written / 10, written % 10);
            MDB_val key = {sizeof key_bytes, key_bytes};
            MDB_val value = {sizeof value_bytes, value_bytes};
            if ((rc = mdb_put(txn, dbi, &key, &value, MDB_NOOVERWRITE)) && rc != MDB_KEYEXIST) break;
            rc = 0;
        }
        if (rc) { mdb_txn_abort(txn); break; }
        if ((rc = mdb_txn_commit(txn))) break;
    }
    double elapsed = seconds_now() - start;
    mdb_env_close(env);
    if (rc) return -rc;
    return written / elapsed;
}
