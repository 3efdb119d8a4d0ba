import DequeModule
import Synchronization

/// A ``QueueTransport`` in this process's memory: the embedded default and what tests use.
///
/// Safe across tasks and event-driven: a consumer waiting for a message is resumed by the
/// publish that brings one, never by polling. Priorities are honoured within a queue; among
/// equal priorities, delivery is in publishing order. Unsettled deliveries of a consumer that
/// goes away can be returned with ``abandon(_:)``, which counts a lost delivery, as a broker does
/// when a worker's connection drops.
public final class InMemoryQueueTransport: QueueTransport {
    private struct Pending {
        var message: QueueMessage
        var deliveryCount: Int
    }

    private struct QueueState {
        /// Waiting messages, one deque per priority.
        var pending = Array(repeating: Deque<Pending>(), count: Int(QueueMessage.maxPriority) + 1)
        var count = 0
        var deadLetters: [DeadLetter] = []
        /// Consumers waiting for a message, in arrival order.
        var waiting: Deque<UInt64> = []

        mutating func push(_ item: Pending, front: Bool = false) {
            if front {
                pending[Int(item.message.priority)].prepend(item)
            } else {
                pending[Int(item.message.priority)].append(item)
            }
            count += 1
        }

        mutating func pop() -> Pending? {
            guard count > 0 else { return nil }
            for priority in pending.indices.reversed() where !pending[priority].isEmpty {
                count -= 1
                return pending[priority].removeFirst()
            }
            return nil
        }
    }

    private struct ConsumerState {
        var queue: String
        var prefetch: Int
        var outstanding = 0
        var stopped = false
        var continuation: CheckedContinuation<QueueDelivery?, Never>?
    }

    private struct Unsettled {
        var consumer: UInt64
        var queue: String
        var item: Pending
    }

    private struct State {
        var queues: [String: QueueState] = [:]
        var consumers: [UInt64: ConsumerState] = [:]
        var unsettled: [UInt64: Unsettled] = [:]
        var nextID: UInt64 = 0
        var isShutDown = false
    }

    private let state = Mutex(State())

    /// Creates a transport with no queues.
    public init() {}

    public func declare(_ queue: String) async throws {
        state.withLock { state in
            if state.queues[queue] == nil { state.queues[queue] = QueueState() }
        }
    }

    public func publish(_ message: QueueMessage, to queue: String) async throws {
        let next = try state.withLock { state throws(WeftError) -> (CheckedContinuation<QueueDelivery?, Never>, QueueDelivery)? in
            guard !state.isShutDown else { throw WeftError(.transportClosed, "The in-memory transport is shut down") }
            guard state.queues[queue] != nil else {
                throw WeftError(.unknownQueue, "No queue \"\(queue)\" was declared")
            }
            state.queues[queue]!.push(Pending(message: message, deliveryCount: 1))
            return self.handOff(queue: queue, state: &state)
        }
        if let (continuation, delivery) = next { continuation.resume(returning: delivery) }
    }

    /// Gives the first waiting consumer with room the next message of `queue`, if both exist.
    private func handOff(queue: String, state: inout State) -> (CheckedContinuation<QueueDelivery?, Never>, QueueDelivery)? {
        while let consumer = state.queues[queue]?.waiting.first {
            guard let waiting = state.consumers[consumer], let continuation = waiting.continuation, !waiting.stopped,
                waiting.outstanding < waiting.prefetch
            else {
                state.queues[queue]?.waiting.removeFirst()
                continue
            }
            guard let delivery = take(queue: queue, consumer: consumer, state: &state) else { return nil }
            state.queues[queue]?.waiting.removeFirst()
            state.consumers[consumer]?.continuation = nil
            _ = continuation
            return (continuation, delivery)
        }
        return nil
    }

    /// Takes the next message of `queue` for `consumer`, if there is one.
    private func take(queue: String, consumer: UInt64, state: inout State) -> QueueDelivery? {
        guard let item = state.queues[queue]?.pop() else { return nil }
        state.nextID += 1
        let id = state.nextID
        state.unsettled[id] = Unsettled(consumer: consumer, queue: queue, item: item)
        state.consumers[consumer]?.outstanding += 1
        return QueueDelivery(
            message: item.message, queue: queue, deliveryCount: item.deliveryCount,
            settlement: Settlement(transport: self, id: id))
    }

    public func consume(_ queue: String, prefetch: Int) async throws -> QueueConsumer {
        let id = try state.withLock { state throws(WeftError) -> UInt64 in
            guard !state.isShutDown else { throw WeftError(.transportClosed, "The in-memory transport is shut down") }
            guard state.queues[queue] != nil else { throw WeftError(.unknownQueue, "No queue \"\(queue)\" was declared") }
            state.nextID += 1
            state.consumers[state.nextID] = ConsumerState(queue: queue, prefetch: max(1, prefetch))
            return state.nextID
        }
        return QueueConsumer(Consumer(transport: self, id: id))
    }

