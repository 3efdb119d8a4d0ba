import Logging
import Synchronization
import Weft

/// Weft's queue transport over RabbitMQ (AMQP 0-9-1, through librabbitmq).
///
/// ```swift
/// let transport = try await AMQPTransport.connect(AMQPConfiguration(url: "amqp://127.0.0.1:5672/"))
/// let backends = WeftBackends(transport: transport, contextStore: …, coordinationStore: …)
/// ```
///
/// - **Connections.** One for publishing, one for consuming, each owned by a dedicated thread
///   that sleeps in `poll`; heartbeats are serviced there. A lost connection is re-established
///   with growing delays ( ``AMQPConfiguration/ReconnectPolicy``); publishes not yet confirmed
///   are sent again, consumers resume, and the gap is logged and counted (``statistics``).
/// - **Publishing.** Persistent messages with their priority, `mandatory` (a message no queue
///   takes fails with `WeftError.unknownQueue`), awaited through publisher confirms, pipelined
///   up to ``AMQPConfiguration/Options/confirmWindow`` messages.
/// - **Consuming.** `basic.consume` with the asked prefetch and manual acknowledgements.
///   `retry()` publishes the message again and acknowledges the original; `deadLetter(reason:)`
///   publishes it through the dead-letter exchange with the reason; both wait for the broker's
///   confirmation before acknowledging.
/// - **Topology.** A durable direct exchange `<prefix>.work` routes messages to the queue of the
///   same name (job queues and the clients' result queues alike); every declared queue `q` has a
///   dead-letter queue `q.dead-letter`, bound to the exchange `<prefix>.dead-letter`, which is
///   also the queue's broker-side dead-letter exchange.
public final class AMQPTransport: QueueTransport {
    let core: AMQPTransportCore
    /// The broker subscription of each consumed queue.
    private let subscriptions = Mutex<[String: AMQPSharedConsumer]>([:])

    private init(core: AMQPTransportCore) { self.core = core }

    /// Connects to the broker (both connections) and declares Weft's exchanges.
    /// - Throws: ``AMQPError`` with the reason: `unreachable`, `authenticationFailed`, `tlsFailure`.
    public static func connect(_ configuration: AMQPConfiguration, logger: Logger = Logger(label: "weft.amqp")) async throws -> AMQPTransport {
        try configuration.checkLinkSecurity(logger: logger)
        let core = try AMQPTransportCore(configuration: configuration, logger: logger)
        try await core.publisher.start()
        do {
            try await core.consumer.start()
        } catch {
            await core.publisher.shutdown()
            throw error
        }
        logger.info("Connected to the broker", metadata: ["broker": "\(configuration)"])
        return AMQPTransport(core: core)
    }

    /// What the transport has done so far: confirms, redeliveries, connection losses and gaps.
    public var statistics: AMQPStatistics { core.counters.snapshot }

    /// The configuration it was made with.
    public var configuration: AMQPConfiguration { core.configuration }

    public func declare(_ queue: String) async throws {
        core.topology.remember(queue)
        let topology = core.topology
        try await core.publisher.perform { context throws(AMQPError) in try topology.declare(queue, context) }
    }

    public func publish(_ message: QueueMessage, to queue: String) async throws {
        try await core.publisher.publish([outgoing(message, to: queue)])
    }

    public func publish(_ messages: [QueueMessage], to queue: String) async throws {
        try await core.publisher.publish(messages.map { outgoing($0, to: queue) })
    }

