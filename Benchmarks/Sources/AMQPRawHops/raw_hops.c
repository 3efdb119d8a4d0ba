#include "AMQPRawHops.h"

#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PUBLISH_CHANNEL 1
#define CONSUME_CHANNEL 2
#define WINDOW 65536

static int failed(amqp_rpc_reply_t reply, const char *what) {
    if (reply.reply_type == AMQP_RESPONSE_NORMAL) return 0;
    fprintf(stderr, "raw AMQP: %s failed (reply type %d, library error %s)\n", what, reply.reply_type,
            amqp_error_string2(reply.library_error));
    return 1;
}

static int publish(amqp_connection_state_t conn, const char *queue, uint32_t remaining) {
    amqp_basic_properties_t properties;
    memset(&properties, 0, sizeof properties);
    properties._flags = AMQP_BASIC_DELIVERY_MODE_FLAG;
    properties.delivery_mode = 2;
    amqp_bytes_t body = {sizeof remaining, &remaining};
    return amqp_basic_publish(conn, PUBLISH_CHANNEL, amqp_empty_bytes, amqp_cstring_bytes(queue), 0, 0,
                              &properties, body);
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

double weft_raw_chain_hops(const char *host, int port, const char *user, const char *password,
                           const char *queue, int chains, int hops_per_chain) {
    amqp_connection_state_t conn = amqp_new_connection();
    amqp_socket_t *socket = amqp_tcp_socket_new(conn);
    if (!socket || amqp_socket_open(socket, host, port) != AMQP_STATUS_OK) {
        fprintf(stderr, "raw AMQP: cannot connect to %s:%d\n", host, port);
        amqp_destroy_connection(conn);
        return -1;
    }
    if (failed(amqp_login(conn, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, user, password), "login")) return -1;
    amqp_channel_open(conn, PUBLISH_CHANNEL);
    if (failed(amqp_get_rpc_reply(conn), "channel.open")) return -1;
    amqp_confirm_select(conn, PUBLISH_CHANNEL);
    if (failed(amqp_get_rpc_reply(conn), "confirm.select")) return -1;
    amqp_channel_open(conn, CONSUME_CHANNEL);
    if (failed(amqp_get_rpc_reply(conn), "channel.open")) return -1;
    amqp_queue_declare(conn, CONSUME_CHANNEL, amqp_cstring_bytes(queue), 0, 1, 0, 0, amqp_empty_table);
    if (failed(amqp_get_rpc_reply(conn), "queue.declare")) return -1;
    amqp_basic_qos(conn, CONSUME_CHANNEL, 0, (uint16_t)chains, 0);
    if (failed(amqp_get_rpc_reply(conn), "basic.qos")) return -1;

    uint64_t *pending = calloc(WINDOW, sizeof(uint64_t));  // publish sequence -> delivery tag to ack
    uint64_t sequence = 0, lowest = 1;  // lowest: the first sequence a multiple ack may still cover
    for (int chain = 0; chain < chains; chain++) {
        publish(conn, queue, (uint32_t)hops_per_chain);
        pending[++sequence % WINDOW] = 0;
    }
    amqp_basic_consume(conn, CONSUME_CHANNEL, amqp_cstring_bytes(queue), amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
    if (failed(amqp_get_rpc_reply(conn), "basic.consume")) return -1;

    long total = (long)chains * hops_per_chain, hops = 0;
    double start = now_seconds();
    while (hops < total) {
        amqp_frame_t frame;
        if (amqp_simple_wait_frame(conn, &frame) != AMQP_STATUS_OK) {
            fprintf(stderr, "raw AMQP: lost the connection\n");
            return -1;
        }
        if (frame.frame_type != AMQP_FRAME_METHOD) continue;
        if (frame.payload.method.id == AMQP_BASIC_DELIVER_METHOD) {
            uint64_t tag = ((amqp_basic_deliver_t *)frame.payload.method.decoded)->delivery_tag;
            amqp_message_t message;
            if (failed(amqp_read_message(conn, frame.channel, &message, 0), "reading a message")) return -1;
            uint32_t remaining = 0;
            memcpy(&remaining, message.body.bytes, sizeof remaining);
            amqp_destroy_message(&message);
            hops++;
            if (remaining > 1) {
                publish(conn, queue, remaining - 1);
                pending[++sequence % WINDOW] = tag;  // acked once this successor is confirmed
            } else {
                amqp_basic_ack(conn, CONSUME_CHANNEL, tag, 0);
            }
        } else if (frame.payload.method.id == AMQP_BASIC_ACK_METHOD) {
            amqp_basic_ack_t *ack = frame.payload.method.decoded;
            uint64_t upto = ack->delivery_tag;
            uint64_t from = ack->multiple ? lowest : upto;
            for (uint64_t s = from; s <= upto; s++) {
                uint64_t tag = pending[s % WINDOW];
                if (tag) amqp_basic_ack(conn, CONSUME_CHANNEL, tag, 0);
                pending[s % WINDOW] = 0;
            }
            if (ack->multiple && upto >= lowest) lowest = upto + 1;
        }
        amqp_maybe_release_buffers(conn);
    }
    double seconds = now_seconds() - start;
    amqp_queue_delete(conn, CONSUME_CHANNEL, amqp_cstring_bytes(queue), 0, 0);
    amqp_channel_close(conn, CONSUME_CHANNEL, AMQP_REPLY_SUCCESS);
    amqp_channel_close(conn, PUBLISH_CHANNEL, AMQP_REPLY_SUCCESS);
    amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(conn);
    free(pending);
    return hops / seconds;
}

/* The peer comparison's other two workloads (Benchmarks/peers/compare.sh). Messages carry a kind:
 * a fan's split, one of its leaves, its join; or an independent task. */
enum { KIND_SPLIT = 1, KIND_LEAF = 2, KIND_JOIN = 3, KIND_TASK = 4 };

static amqp_connection_state_t open_session(const char *host, int port, const char *user, const char *password,
                                            const char *queue, int prefetch) {
    amqp_connection_state_t conn = amqp_new_connection();
    amqp_socket_t *socket = amqp_tcp_socket_new(conn);
    if (!socket || amqp_socket_open(socket, host, port) != AMQP_STATUS_OK) {
        fprintf(stderr, "raw AMQP: cannot connect to %s:%d\n", host, port);
        amqp_destroy_connection(conn);
        return NULL;
    }
    if (failed(amqp_login(conn, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, user, password), "login")) return NULL;
    amqp_channel_open(conn, PUBLISH_CHANNEL);
    if (failed(amqp_get_rpc_reply(conn), "channel.open")) return NULL;
    amqp_confirm_select(conn, PUBLISH_CHANNEL);
    if (failed(amqp_get_rpc_reply(conn), "confirm.select")) return NULL;
    amqp_channel_open(conn, CONSUME_CHANNEL);
    if (failed(amqp_get_rpc_reply(conn), "channel.open")) return NULL;
    amqp_queue_declare(conn, CONSUME_CHANNEL, amqp_cstring_bytes(queue), 0, 1, 0, 0, amqp_empty_table);
    if (failed(amqp_get_rpc_reply(conn), "queue.declare")) return NULL;
    amqp_basic_qos(conn, CONSUME_CHANNEL, 0, (uint16_t)prefetch, 0);
    if (failed(amqp_get_rpc_reply(conn), "basic.qos")) return NULL;
    return conn;
}

static void close_session(amqp_connection_state_t conn, const char *queue) {
    amqp_queue_delete(conn, CONSUME_CHANNEL, amqp_cstring_bytes(queue), 0, 0);
    amqp_channel_close(conn, CONSUME_CHANNEL, AMQP_REPLY_SUCCESS);
    amqp_channel_close(conn, PUBLISH_CHANNEL, AMQP_REPLY_SUCCESS);
    amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(conn);
}

/* Runs the session's loop: `handle` is called for each delivery with its kind and tag, and returns
 * the number of hops it completed; publishes it makes are confirmed in a pipeline, and a consumed
 * message whose tag was recorded against a publish is acked once that publish is confirmed. */
typedef struct {
    amqp_connection_state_t conn;
    const char *queue;
    uint64_t *pending;
    uint64_t sequence, lowest;
} session_t;

static void publish_kind(session_t *session, uint32_t kind, uint64_t ack_tag) {
    publish(session->conn, session->queue, kind);
    session->pending[++session->sequence % WINDOW] = ack_tag;
}

static int next_delivery(session_t *session, uint32_t *kind, uint64_t *tag) {
    for (;;) {
        amqp_frame_t frame;
        amqp_maybe_release_buffers(session->conn);
        if (amqp_simple_wait_frame(session->conn, &frame) != AMQP_STATUS_OK) {
            fprintf(stderr, "raw AMQP: lost the connection\n");
            return -1;
        }
        if (frame.frame_type != AMQP_FRAME_METHOD) continue;
        if (frame.payload.method.id == AMQP_BASIC_DELIVER_METHOD) {
            *tag = ((amqp_basic_deliver_t *)frame.payload.method.decoded)->delivery_tag;
            amqp_message_t message;
            if (failed(amqp_read_message(session->conn, frame.channel, &message, 0), "reading a message")) return -1;
            memcpy(kind, message.body.bytes, sizeof *kind);
            amqp_destroy_message(&message);
            return 0;
        }
        if (frame.payload.method.id == AMQP_BASIC_ACK_METHOD) {
            amqp_basic_ack_t *ack = frame.payload.method.decoded;
            uint64_t upto = ack->delivery_tag, from = ack->multiple ? session->lowest : upto;
            for (uint64_t s = from; s <= upto; s++) {
                uint64_t pending = session->pending[s % WINDOW];
                if (pending) amqp_basic_ack(session->conn, CONSUME_CHANNEL, pending, 0);
                session->pending[s % WINDOW] = 0;
            }
            if (ack->multiple && upto >= session->lowest) session->lowest = upto + 1;
        }
    }
}

static int start_consuming(session_t *session) {
    amqp_basic_consume(session->conn, CONSUME_CHANNEL, amqp_cstring_bytes(session->queue), amqp_empty_bytes, 0, 0, 0,
                       amqp_empty_table);
    return failed(amqp_get_rpc_reply(session->conn), "basic.consume");
}

double weft_raw_fan_hops(const char *host, int port, const char *user, const char *password, const char *queue,
                         int fans, int width) {
    amqp_connection_state_t conn = open_session(host, port, user, password, queue, width);
    if (!conn) return -1;
    session_t session = {conn, queue, calloc(WINDOW, sizeof(uint64_t)), 0, 1};
    if (start_consuming(&session)) return -1;
    long hops = 0;
    double start = now_seconds();
    for (int fan = 0; fan < fans; fan++) {
        publish_kind(&session, KIND_SPLIT, 0);
        int arrived = 0, done = 0;
        while (!done) {
            uint32_t kind;
            uint64_t tag;
            if (next_delivery(&session, &kind, &tag)) return -1;
            hops++;
            if (kind == KIND_SPLIT) {
                /* The split is acked once the last of its leaves is confirmed (confirms are in order). */
                for (int leaf = 0; leaf < width; leaf++) publish_kind(&session, KIND_LEAF, leaf == width - 1 ? tag : 0);
            } else if (kind == KIND_LEAF) {
                if (++arrived == width) publish_kind(&session, KIND_JOIN, tag);
                else amqp_basic_ack(conn, CONSUME_CHANNEL, tag, 0);
            } else {
                amqp_basic_ack(conn, CONSUME_CHANNEL, tag, 0);
                done = 1;
            }
        }
    }
    double seconds = now_seconds() - start;
    close_session(conn, queue);
    free(session.pending);
    return hops / seconds;
}

double weft_raw_independent_tasks(const char *host, int port, const char *user, const char *password,
                                  const char *queue, int tasks, int prefetch) {
    amqp_connection_state_t conn = open_session(host, port, user, password, queue, prefetch);
    if (!conn) return -1;
    session_t session = {conn, queue, calloc(WINDOW, sizeof(uint64_t)), 0, 1};
    double start = now_seconds();
    for (int task = 0; task < tasks; task++) publish_kind(&session, KIND_TASK, 0);
    if (start_consuming(&session)) return -1;
    for (int done = 0; done < tasks; done++) {
        uint32_t kind;
        uint64_t tag;
        if (next_delivery(&session, &kind, &tag)) return -1;
        amqp_basic_ack(conn, CONSUME_CHANNEL, tag, 0);
    }
    double seconds = now_seconds() - start;
    close_session(conn, queue);
    free(session.pending);
    return tasks / seconds;
}
