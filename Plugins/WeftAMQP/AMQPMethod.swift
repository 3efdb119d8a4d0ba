import CRabbitMQ

/// AMQP 0-9-1 method ids (class << 16 | method) Weft handles itself. librabbitmq defines them as
/// C macros with casts, which Swift does not import.
enum AMQPMethod {
    static let connectionClose: amqp_method_number_t = 0x000A_0032
    static let connectionCloseOk: amqp_method_number_t = 0x000A_0033
    static let connectionBlocked: amqp_method_number_t = 0x000A_003C
    static let connectionUnblocked: amqp_method_number_t = 0x000A_003D
    static let channelClose: amqp_method_number_t = 0x0014_0028
    static let channelCloseOk: amqp_method_number_t = 0x0014_0029
    static let basicCancel: amqp_method_number_t = 0x003C_001E
    static let basicPublish: amqp_method_number_t = 0x003C_0028
    static let basicReturn: amqp_method_number_t = 0x003C_0032
    static let basicDeliver: amqp_method_number_t = 0x003C_003C
    static let basicGetOk: amqp_method_number_t = 0x003C_0047
    static let basicAck: amqp_method_number_t = 0x003C_0050
    static let basicNack: amqp_method_number_t = 0x003C_0078

    static let frameMethod: UInt8 = 1
    static let frameHeader: UInt8 = 2
    static let frameBody: UInt8 = 3
    static let frameHeartbeat: UInt8 = 8
    /// The octet that ends every frame.
    static let frameEnd: UInt8 = 0xCE

    /// Persistent delivery mode.
    static let persistent: UInt8 = 2
    /// Delivery mode 1: kept in memory only.
    static let transient: UInt8 = 1
    /// The basic-properties flags Weft sets.
    static let deliveryModeFlag: amqp_flags_t = 1 << 12
    static let priorityFlag: amqp_flags_t = 1 << 11
    static let headersFlag: amqp_flags_t = 1 << 13

    /// Reply codes.
    static let accessRefused: UInt16 = 403
    static let notFound: UInt16 = 404
}

/// The message headers Weft reads and writes.
enum AMQPHeader {
    /// How many deliveries of this message were lost (classic queues; the transport updates it).
    static let lostDeliveries = "x-weft-lost"
    /// How many times Weft put the message back after a handled failure (``QueueDelivery/retries``).
    static let retries = "x-weft-retries"
    /// Why the message was dead-lettered.
    static let reason = "x-weft-reason"
    /// The queue a dead letter came from.
    static let queue = "x-weft-queue"
    /// A quorum queue's count of earlier deliveries.
    static let deliveryCount = "x-delivery-count"
    /// Why the broker dead-lettered a message itself (rejected, expired, maxlen).
    static let firstDeathReason = "x-first-death-reason"

    /// The most a delivery count read from a header may say: anyone who can publish can write
    /// any number there, and a count is added to and incremented. Far above any real count (a
    /// job is quarantined after a handful of lost deliveries).
    static let countLimit = 1_000_000

    /// A count read from a header, bounded to `0...countLimit`.
    static func count(_ number: Int64) -> Int {
        Int(min(max(0, number), Int64(countLimit)))
    }
}
