import Metrics
import Synchronization

/// What an ``AMQPTransport`` has done since it connected: for dashboards, tests and the logs.
/// The same counts go to swift-metrics as `weft_amqp_<count>_total` counters.
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
    /// Deliveries acknowledged.
    public var acknowledgements: Int
    /// `basic.ack` frames sent for them: fewer when runs of them went as one (`multiple`).
    public var acknowledgementFrames: Int
    /// Times a connection was lost.
    public var connectionLosses: Int
    /// Times a lost connection was established again.
    public var reconnections: Int
    /// The total time connections were down, in milliseconds.
    public var disconnectedMilliseconds: Int
}

/// One count of ``AMQPStatistics``, also reported to swift-metrics as a counter
/// `weft_amqp_<name>_total` (a no-op until the application bootstraps a metrics backend).
final class AMQPTally: Sendable {
    private let value = Atomic<Int>(0)
    private let metric: Counter

    init(_ name: String) { metric = Counter(label: "weft_amqp_\(name)_total") }

    func add(_ amount: Int) {
        guard amount > 0 else { return }
        value.add(amount, ordering: .relaxed)
        metric.increment(by: amount)
    }

    var current: Int { value.load(ordering: .relaxed) }
}

/// The counters behind ``AMQPStatistics``, shared by a transport's connections.
final class AMQPCounters: Sendable {
    let confirmedPublishes = AMQPTally("confirmed_publishes")
    let republished = AMQPTally("republished")
    let returnedPublishes = AMQPTally("returned_publishes")
    let deliveries = AMQPTally("deliveries")
    let redeliveries = AMQPTally("redeliveries")
    let staleSettlements = AMQPTally("stale_settlements")
    let acknowledgements = AMQPTally("acknowledgements")
    let acknowledgementFrames = AMQPTally("acknowledgement_frames")
    let connectionLosses = AMQPTally("connection_losses")
    let reconnections = AMQPTally("reconnections")
    let disconnectedMilliseconds = AMQPTally("disconnected_milliseconds")

    var snapshot: AMQPStatistics {
        AMQPStatistics(
            confirmedPublishes: confirmedPublishes.current, republished: republished.current,
            returnedPublishes: returnedPublishes.current, deliveries: deliveries.current,
            redeliveries: redeliveries.current, staleSettlements: staleSettlements.current,
            acknowledgements: acknowledgements.current, acknowledgementFrames: acknowledgementFrames.current,
            connectionLosses: connectionLosses.current, reconnections: reconnections.current,
            disconnectedMilliseconds: disconnectedMilliseconds.current)
    }
}
