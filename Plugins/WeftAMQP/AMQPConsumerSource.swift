import DequeModule
import Synchronization
import Weft

/// The deliveries of one consumer of one queue: the connection's thread puts them in, the
/// consuming task takes them out with ``next()``.
final class AMQPConsumerSource: QueueConsumerSource, Sendable {
    let queue: String
    let prefetch: Int
    private let core: AMQPTransportCore
    private let state = Mutex(State())

    private struct State {
        var buffer: Deque<QueueDelivery> = []
        var bufferGeneration: UInt64 = 0
        var waiter: CheckedContinuation<QueueDelivery?, Error>?
        var finished = false
        var failure: (any Error)?
    }

    init(queue: String, prefetch: Int, core: AMQPTransportCore) {
        self.queue = queue
        self.prefetch = prefetch
        self.core = core
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
    /// the stamped copy is what the consumer sees.
    func deliver(_ message: AMQPIncomingMessage, tag: UInt64, redelivered: Bool, channel: UInt16, generation: UInt64) {
        let lost = message.lostDeliveries + message.brokerDeliveryCount
        let receipt = AMQPReceipt(generation: generation, channel: channel, tag: tag)
        if redelivered && core.options.queueType == .classic {
            core.restamp(message, queue: queue, lost: lost + 1, receipt: receipt)
            return
        }
        let settlement = AMQPSettlement(core: core, queue: queue, message: message, lostDeliveries: lost, receipt: receipt)
        let delivery = QueueDelivery(
            message: QueueMessage(body: message.body, priority: message.priority), queue: queue,
            deliveryCount: lost + 1, settlement: settlement)
        let waiter = state.withLock { state -> CheckedContinuation<QueueDelivery?, Error>? in
            guard !state.finished else { return nil }
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
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

    /// Ends the sequence: `nil` for a normal end, or the error ``next()`` throws.
    func finish(throwing error: (any Error)?) {
        let waiter = state.withLock { state -> CheckedContinuation<QueueDelivery?, Error>? in
            guard !state.finished else { return nil }
            state.finished = true
            state.failure = error
            state.buffer.removeAll()
            defer { state.waiter = nil }
            return state.waiter
        }
        if let error { waiter?.resume(throwing: error) } else { waiter?.resume(returning: nil) }
    }

    // MARK: QueueConsumerSource

    func next() async throws -> QueueDelivery? {
        enum Immediate {
            case delivery(QueueDelivery)
            case end((any Error)?)
        }
        let immediate = state.withLock { state -> Immediate? in
            if let delivery = state.buffer.popFirst() { return .delivery(delivery) }
            if state.finished {
                defer { state.failure = nil }
                return .end(state.failure)
            }
            return nil
        }
        switch immediate {
        case .delivery(let delivery): return delivery
        case .end(let failure?): throw failure
        case .end(nil): return nil
        case nil: break
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<QueueDelivery?, Error>) in
                let outcome = state.withLock { state -> Immediate? in
                    if let delivery = state.buffer.popFirst() { return .delivery(delivery) }
                    if state.finished { return .end(state.failure) }
                    if Task.isCancelled { return .end(nil) }
                    state.waiter = continuation
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
            let waiter = state.withLock { state in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(returning: nil)
        }
    }

    func stop() async {
        await core.consumer.unsubscribe(self)
    }
}

/// Where a delivery came from: which connection (generation), channel and delivery tag.
struct AMQPReceipt: Sendable, Hashable {
    let generation: UInt64
    let channel: UInt16
    let tag: UInt64
}
