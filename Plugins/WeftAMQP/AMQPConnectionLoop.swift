import CRabbitMQ
import DequeModule
import Logging
import Weft

#if canImport(Glibc)
import Glibc
#endif

/// The life of one ``AMQPConnection`` on its own thread: connect, serve commands, read frames,
/// sleep in `poll`, reconnect after a loss, drain at shutdown. Every field is touched only by
/// that thread.
final class AMQPConnectionLoop {
    private let connection: AMQPConnection
    private var started: CheckedContinuation<Void, Error>?
    private var logger: Logger { connection.logger }
    private var options: AMQPConfiguration.Options { connection.configuration.options }

    private var link: AMQPLink?
    private var generation: UInt64 = 0
    private var failedAttempts = 0
    private var lostAt: ContinuousClock.Instant?
    private var shutdownWaiters: [CheckedContinuation<Void, Never>] = []
    private var shutdownDeadline: ContinuousClock.Instant?

    // Publishing (channel 1, confirm mode).
    private static let publishChannel: UInt16 = 1
    private static let adminChannel: UInt16 = 2
    private var outbox: Deque<PendingPublish> = []
    private var unconfirmed: Deque<PendingPublish> = []
    private var nextSequence: UInt64 = 0

    // Operations that wait for a connection.
    private var waitingOperations: Deque<AMQPConnection.Operation> = []

    // Consuming (channels from 3).
    private var sources: [ObjectIdentifier: AMQPSharedConsumer] = [:]
    private var consumerChannels: [UInt16: AMQPSharedConsumer] = [:]
    /// Each consumer channel's deliveries, for acknowledging runs of them at once.
    private var ledgers: [UInt16: AMQPAckLedger] = [:]
    /// The channels with acknowledgements waiting in their ledgers.
    private var channelsToAcknowledge: [UInt16] = []
    private var channelsInUse: Set<UInt16> = []

    private var commands: Deque<AMQPConnection.Command> = []
    /// Whether the last poll found the socket readable (or timed out).
    private var socketReadable = true

    private struct PendingPublish {
        let request: AMQPConnection.PublishRequest
        let index: Int
        var sequence: UInt64 = 0
        var returned: String?
    }

    init(connection: AMQPConnection, started: CheckedContinuation<Void, Error>) {
        self.connection = connection
        self.started = started
    }

    // MARK: The loop

    func run() {
        while true {
            if shutdownDeadline != nil && (isDrained || link == nil || ContinuousClock.now >= shutdownDeadline!) {
                finish()
                return
            }
            guard let link else {
                if !connect() {
                    if started == nil && failedAttempts == 0 { return }  // the first connection failed
                    waitBeforeReconnecting()
                }
                continue
            }
            do {
                try serveCommands(link)
                try flushOutbox(link)
                // Read only when poll said the socket has something (or its wait timed out, when
                // heartbeats are due): an empty read costs two system calls.
                if socketReadable || link.hasBufferedInput { try readFrames(link) }
                if link.hasBufferedInput { continue }
                socketReadable = try sleep(link)
            } catch {
                socketReadable = true
                lose(error)
            }
        }
    }

    private var isDrained: Bool { outbox.isEmpty && unconfirmed.isEmpty }

    /// Sleeps until the socket or the inbox has something, or heartbeats are due; returns
    /// whether the socket should be read.
    private func sleep(_ link: AMQPLink) throws(AMQPError) -> Bool {
        if shutdownDeadline != nil && isDrained { return false }  // done: the loop finishes
        // Commands wait: serve them without sleeping, and read what came meanwhile.
        guard connection.prepareToSleep() else { return true }
        var timeout = Int32(clamping: max(1, options.heartbeat.components.seconds) * 500)
        if let shutdownDeadline {
            let left = ContinuousClock.now.duration(to: shutdownDeadline)
            timeout = min(timeout, Int32(clamping: max(0, left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000)))
        }
        var descriptors = [
            pollfd(fd: link.fileDescriptor, events: Int16(POLLIN), revents: 0),
            pollfd(fd: connection.wakeDescriptor, events: Int16(POLLIN), revents: 0),
        ]
        let result = poll(&descriptors, 2, timeout)
        connection.awake()
        if result > 0 && descriptors[0].revents & Int16(POLLERR | POLLHUP | POLLNVAL) != 0 && descriptors[0].revents & Int16(POLLIN) == 0 {
            throw AMQPError(.connectionLost, "the broker's socket closed")
        }
        return result <= 0 || descriptors[0].revents & Int16(POLLIN) != 0
    }

