#ifndef WEFT_NATS_RAW_HOPS_H
#define WEFT_NATS_RAW_HOPS_H

/// The physical limit of the chain workload with libnats in plain C, one connection, no Weft:
/// `chains` chains of `hops_per_chain` hops on a JetStream work-queue stream (file storage) with
/// one durable pull consumer. Each round fetches up to `chains` messages, publishes each one's
/// successor asynchronously, waits once for all the server's PubAcks (pipelined), then acks the
/// fetched messages.
///
/// Returns hops per second, or a negative number on error (and prints why to stderr).
double weft_nats_raw_chain_hops(const char *url, const char *name, int chains, int hops_per_chain);

#endif
