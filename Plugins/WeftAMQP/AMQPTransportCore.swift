import Logging
import Synchronization
import Weft

/// What a transport's connections, consumers and settlements share.
final class AMQPTransportCore: Sendable {
    let configuration: AMQPConfiguration
    let logger: Logger
    let counters: AMQPCounters
    let topology: AMQPTopology
    let publisher: AMQPConnection
    let consumer: AMQPConnection
    private let warnedAboutPriorities = Atomic<Bool>(false)

    var options: AMQPConfiguration.Options { configuration.options }

    init(configuration: AMQPConfiguration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        let counters = AMQPCounters()
        let topology = AMQPTopology(options: configuration.options)
        self.counters = counters
        self.topology = topology
        publisher = try AMQPConnection(
            role: .publisher, configuration: configuration, logger: logger, counters: counters,
            onConnect: { context throws(AMQPError) in try topology.declareAll(context) })
        consumer = try AMQPConnection(
            role: .consumer, configuration: configuration, logger: logger, counters: counters,
            onConnect: { _ throws(AMQPError) in })
    }

    /// Warns once that message priorities are ignored because queues have none.
    func noticePriority(_ priority: UInt8) {
        guard priority > 0, options.maxPriority == 0, !warnedAboutPriorities.exchange(true, ordering: .relaxed) else { return }
        logger.warning(
            "Message priorities are ignored: Weft's queues were declared without priorities (AMQPConfiguration.Options.maxPriority is 0)")
    }

    /// Acknowledges a delivery (sent by the consumer connection's thread; not awaited).
    func acknowledge(_ receipt: AMQPReceipt) {
        consumer.submit(.ack(generation: receipt.generation, channel: receipt.channel, tag: receipt.tag))
    }

    /// Publishes a redelivered message again with its count of lost deliveries, then
    /// acknowledges the redelivery.
    func restamp(_ message: AMQPIncomingMessage, queue: String, lost: Int, receipt: AMQPReceipt) {
        let copy = AMQPOutgoingMessage(
            exchange: options.workExchange, routingKey: queue, body: message.body, priority: message.priority,
            lostDeliveries: lost, retries: message.retries)
        Task {
            do {
                try await publisher.publish([copy])
                acknowledge(receipt)
            } catch {
                logger.error(
                    "Could not count a lost delivery; the message goes back to its queue",
                    metadata: ["queue": "\(queue)", "error": "\(error)"])
                consumer.submit(.requeue(generation: receipt.generation, channel: receipt.channel, tag: receipt.tag))
            }
        }
    }
}

/// The exchanges and queues Weft declared: declared again on every (re)connection, so a broker
/// that lost them (a fresh node) gets them back before anything is published.
final class AMQPTopology: Sendable {
    let options: AMQPConfiguration.Options
    private let queues = Mutex<[String]>([])

    init(options: AMQPConfiguration.Options) { self.options = options }

    func remember(_ queue: String) {
        queues.withLock { queues in if !queues.contains(queue) { queues.append(queue) } }
    }

    func declareAll(_ context: AMQPOperationContext) throws(AMQPError) {
        try context.link.declareExchange(options.workExchange, channel: context.adminChannel)
        try context.link.declareExchange(options.deadLetterExchange, channel: context.adminChannel)
        for queue in queues.withLock({ $0 }) { try declare(queue, context) }
    }

    /// Declares `queue` and its dead-letter queue, durable, bound to Weft's exchanges.
    func declare(_ queue: String, _ context: AMQPOperationContext) throws(AMQPError) {
        let link = context.link
        let channel = context.adminChannel
        let deadLetterQueue = options.deadLetterQueue(of: queue)
        var arguments: [(String, AMQPLink.QueueArgument)] = [
            ("x-dead-letter-exchange", .string(options.deadLetterExchange)),
            ("x-dead-letter-routing-key", .string(deadLetterQueue)),
        ]
        var deadLetterArguments: [(String, AMQPLink.QueueArgument)] = []
        switch options.queueType {
        case .classic:
            if options.maxPriority > 0 { arguments.append(("x-max-priority", .int(Int(options.maxPriority)))) }
            if let version = options.classicQueueVersion {
                arguments.append(("x-queue-version", .int(Int(version))))
                deadLetterArguments.append(("x-queue-version", .int(Int(version))))
            }
        case .quorum:
            arguments.append(("x-queue-type", .string("quorum")))
            deadLetterArguments.append(("x-queue-type", .string("quorum")))
        }
        do {
            try link.declareQueue(queue, passive: false, arguments: arguments, channel: channel)
            try link.declareQueue(deadLetterQueue, passive: false, arguments: deadLetterArguments, channel: channel)
        } catch where error.code == .channelClosed {
            throw AMQPError(
                .channelClosed,
                "\(error.message) (the queue exists with other arguments: declared with another queue type, maxPriority or classicQueueVersion?)")
        }
        try link.bind(queue, to: options.workExchange, routingKey: queue, channel: channel)
        try link.bind(deadLetterQueue, to: options.deadLetterExchange, routingKey: deadLetterQueue, channel: channel)
    }
}