    /// Consumers of one queue share one broker subscription (one channel, the sum of their
    /// prefetches); each takes the next delivery in turn.
    public func consume(_ queue: String, prefetch: Int) async throws -> QueueConsumer {
        let prefetch = max(1, min(prefetch, core.options.prefetchLimit ?? Int(UInt16.max)))
        let (source, isNew) = subscriptions.withLock { subscriptions -> (AMQPConsumerSource, Bool) in
            if let shared = subscriptions[queue], shared.isShared {
                let source = AMQPConsumerSource(shared: shared, transport: self)
                if shared.join(ObjectIdentifier(source), prefetch: prefetch) { return (source, false) }
            }
            let shared = AMQPSharedConsumer(queue: queue, core: core)
            let source = AMQPConsumerSource(shared: shared, transport: self)
            _ = shared.join(ObjectIdentifier(source), prefetch: prefetch)
            subscriptions[queue] = shared
            return (source, true)
        }
        if isNew {
            do {
                try await core.consumer.subscribe(source.shared)
            } catch {
                subscriptions.withLock { subscriptions in
                    if subscriptions[queue] === source.shared { subscriptions[queue] = nil }
                }
                throw error
            }
        } else {
            core.consumer.submit(.updatePrefetch(source.shared))
        }
        return QueueConsumer(source)
    }

    /// A consumer stopped: the last one of a queue ends the subscription (the broker takes
    /// back what was not handed out); otherwise the prefetch shrinks.
    func leave(_ source: AMQPConsumerSource) async {
        let shared = source.shared
        let last = subscriptions.withLock { subscriptions -> Bool in
            guard shared.leave(ObjectIdentifier(source)) == 0 else { return false }
            if subscriptions[shared.queue] === shared { subscriptions[shared.queue] = nil }
            return true
        }
        if last { await core.consumer.unsubscribe(shared) } else { core.consumer.submit(.updatePrefetch(shared)) }
    }

    public func depth(of queue: String) async throws -> Int {
        // Acknowledgements are sent without waiting; let those already given reach the broker
        // first, so that a message acked before this call is not counted.
        _ = try? await core.consumer.perform(retriesOnReconnect: false) { _ throws(AMQPError) in }
        do {
            return try await core.publisher.perform { context throws(AMQPError) in
                try context.link.declareQueue(queue, passive: true, arguments: [], channel: context.adminChannel)
            }
        } catch let error as AMQPError where error.code == .notFound {
            throw WeftError(.unknownQueue, "No queue \"\(queue)\" was declared")
        }
    }

    /// How many messages wait in `queue` (ready, not delivered) and how many consumers it has,
    /// of every process: what `weft status` and `weft top` show.
    /// - Throws: `WeftError.unknownQueue` when the queue was never declared.
    public func queueInfo(_ queue: String) async throws -> (messages: Int, consumers: Int) {
        do {
            return try await core.publisher.perform { context throws(AMQPError) in
                try context.link.declareQueueCounting(queue, passive: true, arguments: [], channel: context.adminChannel)
            }
        } catch let error as AMQPError where error.code == .notFound {
            throw WeftError(.unknownQueue, "No queue \"\(queue)\" was declared")
        }
    }

    public func deadLetters(of queue: String, limit: Int) async throws -> [DeadLetter] {
        let deadLetterQueue = core.options.deadLetterQueue(of: queue)
        do {
            let (depth, letters) = try await core.publisher.perform { context throws(AMQPError) in
                // Read without acknowledging, then close the channel: the broker puts every
                // message back in its place.
                let depth = try context.link.declareQueue(deadLetterQueue, passive: true, arguments: [], channel: context.adminChannel)
                let channel = try context.openChannel()
                defer { context.closeChannel(channel) }
                var letters: [DeadLetter] = []
                while letters.count < limit, let (_, message) = try context.link.get(deadLetterQueue, channel: channel) {
                    letters.append(Self.deadLetter(message, queue: queue))
                }
                return (depth, letters)
            }
            await awaitReturn(to: deadLetterQueue, depth: depth)
            return letters
        } catch let error as AMQPError where error.code == .notFound {
            throw WeftError(.unknownQueue, "No queue \"\(queue)\" was declared")
        }
    }

