/// One delivery of a message to a consumer. Settle it exactly once, with ``ack()``,
/// ``retry()`` or ``deadLetter(reason:)``; a delivery left unsettled when its consumer goes away
/// (the process died, the connection dropped) is delivered again, with a higher
/// ``deliveryCount``.
public struct QueueDelivery: Sendable {
    /// The message.
    public let message: QueueMessage
    /// The queue it came from.
    public let queue: String
    /// 1 on the first delivery; one more for every earlier delivery of this message that ended
    /// without being settled. Handled outcomes (``retry()``) do not count: this counts lost
    /// deliveries, which is what crash-loop detection needs.
    public let deliveryCount: Int
    /// How many times the message was put back with ``retry()`` before this delivery: 0 on the
    /// first, and always 0 from a transport that does not count them. A worker dead-letters a job
    /// whose backend failures reach ``FleetOptions/maxBackendRetries``, so that an error retrying
    /// cannot fix never brings it back for ever.
    public let retries: Int
    /// Who counted ``deliveryCount``: a job quarantined for lost deliveries says so, since a
    /// count a message carries can be forged by whoever can publish to the queue.
    public let countSource: DeliveryCountSource
    private let settlement: any DeliverySettlement

    /// Creates a delivery. Transports create these. A count below its floor (a transport's count
    /// read from a damaged or forged header) is taken as the floor: 1 delivery, 0 retries.
    public init(
        message: QueueMessage, queue: String, deliveryCount: Int, retries: Int = 0, countSource: DeliveryCountSource = .transport,
        settlement: any DeliverySettlement
    ) {
        self.message = message
        self.queue = queue
        self.deliveryCount = max(1, deliveryCount)
        self.retries = max(0, retries)
        self.countSource = countSource
        self.settlement = settlement
    }

    /// The message's bytes.
    public var body: [UInt8] { message.body }

    /// The message was handled: remove it from the queue.
    public func ack() async throws { try await settlement.ack() }

    /// Puts the message back on its queue for another delivery, without counting a loss; the
    /// next delivery's ``retries`` is one more, where the transport counts them.
    public func retry() async throws { try await settlement.retry() }

    /// Moves the message to its queue's dead-letter queue with `reason`.
    public func deadLetter(reason: String) async throws { try await settlement.deadLetter(reason: reason) }

    /// Gives the delivery up as a dying consumer would: it is delivered again later, counted as
    /// lost. Transports that cannot tell put it back with ``retry()``. For fault injection.
    public func abandon() async throws { try await settlement.abandon() }

    /// The transport's handle for this delivery, for transport-specific operations.
    public var handle: any DeliverySettlement { settlement }
}

/// How a transport settles one delivery. Transports implement this; consumers call the
/// methods of ``QueueDelivery``.
public protocol DeliverySettlement: Sendable {
    /// Removes the message from the queue.
    func ack() async throws
    /// Returns the message to its queue; the next delivery has the same ``QueueDelivery/deliveryCount``
    /// and, where the transport counts them, one more ``QueueDelivery/retries``.
    func retry() async throws
    /// Moves the message to the dead-letter queue of its queue.
    func deadLetter(reason: String) async throws
    /// Returns the message as lost (its next delivery counts one more loss). Defaults to ``retry()``.
    func abandon() async throws
}

extension DeliverySettlement {
    public func abandon() async throws { try await retry() }
}

/// Who counted a delivery's lost deliveries (``QueueDelivery/deliveryCount``).
public enum DeliveryCountSource: String, Sendable, Hashable {
    /// The transport itself, which no message can change (the in-memory transport).
    case transport
    /// The broker, which no publisher can change (a RabbitMQ quorum queue's `x-delivery-count`).
    case broker
    /// A header of the message, which whoever can publish to the queue can write (a RabbitMQ
    /// classic queue's `x-weft-lost`, since the broker does not count there).
    case messageHeader = "message header"
}
