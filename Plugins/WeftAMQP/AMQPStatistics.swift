import Synchronization

/// What an ``AMQPTransport`` has done since it connected: for dashboards, tests and the logs.
public struct AMQPStatistics: Sendable, Hashable {
    /// Messages the broker confirmed.
    public var confirmedPublishes: Int
    /// Publishes sent again because the connection was lost before the broker confirmed them.
    public var republished: Int
    /// Publishes the broker returned as unroutable.
    public var returnedPublishes: Int
    /// Deliveries handed to consumers.
    public var deliveries: Int
    /// Deliveries the broker flagged as redelivered (an earlier delivery was lost).
    public var redeliveries: Int
    /// Settlements of deliveries from a connection that no longer exists (the broker
    /// redelivers those messages).
    public var staleSettlements: Int
    /// Times a connection was lost.
    public var connectionLosses: Int
    /// Times a lost connection was established again.
    public var reconnections: Int
    /// The total time connections were down, in milliseconds.
    public var disconnectedMilliseconds: Int
}

/// The counters behind ``AMQPStatistics``, shared by a transport's connections.
final class AMQPCounters: Sendable {
    let confirmedPublishes = Atomic<Int>(0)
    let republished = Atomic<Int>(0)
    let returnedPublishes = Atomic<Int>(0)
    let deliveries = Atomic<Int>(0)
    let redeliveries = Atomic<Int>(0)
    let staleSettlements = Atomic<Int>(0)
    let connectionLosses = Atomic<Int>(0)
    let reconnections = Atomic<Int>(0)
    let disconnectedMilliseconds = Atomic<Int>(0)

    var snapshot: AMQPStatistics {
        AMQPStatistics(
            confirmedPublishes: confirmedPublishes.load(ordering: .relaxed),
            republished: republished.load(ordering: .relaxed),
            returnedPublishes: returnedPublishes.load(ordering: .relaxed),
            deliveries: deliveries.load(ordering: .relaxed),
            redeliveries: redeliveries.load(ordering: .relaxed),
            staleSettlements: staleSettlements.load(ordering: .relaxed),
            connectionLosses: connectionLosses.load(ordering: .relaxed),
            reconnections: reconnections.load(ordering: .relaxed),
            disconnectedMilliseconds: disconnectedMilliseconds.load(ordering: .relaxed))
    }
}
