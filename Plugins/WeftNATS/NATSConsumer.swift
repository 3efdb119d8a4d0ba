import CNATS
import DequeModule
import Dispatch
import Logging
import Synchronization
import Weft

/// The deliveries of one queue's durable pull consumer: a thread of its own fetches up to the
/// prefetch, and hands what it fetched to ``next()`` highest priority first.
final class NATSConsumer: QueueConsumerSource, @unchecked Sendable {
    // @unchecked: the subscription is used by the fetching thread alone until it is released
    // (``releaseIfIdle(_:)``, once nothing uses it); the rest is locked.
    private struct State {
        /// Fetched, not yet handed out, highest priority first (in fetch order within one).
        var buffer: Deque<(priority: UInt8, delivery: QueueDelivery, settlement: NATSSettlement)> = []
        var waiters: Deque<CheckedContinuation<QueueDelivery?, Never>> = []
        /// Handed out and not yet settled.
        var inHand: [ObjectIdentifier: NATSSettlement] = [:]
        var stopped = false
        var fetcherExited = false
        var subscriptionReleased = false
    }

    private let state = Mutex(State())
    private let names: NATSNames
    private let prefetch: Int
    private let subscription: OpaquePointer
    /// Kept: its connection must outlive the subscription and the deliveries in hand.
    private let transport: NATSTransport
    /// Signalled when a delivery is settled or the consumer stops: the fetcher may have room.
    private let room = DispatchSemaphore(value: 0)

    private init(names: NATSNames, prefetch: Int, subscription: OpaquePointer, transport: NATSTransport) {
        self.names = names
        self.prefetch = prefetch
        self.subscription = subscription
        self.transport = transport
    }

    static func start(_ names: NATSNames, prefetch: Int, transport: NATSTransport) async throws(NATSError) -> NATSConsumer {
        let connection = transport.connection
        let subscription = try await NATSTransport.blocking { () throws(NATSError) in
            var options = jsSubOptions()
            jsSubOptions_Init(&options)
            var subscription: OpaquePointer?
            var code = jsErrCode(rawValue: 0)
            let status = names.stream.withCString { stream in
                names.consumer.withCString { consumer in
                    options.Stream = stream
                    options.Consumer = consumer
                    return js_PullSubscribe(&subscription, connection.jetStream, names.subject, consumer, nil, &options, &code)
                }
            }
            guard status == NATS_OK, let subscription else {
                throw NATSError.call("subscribing to \(names.queue)", status, code: code)
            }
            return UncheckedPointer(subscription)
        }
        let consumer = NATSConsumer(names: names, prefetch: prefetch, subscription: subscription.pointer, transport: transport)
        let name = "weft-nats-fetch"
        DedicatedThread.detach {
            weft_nats_name_current_thread(name)
            consumer.fetchLoop()
        }
        return consumer
    }

    // MARK: Handing out

    func next() async throws -> QueueDelivery? {
        await withCheckedContinuation { continuation in
            let handed: QueueDelivery?? = state.withLock { state in
                if let first = state.buffer.popFirst() {
                    state.inHand[ObjectIdentifier(first.settlement)] = first.settlement
                    return .some(first.delivery)
                }
                if state.stopped { return .some(nil) }
                state.waiters.append(continuation)
                return .none
            }
            if let handed { continuation.resume(returning: handed) }
        }
    }

    func stop() async {
        let waiters = state.withLock { state in
            state.stopped = true
            // Fetched but never handed out: back to the queue at once (the server counts it as
            // delivered, as a quorum queue of RabbitMQ does). Under the lock: once it is
            // released, the fetcher may exit and the subscription these messages need go.
            for entry in state.buffer { entry.settlement.returnUnhanded() }
            state.buffer.removeAll()
            defer { state.waiters.removeAll() }
            return Array(state.waiters)
        }
        for waiter in waiters { waiter.resume(returning: nil) }
        room.signal()
        // The fetcher ends its fetch in progress (at most half a second) and exits; what it
        // fetched meanwhile goes back to the queue. Not awaited: the subscription and the
        // connection stay until it is gone (``releaseIfIdle(_:)``, and the transport's
        // connection lives as long as this consumer).
        transport.forget(self)
        releaseIfIdle { _ in }
    }

    /// Called by a settlement once it settled: frees its place in the prefetch.
    func settled(_ settlement: NATSSettlement) {
        state.withLock { _ = $0.inHand.removeValue(forKey: ObjectIdentifier(settlement)) }
        room.signal()
        releaseIfIdle { _ in }
    }

    /// Releases the subscription once the consumer stopped, its fetcher exited and nothing it
    /// delivered is still in hand (acks go through the subscription).
    private func releaseIfIdle(_ mark: (inout State) -> Void) {
        let release = state.withLock { state -> Bool in
            mark(&state)
            guard state.stopped, state.fetcherExited, state.inHand.isEmpty, !state.subscriptionReleased else { return false }
            state.subscriptionReleased = true
            return true
        }
        if release { natsSubscription_Destroy(subscription) }
    }

    // MARK: Fetching

