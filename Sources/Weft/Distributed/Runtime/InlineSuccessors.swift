import Synchronization

/// Which ready successors a worker runs itself, within the delivery it is handling, instead of
/// publishing them to their queue.
///
/// When a node completes with exactly one ready successor on a queue the worker serves, a
/// round trip through the broker buys nothing: the worker runs the successor straight away and
/// acks the first delivery only after the whole chain's records are written. A crash part-way
/// leaves that delivery unacked, and its redelivery replays from the records: completed nodes
/// are not run again, and the first one without a result runs. A redelivered job never
/// continues inline, so a node that keeps crashing its workers is still delivered on its own,
/// counted, and quarantined.
struct InlineSuccessors: Sendable {
    /// The queues whose jobs may run inline.
    var queues: Set<String>
    /// How many successors one delivery may run in a row.
    var limit: Int
    /// Set when the worker stops: then successors are published, to keep the drain short.
    let stopping = Flag()

    /// Whether a job that is `depth` successors into a delivery with `deliveryCount` may hand
    /// its successor on inline.
    func allows(depth: Int, deliveryCount: Int) -> Bool {
        deliveryCount <= 1 && depth < limit && !stopping.isSet && !Task.isCancelled
    }
}

extension InlineSuccessors {
    /// A flag that is set once and read from any thread.
    final class Flag: Sendable {
        private let value = Atomic<Bool>(false)

        /// Whether it was set.
        var isSet: Bool { value.load(ordering: .relaxed) }

        /// Sets it.
        func set() { value.store(true, ordering: .relaxed) }
    }
}