    fileprivate func next(consumer: UInt64) async -> QueueDelivery? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<QueueDelivery?, Never>) in
                let immediate: QueueDelivery?? = state.withLock { state in
                    guard let current = state.consumers[consumer], !current.stopped, !state.isShutDown,
                        !Task.isCancelled
                    else {
                        return .some(nil)
                    }
                    if current.outstanding < current.prefetch,
                        let delivery = take(queue: current.queue, consumer: consumer, state: &state)
                    {
                        return .some(delivery)
                    }
                    state.consumers[consumer]?.continuation = continuation
                    state.queues[current.queue]?.waiting.append(consumer)
                    return .none
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            let continuation = state.withLock { state in
                let continuation = state.consumers[consumer]?.continuation
                state.consumers[consumer]?.continuation = nil
                return continuation
            }
            continuation?.resume(returning: nil)
        }
    }

    fileprivate func stop(consumer: UInt64) {
        let continuation = state.withLock { state in
            state.consumers[consumer]?.stopped = true
            let continuation = state.consumers[consumer]?.continuation
            state.consumers[consumer]?.continuation = nil
            if state.consumers[consumer]?.outstanding == 0 { state.consumers[consumer] = nil }
            return continuation
        }
        continuation?.resume(returning: nil)
    }

    fileprivate enum Outcome {
        case ack, retry, deadLetter(String), lost
    }

    fileprivate func settle(_ id: UInt64, _ outcome: Outcome) throws {
        let next = try state.withLock { state throws(WeftError) -> (CheckedContinuation<QueueDelivery?, Never>, QueueDelivery)? in
            guard let unsettled = state.unsettled.removeValue(forKey: id) else {
                throw WeftError(.deliveryAlreadySettled, "The delivery was already settled")
            }
            if let consumer = state.consumers[unsettled.consumer] {
                state.consumers[unsettled.consumer]?.outstanding -= 1
                if consumer.stopped && consumer.outstanding == 1 { state.consumers[unsettled.consumer] = nil }
            }
            var item = unsettled.item
            switch outcome {
            case .ack:
                break
            case .retry:
                state.queues[unsettled.queue]?.push(item, front: true)
            case .lost:
                item.deliveryCount += 1
                state.queues[unsettled.queue]?.push(item, front: true)
            case .deadLetter(let reason):
                state.queues[unsettled.queue]?.deadLetters.append(
                    DeadLetter(queue: unsettled.queue, message: item.message, reason: reason))
            }
            // The settlement may have made room for a waiting consumer, or brought a message back.
            return handOff(queue: unsettled.queue, state: &state)
        }
        if let (continuation, delivery) = next { continuation.resume(returning: delivery) }
    }

    /// Returns an unsettled delivery to its queue as lost, as a broker does when the consumer's
    /// connection drops: the next delivery's ``QueueDelivery/deliveryCount`` is one higher.
    /// For tests and fault simulation.
    public func abandon(_ delivery: QueueDelivery) throws {
        guard let settlement = delivery.handle as? Settlement else {
            throw WeftError(.deliveryAlreadySettled, "The delivery does not belong to this transport")
        }
        try settle(settlement.id, .lost)
    }

    public func depth(of queue: String) async throws -> Int {
        state.withLock { $0.queues[queue]?.count ?? 0 }
    }

    public func deadLetters(of queue: String, limit: Int) async throws -> [DeadLetter] {
        state.withLock { Array(($0.queues[queue]?.deadLetters ?? []).prefix(limit)) }
    }

    public func redriveDeadLetters(of queue: String, limit: Int, matching: @Sendable (DeadLetter) -> Bool) async throws
        -> Int
    {
        var handOffs: [(CheckedContinuation<QueueDelivery?, Never>, QueueDelivery)] = []
        let moved = state.withLock { state -> Int in
            guard var target = state.queues[queue] else { return 0 }
            var kept: [DeadLetter] = []
            var moved = 0
            for letter in target.deadLetters {
                if moved < limit && matching(letter) {
                    target.push(Pending(message: letter.message, deliveryCount: 1))
                    moved += 1
                } else {
                    kept.append(letter)
                }
            }
            target.deadLetters = kept
            state.queues[queue] = target
            while let handOff = handOff(queue: queue, state: &state) { handOffs.append(handOff) }
            return moved
        }
        for (continuation, delivery) in handOffs { continuation.resume(returning: delivery) }
        return moved
    }

    public func shutdown() async {
        let continuations = state.withLock { state in
            state.isShutDown = true
            var continuations: [CheckedContinuation<QueueDelivery?, Never>] = []
            for id in state.consumers.keys {
                state.consumers[id]?.stopped = true
                if let continuation = state.consumers[id]?.continuation { continuations.append(continuation) }
                state.consumers[id]?.continuation = nil
            }
            return continuations
        }
        for continuation in continuations { continuation.resume(returning: nil) }
    }

    /// How many deliveries are handed out and not settled, across all queues: for tests.
    public var unsettledCount: Int { state.withLock { $0.unsettled.count } }

    private final class Settlement: DeliverySettlement {
        let transport: InMemoryQueueTransport
        let id: UInt64

        init(transport: InMemoryQueueTransport, id: UInt64) {
            self.transport = transport
            self.id = id
        }

        func ack() async throws { try transport.settle(id, .ack) }
        func retry() async throws { try transport.settle(id, .retry) }
        func deadLetter(reason: String) async throws { try transport.settle(id, .deadLetter(reason)) }
        func abandon() async throws { try transport.settle(id, .lost) }
    }

    private final class Consumer: QueueConsumerSource {
        let transport: InMemoryQueueTransport
        let id: UInt64

        init(transport: InMemoryQueueTransport, id: UInt64) {
            self.transport = transport
            self.id = id
        }

        func next() async throws -> QueueDelivery? { await transport.next(consumer: id) }
        func stop() async { transport.stop(consumer: id) }
    }
}