    private func fetchLoop() {
        let ackWait = NATSConnection.milliseconds(transport.connection.configuration.ackWait)
        let heartbeat = max(500, ackWait / 3)
        var lastHeartbeat = Self.nowMilliseconds()
        var failing = false
        while true {
            let (stopped, room) = state.withLock { ($0.stopped, prefetch - $0.inHand.count - $0.buffer.count) }
            if stopped { break }
            if Self.nowMilliseconds() - lastHeartbeat >= heartbeat {
                markInProgress()
                lastHeartbeat = Self.nowMilliseconds()
            }
            guard room > 0 else {
                _ = self.room.wait(timeout: .now() + .milliseconds(Int(heartbeat)))
                continue
            }
            var list = natsMsgList()
            var code = jsErrCode(rawValue: 0)
            let status = natsSubscription_Fetch(&list, subscription, Int32(room), min(500, heartbeat), &code)
            if status == NATS_TIMEOUT { continue }
            guard status == NATS_OK else {
                // A fetch cut short by the consumer's stop or the transport's shutdown.
                if state.withLock({ $0.stopped }) || transport.connection.isClosed { break }
                if !failing {
                    transport.logger.warning(
                        "fetching from NATS failed; retrying",
                        metadata: ["weft.queue": "\(names.queue)", "weft.error": "\(NATSError.call("fetching", status, code: code))"])
                }
                failing = true
                _ = self.room.wait(timeout: .now() + .milliseconds(250))
                continue
            }
            if failing { transport.logger.info("fetching from NATS again", metadata: ["weft.queue": "\(names.queue)"]) }
            failing = false
            var fetched: [(UInt8, QueueDelivery, NATSSettlement)] = []
            if let messages = list.Msgs {
                for index in 0..<Int(list.Count) {
                    guard let message = messages[index] else { continue }
                    messages[index] = nil  // taken: natsMsgList_Destroy leaves it
                    fetched.append(delivery(of: message))
                }
            }
            natsMsgList_Destroy(&list)
            hand(fetched)
        }
        releaseIfIdle { $0.fetcherExited = true }
    }

    private func delivery(of message: OpaquePointer) -> (UInt8, QueueDelivery, NATSSettlement) {
        var metadata: UnsafeMutablePointer<jsMsgMetaData>?
        var delivered = 1
        if natsMsg_GetMetaData(&metadata, message) == NATS_OK, let metadata {
            delivered = Int(clamping: metadata.pointee.NumDelivered)
            jsMsgMetaData_Destroy(metadata)
        }
        let lost = NATSHeader.count(NATSHeader.lost, of: message)
        let retries = NATSHeader.count(NATSHeader.retries, of: message)
        let priority = UInt8(min(NATSHeader.count(NATSHeader.priority, of: message), Int(QueueMessage.maxPriority)))
        let body = NATSHeader.body(of: message)
        let settlement = NATSSettlement(
            message: message, names: names, consumer: self, transport: transport, priority: priority, retries: retries,
            lostBefore: lost + delivered - 1)
        let delivery = QueueDelivery(
            message: QueueMessage(body: body, priority: priority), queue: names.queue, deliveryCount: lost + delivered,
            retries: retries, countSource: lost > 0 ? .messageHeader : .broker, settlement: settlement)
        return (priority, delivery, settlement)
    }

    /// Puts fetched deliveries in the buffer by priority and wakes the waiting `next()` calls.
    private func hand(_ fetched: [(UInt8, QueueDelivery, NATSSettlement)]) {
        guard !fetched.isEmpty else { return }
        var resumed: [(CheckedContinuation<QueueDelivery?, Never>, QueueDelivery)] = []
        let returned: [NATSSettlement] = state.withLock { state in
            if state.stopped { return fetched.map(\.2) }
            for (priority, delivery, settlement) in fetched {
                let position = state.buffer.lastIndex { $0.priority >= priority }.map { $0 + 1 } ?? 0
                state.buffer.insert((priority, delivery, settlement), at: position)
            }
            while !state.waiters.isEmpty, let first = state.buffer.popFirst() {
                state.inHand[ObjectIdentifier(first.settlement)] = first.settlement
                resumed.append((state.waiters.removeFirst(), first.delivery))
            }
            return []
        }
        for (waiter, delivery) in resumed { waiter.resume(returning: delivery) }
        for settlement in returned { settlement.returnUnhanded() }
    }

    /// Tells the server that every delivery in hand or waiting is still being worked on.
    private func markInProgress() {
        let settlements = state.withLock { Array($0.inHand.values) + $0.buffer.map(\.settlement) }
        for settlement in settlements { settlement.markInProgress() }
    }

    private static func nowMilliseconds() -> Int64 {
        Int64(DispatchTime.now().uptimeNanoseconds / 1_000_000)
    }
}

/// A C pointer carried across a concurrency boundary by a caller that owns it alone.
struct UncheckedPointer: @unchecked Sendable {
    let pointer: OpaquePointer
    init(_ pointer: OpaquePointer) { self.pointer = pointer }
}