    // MARK: Connecting

    /// Opens a connection and sets it up; false when that failed.
    private func connect() -> Bool {
        do {
            let link = try AMQPLink(configuration: connection.configuration)
            generation += 1
            channelsInUse = []
            if connection.role == .publisher {
                try link.openChannel(Self.publishChannel)
                try link.selectConfirms(Self.publishChannel)
            }
            try link.openChannel(Self.adminChannel)
            channelsInUse = [Self.publishChannel, Self.adminChannel]
            nextSequence = 0
            try connection.onConnect(context(link))
            self.link = link
            for source in sources.values {
                do {
                    try attach(source, link)
                } catch let error where error.code == .connectionLost {
                    throw error
                } catch {
                    sources[ObjectIdentifier(source)] = nil
                    source.finish(throwing: error)
                }
            }
            if let lostAt {
                let gap = lostAt.duration(to: .now)
                let milliseconds = Int(gap.components.seconds * 1000 + gap.components.attoseconds / 1_000_000_000_000_000)
                connection.counters.reconnections.add(1)
                connection.counters.disconnectedMilliseconds.add(milliseconds)
                logger.notice(
                    "Reconnected to the broker", metadata: ["gap_ms": "\(milliseconds)", "attempts": "\(failedAttempts + 1)"])
                self.lostAt = nil
            }
            failedAttempts = 0
            started?.resume()
            started = nil
            for operation in waitingOperations { commands.append(.operation(operation)) }
            waitingOperations.removeAll()
            return true
        } catch {
            link = nil
            if let started {
                self.started = nil
                for command in connection.closeInbox() { command.fail(error) }
                started.resume(throwing: error)
                return false
            }
            failedAttempts += 1
            if failedAttempts == 1 || failedAttempts % 10 == 0 {
                logger.warning("Cannot reach the broker yet", metadata: ["attempts": "\(failedAttempts)", "error": "\(error)"])
            }
            return false
        }
    }

    /// Sleeps the reconnection delay, still taking commands (a shutdown ends the wait).
    private func waitBeforeReconnecting() {
        let delay = options.reconnect.delay(afterFailures: failedAttempts - 1)
        let deadline = ContinuousClock.now.advanced(by: delay)
        while ContinuousClock.now < deadline && shutdownDeadline == nil {
            serveCommandsWhileDisconnected()
            if shutdownDeadline != nil { return }
            guard connection.prepareToSleep() else { continue }
            let left = ContinuousClock.now.duration(to: deadline)
            var descriptor = pollfd(fd: connection.wakeDescriptor, events: Int16(POLLIN), revents: 0)
            _ = poll(&descriptor, 1, Int32(clamping: max(1, left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000)))
            connection.awake()
        }
    }

    /// Forgets the connection after a loss: unconfirmed publishes will go again, consumers
    /// drop what they hold (the broker redelivers it), operations wait or fail.
    private func lose(_ error: AMQPError) {
        logger.warning("Lost the broker; reconnecting", metadata: ["error": "\(error.message)"])
        connection.counters.connectionLosses.add(1)
        lostAt = .now
        link = nil
        consumerChannels.removeAll()
        ledgers.removeAll()
        channelsToAcknowledge.removeAll()
        for source in sources.values { source.connectionLost(generation: generation) }
        connection.counters.republished.add(unconfirmed.count)
        while let pending = unconfirmed.popLast() {
            outbox.prepend(PendingPublish(request: pending.request, index: pending.index))
        }
    }

    private func context(_ link: AMQPLink) -> AMQPOperationContext {
        AMQPOperationContext(
            link: link, adminChannel: Self.adminChannel, generation: generation,
            openChannel: { [unowned self] () throws(AMQPError) -> UInt16 in
                let channel = self.freeChannel()
                try link.openChannel(channel)
                self.channelsInUse.insert(channel)
                return channel
            },
            closeChannel: { [unowned self] channel in
                self.channelsInUse.remove(channel)
                if !link.closedChannels.contains(channel) { try? link.closeChannel(channel) }
            })
    }

    private func freeChannel() -> UInt16 {
        var channel: UInt16 = 3
        while channelsInUse.contains(channel) { channel += 1 }
        return channel
    }

    // MARK: Commands

