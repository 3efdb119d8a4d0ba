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

/// The fan-out workload: `fans` fans, one at a time, each a split message that publishes `width`
/// leaves, whose last arrival publishes a join; publishes confirmed in a pipeline, a consumed
/// message acked once what it published is confirmed. Returns hops (width + 2 per fan) per second.
double weft_raw_fan_hops(const char *host, int port, const char *user, const char *password, const char *queue,
                         int fans, int width);

/// Independent tasks: publishes `tasks` persistent messages (confirmed in a pipeline), consumes
/// and acks them all with `prefetch` outstanding. Returns tasks per second, from the first
/// publish to the last ack.
double weft_raw_independent_tasks(const char *host, int port, const char *user, const char *password,
                                  const char *queue, int tasks, int prefetch);

#endif
