// Debian's libnats-dev (nats.c 3.4) for Swift: the header Weft uses, and small helpers for what
// Swift cannot express directly (C strings arrays in configuration structs, thread names).
#ifndef WEFT_CNATS_SHIM_H
#define WEFT_CNATS_SHIM_H

#include <nats/nats.h>
#include <sys/prctl.h>

/// Names the calling thread (shown by top, perf and debuggers).
static inline void weft_nats_name_current_thread(const char *name) { prctl(PR_SET_NAME, name, 0, 0, 0); }

#endif
