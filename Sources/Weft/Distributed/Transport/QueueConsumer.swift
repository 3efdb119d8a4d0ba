/// The deliveries of one queue to one consumer, as an `AsyncSequence`.
///
/// At most `prefetch` deliveries are outstanding (handed out and not settled) at once: the
/// sequence waits for a settlement before it hands out more. ``stop()`` ends the sequence
/// gracefully: it hands out nothing more, and the deliveries already handed out may still be
/// settled.
public struct QueueConsumer: AsyncSequence, Sendable {
    public typealias Element = QueueDelivery
    public typealias Failure = any Error

    private let source: any QueueConsumerSource

    /// Wraps a transport's consumer.
    public init(_ source: any QueueConsumerSource) { self.source = source }

    /// Stops handing out deliveries; iteration ends.
    public func stop() async { await source.stop() }

    public func makeAsyncIterator() -> Iterator { Iterator(source: source) }

    /// Iterates the deliveries.
    public struct Iterator: AsyncIteratorProtocol {
        let source: any QueueConsumerSource

        public mutating func next() async throws -> QueueDelivery? { try await source.next() }
    }
}

/// A transport's consumer of one queue: what ``QueueConsumer`` iterates.
public protocol QueueConsumerSource: Sendable {
    /// The next delivery, waiting for one; `nil` once the consumer is stopped or the transport
    /// shut down.
    func next() async throws -> QueueDelivery?
    /// Stops handing out deliveries and makes waiting and future ``next()`` calls return `nil`.
    func stop() async
}