    /// Waits (at most 2 s) until `queue` holds `depth` messages again after a scan's channel
    /// closed: the broker puts the messages a closed channel held back asynchronously (quorum
    /// queues noticeably so), and a scan right after this one must find them in place.
    private func awaitReturn(to queue: String, depth: Int) async {
        guard depth > 0 else { return }
        let deadline = ContinuousClock.now + .seconds(2)
        while ContinuousClock.now < deadline {
            let current = try? await core.publisher.perform(retriesOnReconnect: false) { context throws(AMQPError) in
                try context.link.declareQueue(queue, passive: true, arguments: [], channel: context.adminChannel)
            }
            guard let current, current < depth else { return }
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    public func redriveDeadLetters(of queue: String, limit: Int, matching: @Sendable (DeadLetter) -> Bool) async throws -> Int {
        guard limit > 0 else { return 0 }
        let deadLetterQueue = core.options.deadLetterQueue(of: queue)
        struct Scan: Sendable {
            var channel: UInt16
            var generation: UInt64
            var depth: Int
        }
        // Messages are read without acknowledging, in batches, and stay held by the channel
        // until the end: the chosen ones are acknowledged once re-published, the others go
        // back in place when the channel closes.
        let scan: Scan
        do {
            scan = try await core.publisher.perform(retriesOnReconnect: false) { context throws(AMQPError) in
                let depth = try context.link.declareQueue(deadLetterQueue, passive: true, arguments: [], channel: context.adminChannel)
                return Scan(channel: try context.openChannel(), generation: context.generation, depth: depth)
            }
        } catch let error as AMQPError where error.code == .notFound {
            throw WeftError(.unknownQueue, "No queue \"\(queue)\" was declared")
        }
        var chosen: [(tag: UInt64, message: AMQPIncomingMessage)] = []
        do {
            var scanned = 0
            while chosen.count < limit && scanned < scan.depth {
                let want = min(256, scan.depth - scanned)
                let batch = try await core.publisher.perform(retriesOnReconnect: false) { context throws(AMQPError) in
                    guard context.generation == scan.generation else {
                        throw AMQPError(.connectionLost, "the connection was lost while re-driving dead letters")
                    }
                    var batch: [(tag: UInt64, message: AMQPIncomingMessage)] = []
                    while batch.count < want, let entry = try context.link.get(deadLetterQueue, channel: scan.channel) { batch.append(entry) }
                    return batch
                }
                if batch.isEmpty { break }
                scanned += batch.count
                for entry in batch where chosen.count < limit && matching(Self.deadLetter(entry.message, queue: queue)) {
                    chosen.append(entry)
                }
            }
        } catch {
            try? await core.publisher.perform(retriesOnReconnect: false) { context throws(AMQPError) in
                if context.generation == scan.generation { context.closeChannel(scan.channel) }
            }
            throw error
        }
        do {
            try await core.publisher.publish(chosen.map { entry in
                AMQPOutgoingMessage(
                    exchange: core.options.workExchange, routingKey: entry.message.originQueue ?? queue, body: entry.message.body,
                    priority: entry.message.priority)
            })
        } catch {
            try? await core.publisher.perform(retriesOnReconnect: false) { context throws(AMQPError) in
                if context.generation == scan.generation { context.closeChannel(scan.channel) }
            }
            throw error
        }
        let tags = chosen.map(\.tag)
        try await core.publisher.perform(retriesOnReconnect: false) { context throws(AMQPError) in
            guard context.generation == scan.generation else {
                throw AMQPError(.connectionLost, "the connection was lost while re-driving: the re-driven messages are also still dead-lettered")
            }
            defer { context.closeChannel(scan.channel) }
            for tag in tags { try context.link.ack(channel: scan.channel, tag: tag) }
        }
        await awaitReturn(to: deadLetterQueue, depth: scan.depth - chosen.count)
        return chosen.count
    }

    public func shutdown() async {
        await core.consumer.shutdown()
        await core.publisher.shutdown()
    }

    private func outgoing(_ message: QueueMessage, to queue: String) -> AMQPOutgoingMessage {
        core.noticePriority(message.priority)
        return AMQPOutgoingMessage(
            exchange: core.options.workExchange, routingKey: queue, body: message.body, priority: message.priority,
            persistent: message.isDurable)
    }

    private static func deadLetter(_ message: AMQPIncomingMessage, queue: String) -> DeadLetter {
        DeadLetter(
            queue: message.originQueue ?? queue, message: QueueMessage(body: message.body, priority: message.priority),
            reason: message.reason ?? "dead-lettered by the broker")
    }
}
