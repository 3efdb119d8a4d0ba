#ifndef LMDB_RAW_PUTS_H
#define LMDB_RAW_PUTS_H

/// Puts `total` distinct keys (44 bytes, like a Weft record key with a UUID run id) with
/// 16-byte values into a fresh LMDB environment at `path` (a directory that exists), `per_txn`
/// puts per write transaction, each commit fsynced. Returns puts per second, or a negative
/// LMDB error code.
double weft_lmdb_raw_puts(const char *path, int total, int per_txn);

#endif
