/// A message to publish on a queue: opaque bytes (an encoded ``Envelope``) and a priority.
public struct QueueMessage: Sendable, Hashable {
    /// The highest priority a transport must honour; higher values are clamped to it.
    public static let maxPriority: UInt8 = 9

    /// The message's bytes.
    public var body: [UInt8]
    /// From 0 (the default) to ``maxPriority``; a consumer receives higher priorities first
    /// among the messages waiting in one queue.
    public var priority: UInt8
    /// Whether the message must survive a broker restart (the default). A message whose loss
    /// costs nothing, such as the note that a run ended (its result stays in the store, and
    /// waiting clients look there again), may be published without: a broker need not write
    /// it to disk.
    public var isDurable: Bool

    /// Creates a message.
    public init(body: [UInt8], priority: UInt8 = 0, isDurable: Bool = true) {
        self.body = body
        self.priority = min(priority, Self.maxPriority)
        self.isDurable = isDurable
    }
}

/// A message moved aside by ``QueueDelivery/deadLetter(reason:)``, with the reason.
public struct DeadLetter: Sendable, Hashable {
    /// The queue the message was consumed from.
    public var queue: String
    /// The message as it was published.
    public var message: QueueMessage
    /// Why it was dead-lettered, as given by the consumer.
    public var reason: String

    /// Creates a dead letter.
    public init(queue: String, message: QueueMessage, reason: String) {
        self.queue = queue
        self.message = message
        self.reason = reason
    }
}