    private func serveCommands(_ link: AMQPLink) throws(AMQPError) {
        connection.takeCommands(into: &commands)
        // A loss throws out of here: the commands not yet served wait for the next connection.
        // Runs of acknowledgements are gathered per channel and go out together (see
        // AMQPAckLedger), corked with any requeues; anything else (which may wait for a reply)
        // goes out at once, after the acknowledgements before it.
        defer { link.cork(false) }
        while let command = commands.popFirst() {
            switch command {
            case .ack:
                break
            case .requeue:
                link.cork(true)
                try flushAcknowledgements(link)
            default:
                try flushAcknowledgements(link)
                link.cork(false)
            }
            try serve(command, link)
        }
        try flushAcknowledgements(link)
    }

    /// Sends the acknowledgements gathered: per channel, one multiple acknowledgement for the
    /// settled prefix of its deliveries, single ones for the rest.
    private func flushAcknowledgements(_ link: AMQPLink) throws(AMQPError) {
        guard !channelsToAcknowledge.isEmpty else { return }
        // On a plain socket the link gathers the acknowledgements and writes them at once;
        // through TLS they are corked into full segments.
        if !link.gathersFrames { link.cork(true) }
        defer { channelsToAcknowledge.removeAll(keepingCapacity: true) }
        for channel in channelsToAcknowledge {
            guard consumerChannels[channel] != nil, var ledger = ledgers[channel], ledger.hasAcknowledgements else { continue }
            let (upTo, alone) = ledger.flush()
            ledgers[channel] = ledger
            if let upTo { try link.gatherAck(channel: channel, tag: upTo, multiple: true) }
            for tag in alone { try link.gatherAck(channel: channel, tag: tag) }
            connection.counters.acknowledgementFrames.add((upTo == nil ? 0 : 1) + alone.count)
        }
        try link.writePendingFrames()
    }

    private func serve(_ command: AMQPConnection.Command, _ link: AMQPLink) throws(AMQPError) {
        switch command {
        case .publish(let request):
            for index in request.messages.indices { outbox.append(PendingPublish(request: request, index: index)) }
        case .ack(let generation, let channel, let tag):
            guard generation == self.generation, consumerChannels[channel] != nil else {
                connection.counters.staleSettlements.add(1)
                return
            }
            connection.counters.acknowledgements.add(1)
            if ledgers[channel]?.hasAcknowledgements != true { channelsToAcknowledge.append(channel) }
            ledgers[channel, default: AMQPAckLedger()].acknowledge(tag)
        case .requeue(let generation, let channel, let tag):
            guard generation == self.generation, consumerChannels[channel] != nil else {
                connection.counters.staleSettlements.add(1)
                return
            }
            try link.requeue(channel: channel, tag: tag)
            ledgers[channel]?.settled(tag)
        case .operation(let operation):
            do {
                try operation.execute(context(link))
            } catch where error.code == .connectionLost {
                if operation.retriesOnReconnect { waitingOperations.append(operation) } else { operation.fail(error) }
                throw error
            } catch {
                operation.fail(error)
                try reopenAdminChannelIfClosed(link)
            }
        case .subscribe(let source, let continuation):
            do {
                try attach(source, link)
                sources[ObjectIdentifier(source)] = source
                continuation.resume()
            } catch where error.code == .connectionLost {
                sources[ObjectIdentifier(source)] = source  // attached at the next connection
                continuation.resume()
                throw error
            } catch {
                continuation.resume(throwing: Self.weftError(error))
            }
        case .unsubscribe(let source, let continuation):
            sources[ObjectIdentifier(source)] = nil
            defer {
                source.finish(throwing: nil)
                continuation.resume()
            }
            if let channel = consumerChannels.first(where: { $0.value === source })?.key {
                consumerChannels[channel] = nil
                channelsInUse.remove(channel)
                if !link.closedChannels.contains(channel) { try link.closeChannel(channel) }
            }
        case .updatePrefetch(let source):
            if let channel = consumerChannels.first(where: { $0.value === source })?.key {
                try link.setPrefetch(source.prefetch, shared: source.isShared, channel: channel)
            }
        case .shutdown(let continuation):
            shutdownWaiters.append(continuation)
            beginShutdown()
        }
    }

