/// Moves jobs between the processes of a fleet: the queue seam of Weft.
///
/// Delivery is at least once: a message may be delivered more than once (a consumer died
/// before settling it, a settlement was lost), and Weft makes a run's outcome exactly-once on
/// top of that. Within one queue, among messages of equal priority, messages are delivered in
/// publishing order when nothing is redelivered; no other ordering is promised.
///
/// The in-memory implementation, ``InMemoryQueueTransport``, ships with Weft; others (AMQP) are
/// plugins and prove themselves with the `WeftConformance` suite.
public protocol QueueTransport: Sendable {
    /// Makes sure `queue` (and its dead-letter queue) exists. Idempotent.
    func declare(_ queue: String) async throws

    /// Publishes `message` on `queue`. Returns once the transport has taken responsibility for
    /// it (for a broker: once the broker confirmed it).
    func publish(_ message: QueueMessage, to queue: String) async throws

    /// Publishes several messages on `queue`, in order; returns once the transport has taken
    /// responsibility for all of them. A transport may pipeline them (one confirmation wait).
    func publish(_ messages: [QueueMessage], to queue: String) async throws

    /// Starts consuming `queue`, with at most `prefetch` deliveries outstanding at once.
    func consume(_ queue: String, prefetch: Int) async throws -> QueueConsumer

    /// How many messages wait in `queue`, not counting those handed out and not yet settled.
    func depth(of queue: String) async throws -> Int

    /// Up to `limit` messages dead-lettered from `queue`, oldest first, left in place.
    func deadLetters(of queue: String, limit: Int) async throws -> [DeadLetter]

    /// Moves up to `limit` dead-lettered messages of `queue` for which `matching` holds back
    /// onto it, oldest first, and returns how many moved. Their delivery count starts again
    /// from 1; the others stay dead-lettered, in order.
    func redriveDeadLetters(of queue: String, limit: Int, matching: @Sendable (DeadLetter) -> Bool) async throws -> Int

    /// Stops every consumer (their sequences end) and releases the transport's resources.
    /// Deliveries not settled by then are delivered again later.
    func shutdown() async
}

extension QueueTransport {
    /// Publishes the messages one by one; transports that can batch should.
    public func publish(_ messages: [QueueMessage], to queue: String) async throws {
        for message in messages { try await publish(message, to: queue) }
    }
}
