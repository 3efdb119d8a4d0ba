// Debian's librabbitmq-dev 0.11 for Swift: the headers Weft uses, and wrappers for the calls
// Swift cannot make directly (variadic functions).
#ifndef WEFT_CRABBITMQ_SHIM_H
#define WEFT_CRABBITMQ_SHIM_H

#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>
#include <amqp_ssl_socket.h>
#include <sys/eventfd.h>
#include <poll.h>
#include <sys/prctl.h>

/// Names the calling thread (shown by top, perf and debuggers).
static inline void weft_name_current_thread(const char *name) { prctl(PR_SET_NAME, name, 0, 0, 0); }

/// `amqp_login` with the PLAIN mechanism (the C function is variadic).
static inline amqp_rpc_reply_t weft_amqp_login_plain(
    amqp_connection_state_t state, const char *vhost, int channel_max, int frame_max,
    int heartbeat, const char *user, const char *password) {
    return amqp_login(state, vhost, channel_max, frame_max, heartbeat, AMQP_SASL_METHOD_PLAIN,
                      user, password);
}

/// A table entry holding a signed 64-bit integer.
static inline amqp_table_entry_t weft_amqp_entry_int(amqp_bytes_t key, int64_t value) {
    amqp_table_entry_t entry;
    entry.key = key;
    entry.value.kind = AMQP_FIELD_KIND_I64;
    entry.value.value.i64 = value;
    return entry;
}

/// A table entry holding a UTF-8 string.
static inline amqp_table_entry_t weft_amqp_entry_string(amqp_bytes_t key, amqp_bytes_t value) {
    amqp_table_entry_t entry;
    entry.key = key;
    entry.value.kind = AMQP_FIELD_KIND_UTF8;
    entry.value.value.bytes = value;
    return entry;
}

/// Reads an integer field of any width into `out`; returns 0 when the field is not an integer.
static inline int weft_amqp_field_int(const amqp_field_value_t *field, int64_t *out) {
    switch (field->kind) {
    case AMQP_FIELD_KIND_I8: *out = field->value.i8; return 1;
    case AMQP_FIELD_KIND_U8: *out = field->value.u8; return 1;
    case AMQP_FIELD_KIND_I16: *out = field->value.i16; return 1;
    case AMQP_FIELD_KIND_U16: *out = field->value.u16; return 1;
    case AMQP_FIELD_KIND_I32: *out = field->value.i32; return 1;
    case AMQP_FIELD_KIND_U32: *out = field->value.u32; return 1;
    case AMQP_FIELD_KIND_I64: *out = field->value.i64; return 1;
    case AMQP_FIELD_KIND_U64: *out = (int64_t)field->value.u64; return 1;
    default: return 0;
    }
}

/// Reads a string or byte-array field into `out`; returns 0 for other kinds.
static inline int weft_amqp_field_bytes(const amqp_field_value_t *field, amqp_bytes_t *out) {
    if (field->kind == AMQP_FIELD_KIND_UTF8 || field->kind == AMQP_FIELD_KIND_BYTES) {
        *out = field->value.bytes;
        return 1;
    }
    return 0;
}

#endif