    private func serveCommandsWhileDisconnected() {
        connection.takeCommands(into: &commands)
        while let command = commands.popFirst() {
            switch command {
            case .publish(let request):
                for index in request.messages.indices { outbox.append(PendingPublish(request: request, index: index)) }
            case .ack, .requeue:
                connection.counters.staleSettlements.add(1)
            case .operation(let operation):
                waitingOperations.append(operation)
            case .subscribe(let source, let continuation):
                sources[ObjectIdentifier(source)] = source
                continuation.resume()
            case .unsubscribe(let source, let continuation):
                sources[ObjectIdentifier(source)] = nil
                source.finish(throwing: nil)
                continuation.resume()
            case .updatePrefetch:
                break  // the prefetch is set when the subscription is made again
            case .shutdown(let continuation):
                shutdownWaiters.append(continuation)
                beginShutdown()
            }
        }
    }

    private func beginShutdown() {
        guard shutdownDeadline == nil else { return }
        shutdownDeadline = ContinuousClock.now.advanced(by: options.operationTimeout)
        for source in sources.values { source.finish(throwing: nil) }
        if let link {
            for channel in consumerChannels.keys where !link.closedChannels.contains(channel) { try? link.closeChannel(channel) }
        }
        consumerChannels.removeAll()
        sources.removeAll()
    }

    private func finish() {
        let closed = WeftError(.transportClosed, "The AMQP transport is shut down")
        for command in connection.closeInbox() { command.fail(closed) }
        for command in commands { command.fail(closed) }
        for pending in outbox { pending.request.fail(closed) }
        for pending in unconfirmed { pending.request.fail(closed) }
        for operation in waitingOperations { operation.fail(closed) }
        for source in sources.values { source.finish(throwing: nil) }
        link?.close()
        link = nil
        for waiter in shutdownWaiters { waiter.resume() }
        shutdownWaiters.removeAll()
    }

    private func reopenAdminChannelIfClosed(_ link: AMQPLink) throws(AMQPError) {
        for channel in link.closedChannels where channel == Self.adminChannel {
            try link.openChannel(Self.adminChannel)
        }
        link.closedChannels.removeAll()
    }

    static func weftError(_ error: AMQPError) -> any Error {
        error.code == .notFound ? WeftError(.unknownQueue, error.message) : error
    }

    // MARK: Consumers

    private func attach(_ source: AMQPSharedConsumer, _ link: AMQPLink) throws(AMQPError) {
        let channel = freeChannel()
        try link.openChannel(channel)
        channelsInUse.insert(channel)
        do {
            try link.setPrefetch(source.prefetch, shared: source.isShared, channel: channel)
            try link.consume(source.queue, channel: channel)
        } catch {
            channelsInUse.remove(channel)
            if error.code != .connectionLost && !link.closedChannels.contains(channel) { try? link.closeChannel(channel) }
            link.closedChannels.remove(channel)
            throw error
        }
        consumerChannels[channel] = source
        ledgers[channel] = AMQPAckLedger()
        source.attach(generation: generation, channel: channel)
    }

    // MARK: Publishing

    private func flushOutbox(_ link: AMQPLink) throws(AMQPError) {
        guard !outbox.isEmpty, unconfirmed.count < options.confirmWindow else { return }
        // On a plain socket the link gathers the publishes and writes them at once; through TLS
        // each goes out as librabbitmq sends it, corked into full segments.
        if !link.gathersFrames && outbox.count > 1 && unconfirmed.count + 1 < options.confirmWindow { link.cork(true) }
        defer { link.cork(false) }
        while unconfirmed.count < options.confirmWindow, var pending = outbox.first {
            try link.publish(pending.request.messages[pending.index], channel: Self.publishChannel)
            outbox.removeFirst()
            nextSequence += 1
            pending.sequence = nextSequence
            unconfirmed.append(pending)
        }
        try link.writePendingFrames()
    }

    private func confirm(upTo tag: UInt64, multiple: Bool, refused: Bool) {
        func settle(_ pending: PendingPublish) {
            if refused {
                pending.request.complete(AMQPError(.publishRefused, "the broker refused a message for \(pending.request.messages[pending.index].routingKey)"))
            } else if let returned = pending.returned {
                connection.counters.returnedPublishes.add(1)
                pending.request.complete(WeftError(.unknownQueue, returned))
            } else {
                connection.counters.confirmedPublishes.add(1)
                pending.request.complete(nil)
            }
        }
        if multiple {
            while let first = unconfirmed.first, first.sequence <= tag {
                unconfirmed.removeFirst()
                settle(first)
            }
        } else if let index = unconfirmed.firstIndex(where: { $0.sequence == tag }) {
            settle(unconfirmed.remove(at: index))
        }
    }

