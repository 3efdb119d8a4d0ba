import DequeModule
import Synchronization
import Weft

/// All the consumers of one queue in one transport, behind one broker subscription: one channel,
/// one `basic.consume`, and a prefetch that is the sum of its members' (a worker's slots ask for
/// one each; sixty-four channels of prefetch 1 cost the broker far more than one of 64).
/// The connection's thread puts deliveries in; members take them out in turn.
final class AMQPSharedConsumer: Sendable {
    let queue: String
    private let core: AMQPTransportCore
    private let state = Mutex(State())

    private struct State {
        var buffer: Deque<QueueDelivery> = []
        var bufferGeneration: UInt64 = 0
        var waiters: Deque<(member: ObjectIdentifier, continuation: CheckedContinuation<QueueDelivery?, Error>)> = []
        var members: [ObjectIdentifier: Int] = [:]
        var finished = false
        var failure: (any Error)?
    }

    init(queue: String, core: AMQPTransportCore) {
        self.queue = queue
        self.core = core
    }

    /// Whether several consumers may share it. Quorum queues refuse a channel-wide prefetch,
    /// the only kind that can grow while consuming, so there every consumer has its own.
    var isShared: Bool { core.options.queueType == .classic }

    // MARK: Members

    /// The prefetch the subscription asks of the broker: its members' together.
    var prefetch: Int {
        state.withLock { state in min(Int(UInt16.max), max(1, state.members.values.reduce(0, +))) }
    }

    /// Adds a member; false when the subscription has ended (a new one is needed).
    func join(_ member: ObjectIdentifier, prefetch: Int) -> Bool {
        state.withLock { state in
            guard !state.finished else { return false }
            state.members[member] = prefetch
            return true
        }
    }

    /// Removes a member (its waiting `next()` returns `nil`); returns how many remain.
    func leave(_ member: ObjectIdentifier) -> Int {
        let (waiters, remaining) = state.withLock { state in
            state.members[member] = nil
            var released: [CheckedContinuation<QueueDelivery?, Error>] = []
            state.waiters.removeAll { waiter in
                guard waiter.member == member else { return false }
                released.append(waiter.continuation)
                return true
            }
            return (released, state.members.count)
        }
        for waiter in waiters { waiter.resume(returning: nil) }
        return remaining
    }

    /// The next delivery for `member`, waiting for one; `nil` once the member left or the
    /// subscription ended.
    func next(for member: ObjectIdentifier) async throws -> QueueDelivery? {
        enum Immediate {
            case delivery(QueueDelivery)
            case end((any Error)?)
        }
        func take(_ state: inout State) -> Immediate? {
            guard state.members[member] != nil else { return .end(nil) }
            if let delivery = state.buffer.popFirst() { return .delivery(delivery) }
            if state.finished { return .end(state.failure) }
            return nil
        }
        switch state.withLock({ take(&$0) }) {
        case .delivery(let delivery): return delivery
        case .end(let failure?): throw failure
        case .end(nil): return nil
        case nil: break
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<QueueDelivery?, Error>) in
                let outcome = state.withLock { state -> Immediate? in
                    if let immediate = take(&state) { return immediate }
                    if Task.isCancelled { return .end(nil) }
                    state.waiters.append((member, continuation))
                    return nil
                }
                switch outcome {
                case .delivery(let delivery): continuation.resume(returning: delivery)
                case .end(let failure?): continuation.resume(throwing: failure)
                case .end(nil): continuation.resume(returning: nil)
                case nil: break
                }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<QueueDelivery?, Error>? in
                guard let index = state.waiters.firstIndex(where: { $0.member == member }) else { return nil }
                return state.waiters.remove(at: index).continuation
            }
            waiter?.resume(returning: nil)
        }
    }

    // MARK: From the connection's thread

    func attach(generation: UInt64, channel: UInt16) {
        state.withLock { state in
            if state.bufferGeneration != generation { state.buffer.removeAll() }
            state.bufferGeneration = generation
        }
    }

    /// A message arrived. A redelivery on a classic queue is first stamped with one more lost
    /// delivery (published again, then acknowledged), so that counts survive further losses;
    /// the stamped copy is what members see.
    func deliver(_ message: AMQPIncomingMessage, tag: UInt64, redelivered: Bool, channel: UInt16, generation: UInt64) {
        // A quorum queue counts deliveries itself: its count is taken, and the header (which any
        // publisher can write) ignored. A classic queue counts nothing: the header Weft stamps is
        // all there is.
        let brokerCounts = core.options.queueType == .quorum
        let lost = brokerCounts ? message.brokerDeliveryCount : message.lostDeliveries
        let receipt = AMQPReceipt(generation: generation, channel: channel, tag: tag)
        if redelivered && core.options.queueType == .classic {
            // A subscription that is ending leaves the redelivery to the broker (it comes back
            // when the channel closes): stamping a copy now could race the closing channel's
            // requeue and put the message on the queue twice.
            guard !state.withLock({ $0.finished }) else { return }
            core.restamp(message, queue: queue, lost: lost + 1, receipt: receipt)
            return
        }
        let settlement = AMQPSettlement(core: core, queue: queue, message: message, lostDeliveries: lost, receipt: receipt)
        let delivery = QueueDelivery(
            message: QueueMessage(body: message.body, priority: message.priority), queue: queue,
            deliveryCount: lost + 1, retries: message.retries, countSource: brokerCounts ? .broker : .messageHeader,
            settlement: settlement)
        let waiter = state.withLock { state -> CheckedContinuation<QueueDelivery?, Error>? in
            guard !state.finished else { return nil }
            if let waiter = state.waiters.popFirst() { return waiter.continuation }
            state.buffer.append(delivery)
            return nil
        }
        waiter?.resume(returning: delivery)
    }

    /// The connection was lost: what waits here will be redelivered by the broker.
    func connectionLost(generation: UInt64) {
        state.withLock { state in
            state.buffer.removeAll()
            state.bufferGeneration = generation + 1
        }
    }

    /// Ends the subscription for every member: `nil` for a normal end, or the error their
    /// `next()` throws.
    func finish(throwing error: (any Error)?) {
        let waiters = state.withLock { state -> Deque<(member: ObjectIdentifier, continuation: CheckedContinuation<QueueDelivery?, Error>)> in
            guard !state.finished else { return [] }
            state.finished = true
            state.failure = error
            state.buffer.removeAll()
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        for waiter in waiters {
            if let error { waiter.continuation.resume(throwing: error) } else { waiter.continuation.resume(returning: nil) }
        }
    }
}

/// One consumer handed out by ``AMQPTransport/consume(_:prefetch:)``: a member of its queue's
/// ``AMQPSharedConsumer``.
final class AMQPConsumerSource: QueueConsumerSource, Sendable {
    let shared: AMQPSharedConsumer
    private let transport: AMQPTransport

    init(shared: AMQPSharedConsumer, transport: AMQPTransport) {
        self.shared = shared
        self.transport = transport
    }

    func next() async throws -> QueueDelivery? {
        try await shared.next(for: ObjectIdentifier(self))
    }

    func stop() async {
        await transport.leave(self)
    }
}

/// Where a delivery came from: which connection (generation), channel and delivery tag.
struct AMQPReceipt: Sendable, Hashable {
    let generation: UInt64
    let channel: UInt16
    let tag: UInt64
}
