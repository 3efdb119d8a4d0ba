#ifndef WEFT_AMQP_RAW_HOPS_H
#define WEFT_AMQP_RAW_HOPS_H

/// The physical limit of the chain workload with librabbitmq in plain C, one connection, no
/// Weft: `chains` chains of `hops_per_chain` hops on one durable classic queue; each hop
/// consumes a message, publishes its successor (persistent, with a publisher confirm) and acks
/// the consumed message once the broker confirmed the successor. Confirms are awaited in a
/// pipeline (the broker's multiple acks), never one by one.
///
/// Returns hops per second, or a negative number on error (and prints why to stderr).
double weft_raw_chain_hops(const char *host, int port, const char *user, const char *password,
                           const char *queue, int chains, int hops_per_chain);

#endif