    // MARK: Frames

    private func readFrames(_ link: AMQPLink) throws(AMQPError) {
        var frame = amqp_frame_t()
        var handled = 0
        while handled < 512, try link.readFrame(into: &frame) {
            handled += 1
            guard frame.frame_type == AMQPMethod.frameMethod else { continue }  // heartbeats; stray content
            try handle(method: frame.payload.method, channel: frame.channel, link)
        }
        if !link.hasBufferedInput { link.releaseBuffers() }
    }

    private func handle(method: amqp_method_t, channel: UInt16, _ link: AMQPLink) throws(AMQPError) {
        switch method.id {
        case AMQPMethod.basicAck:
            let ack = method.decoded.assumingMemoryBound(to: amqp_basic_ack_t.self).pointee
            confirm(upTo: ack.delivery_tag, multiple: ack.multiple != 0, refused: false)
        case AMQPMethod.basicNack:
            let nack = method.decoded.assumingMemoryBound(to: amqp_basic_nack_t.self).pointee
            confirm(upTo: nack.delivery_tag, multiple: nack.multiple != 0, refused: true)
        case AMQPMethod.basicReturn:
            let returned = method.decoded.assumingMemoryBound(to: amqp_basic_return_t.self).pointee
            let routingKey = AMQPLink.string(returned.routing_key)
            let exchange = AMQPLink.string(returned.exchange)
            _ = try link.readContent(channel: channel)
            if let index = unconfirmed.firstIndex(where: {
                $0.returned == nil && $0.request.messages[$0.index].routingKey == routingKey
                    && $0.request.messages[$0.index].exchange == exchange
            }) {
                unconfirmed[index].returned =
                    "No queue \"\(routingKey)\" is bound to exchange \"\(exchange)\": declare the queue before publishing to it"
            }
        case AMQPMethod.basicDeliver:
            let deliver = method.decoded.assumingMemoryBound(to: amqp_basic_deliver_t.self).pointee
            let tag = deliver.delivery_tag
            let redelivered = deliver.redelivered != 0
            let message = try link.readContent(channel: channel)
            guard let source = consumerChannels[channel] else { return }  // a channel being closed
            connection.counters.deliveries.add(1)
            if redelivered { connection.counters.redeliveries.add(1) }
            ledgers[channel, default: AMQPAckLedger()].delivered(tag)
            source.deliver(message, tag: tag, redelivered: redelivered, channel: channel, generation: generation)
        case AMQPMethod.basicCancel:
            // The broker cancelled a consumer (its queue was deleted).
            if let source = consumerChannels.removeValue(forKey: channel) {
                sources[ObjectIdentifier(source)] = nil
                channelsInUse.remove(channel)
                try? link.closeChannel(channel)
                source.finish(throwing: WeftError(.unknownQueue, "The queue \"\(source.queue)\" was deleted"))
            }
        case AMQPMethod.channelClose:
            let close = method.decoded.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
            let text = "\(close.reply_code) \(AMQPLink.string(close.reply_text))"
            try link.confirmChannelClosed(channel)
            link.closedChannels.remove(channel)
            if let source = consumerChannels.removeValue(forKey: channel) {
                sources[ObjectIdentifier(source)] = nil
                channelsInUse.remove(channel)
                source.finish(throwing: AMQPError(.channelClosed, "the broker closed the consumer of \(source.queue): \(text)"))
            } else {
                // The publishing or admin channel: start over on a fresh connection.
                link.close()
                throw AMQPError(.connectionLost, "the broker closed channel \(channel): \(text)")
            }
        case AMQPMethod.connectionClose:
            let close = method.decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
            link.confirmConnectionClosed()
            throw AMQPError(.connectionLost, "the broker closed the connection: \(close.reply_code) \(AMQPLink.string(close.reply_text))")
        case AMQPMethod.connectionBlocked:
            logger.warning("The broker blocks publishing (a resource alarm); publishes wait")
        case AMQPMethod.connectionUnblocked:
            logger.notice("The broker accepts publishing again")
        default:
            logger.debug("Ignored an AMQP method", metadata: ["method": "\(method.id)", "channel": "\(channel)"])
        }
    }
}
