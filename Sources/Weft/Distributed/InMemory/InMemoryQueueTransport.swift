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
    fileprivate struct Pending {
        var message: QueueMessage
        var deliveryCount: Int
        var retries = 0
    }

    /// One queue. Only ever read or written inside the transport's lock, which is what makes it
    /// safe to share (hence `@unchecked`); consumers and deliveries hold it directly, so that
    /// taking and settling never look the queue up by name.
    fileprivate final class QueueState: @unchecked Sendable {
        /// Waiting messages, one deque per priority.
        var pending = Array(repeating: Deque<Pending>(), count: Int(QueueMessage.maxPriority) + 1)
        let name: String
        var count = 0
        var deadLetters: [DeadLetter] = []
        /// Consumers waiting for a message, in arrival order.
        var waiting: Deque<ConsumerState> = []

        init(name: String) { self.name = name }

        func push(_ item: Pending, front: Bool = false) {
            if front {
                pending[Int(item.message.priority)].prepend(item)
            } else {
                pending[Int(item.message.priority)].append(item)
            }
            count += 1
        }

        func pop() -> Pending? {
            guard count > 0 else { return nil }
            for priority in pending.indices.reversed() where !pending[priority].isEmpty {
                count -= 1
                return pending[priority].removeFirst()
            }
            return nil
        }
    }

    /// One consumer's bookkeeping. Only ever read or written inside the transport's lock, which
    /// is what makes it safe to share (hence `@unchecked`).
    fileprivate final class ConsumerState: @unchecked Sendable {
        let queue: QueueState
        let prefetch: Int
        /// Deliveries handed out and not settled. Atomic, so that an ack takes no lock.
        let outstanding = Atomic<Int>(0)
        /// Set while the consumer waits with no room: an ack must then wake it, under the lock.
        let waitsForRoom = Atomic<Bool>(false)
        var stopped = false
        var continuation: CheckedContinuation<QueueDelivery?, Never>?

        var hasRoom: Bool { outstanding.load(ordering: .sequentiallyConsistent) < prefetch }

        init(queue: QueueState, prefetch: Int) {
            self.queue = queue
            self.prefetch = prefetch
        }
    }

    private struct State {
        var queues: [String: QueueState] = [:]
        var consumers: [ObjectIdentifier: ConsumerState] = [:]
        var isShutDown = false
    }

    private typealias HandOff = (CheckedContinuation<QueueDelivery?, Never>, QueueDelivery)

    private let state = Mutex(State())
    private let unsettled = Atomic<Int>(0)

    /// Creates a transport with no queues.
    public init() {}

    public func declare(_ queue: String) async throws {
        state.withLock { state in
            if state.queues[queue] == nil { state.queues[queue] = QueueState(name: queue) }
        }
    }

    public func publish(_ message: QueueMessage, to queue: String) async throws {
        var handOffs: [HandOff] = []
        try state.withLock { state throws(WeftError) in
            guard !state.isShutDown else { throw WeftError(.transportClosed, "The in-memory transport is shut down") }
            guard let target = state.queues[queue] else {
                throw WeftError(.unknownQueue, "No queue \"\(queue)\" was declared")
            }
            target.push(Pending(message: message, deliveryCount: 1))
            handOff(target, into: &handOffs)
            unsettled.add(handOffs.count, ordering: .relaxed)
        }
        for (continuation, delivery) in handOffs { continuation.resume(returning: delivery) }
    }

    public func publish(_ messages: [QueueMessage], to queue: String) async throws {
        var handOffs: [HandOff] = []
        try state.withLock { state throws(WeftError) in
            guard !state.isShutDown else { throw WeftError(.transportClosed, "The in-memory transport is shut down") }
            guard let target = state.queues[queue] else {
                throw WeftError(.unknownQueue, "No queue \"\(queue)\" was declared")
            }
            for message in messages { target.push(Pending(message: message, deliveryCount: 1)) }
            handOff(target, into: &handOffs)
            unsettled.add(handOffs.count, ordering: .relaxed)
        }
        for (continuation, delivery) in handOffs { continuation.resume(returning: delivery) }
    }

    /// Gives waiting consumers with room the next messages of `queue`, while both last. Called
    /// inside the lock.
    private func handOff(_ queue: QueueState, into handOffs: inout [HandOff]) {
        while let consumer = queue.waiting.first {
            guard let continuation = consumer.continuation, !consumer.stopped, consumer.hasRoom else {
                queue.waiting.removeFirst()
                continue
            }
            guard let delivery = take(for: consumer) else { return }
            queue.waiting.removeFirst()
            consumer.continuation = nil
            consumer.waitsForRoom.store(false, ordering: .sequentiallyConsistent)
            handOffs.append((continuation, delivery))
        }
    }

    /// Takes the next message of `consumer`'s queue for it, if there is one. Called inside the lock.
    private func take(for consumer: ConsumerState) -> QueueDelivery? {
        guard let item = consumer.queue.pop() else { return nil }
        consumer.outstanding.add(1, ordering: .sequentiallyConsistent)
        return QueueDelivery(
            message: item.message, queue: consumer.queue.name, deliveryCount: item.deliveryCount, retries: item.retries,
            settlement: Settlement(transport: self, consumer: consumer, item: item))
    }

    public func consume(_ queue: String, prefetch: Int) async throws -> QueueConsumer {
        let consumer = try state.withLock { state throws(WeftError) -> ConsumerState in
            guard !state.isShutDown else { throw WeftError(.transportClosed, "The in-memory transport is shut down") }
            guard let target = state.queues[queue] else {
                throw WeftError(.unknownQueue, "No queue \"\(queue)\" was declared")
            }
            let consumer = ConsumerState(queue: target, prefetch: max(1, prefetch))
            state.consumers[ObjectIdentifier(consumer)] = consumer
            return consumer
        }
        return QueueConsumer(Consumer(transport: self, state: consumer))
    }

    fileprivate func next(consumer: ConsumerState) async -> QueueDelivery? {
        // The fast path: a message waits and the consumer has room. Taken without suspending,
        // since a suspension costs a trip through the executor even when resumed at once.
        let ready: QueueDelivery?? = state.withLock { state in
            guard !consumer.stopped, !state.isShutDown, !Task.isCancelled else { return .some(nil) }
            guard consumer.hasRoom, let delivery = take(for: consumer) else { return .none }
            unsettled.add(1, ordering: .relaxed)
            return .some(delivery)
        }
        if let ready { return ready }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<QueueDelivery?, Never>) in
                let immediate: QueueDelivery?? = state.withLock { state in
                    guard !consumer.stopped, !state.isShutDown, !Task.isCancelled else { return .some(nil) }
                    // Acks take no lock: announce the wait first, then look for room again, so
                    // that an ack either sees the announcement or left room seen here.
                    consumer.waitsForRoom.store(true, ordering: .sequentiallyConsistent)
                    if consumer.hasRoom, let delivery = take(for: consumer) {
                        consumer.waitsForRoom.store(false, ordering: .sequentiallyConsistent)
                        unsettled.add(1, ordering: .relaxed)
                        return .some(delivery)
                    }
                    consumer.continuation = continuation
                    consumer.queue.waiting.append(consumer)
                    return .none
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            let continuation = state.withLock { _ in
                let continuation = consumer.continuation
                consumer.continuation = nil
                return continuation
            }
            continuation?.resume(returning: nil)
        }
    }

    fileprivate func stop(consumer: ConsumerState) {
        let continuation = state.withLock { state in
            consumer.stopped = true
            let continuation = consumer.continuation
            consumer.continuation = nil
            state.consumers[ObjectIdentifier(consumer)] = nil
            return continuation
        }
        continuation?.resume(returning: nil)
    }

    fileprivate enum Outcome {
        case ack, retry, deadLetter(String), lost
    }

    fileprivate func settle(_ settlement: Settlement, _ outcome: Outcome) throws {
        guard settlement.claim() else {
            throw WeftError(.deliveryAlreadySettled, "The delivery was already settled")
        }
        let consumer = settlement.consumer
        let queue = consumer.queue
        if case .ack = outcome {
            // The common case takes no lock, unless the consumer waits for the room this frees.
            consumer.outstanding.subtract(1, ordering: .sequentiallyConsistent)
            unsettled.subtract(1, ordering: .relaxed)
            guard consumer.waitsForRoom.load(ordering: .sequentiallyConsistent) else { return }
            var handOffs: [HandOff] = []
            state.withLock { _ in
                handOff(queue, into: &handOffs)
                unsettled.add(handOffs.count, ordering: .relaxed)
            }
            for (continuation, delivery) in handOffs { continuation.resume(returning: delivery) }
            return
        }
        var handOffs: [HandOff] = []
        state.withLock { state in
            consumer.outstanding.subtract(1, ordering: .sequentiallyConsistent)
            unsettled.subtract(1, ordering: .relaxed)
            var item = settlement.item
            switch outcome {
            case .ack:
                break
            case .retry:
                item.retries += 1
                queue.push(item, front: true)
            case .lost:
                item.deliveryCount += 1
                queue.push(item, front: true)
            case .deadLetter(let reason):
                queue.deadLetters.append(DeadLetter(queue: queue.name, message: item.message, reason: reason))
            }
            // The settlement may have made room for a waiting consumer, or brought a message back.
            handOff(queue, into: &handOffs)
            unsettled.add(handOffs.count, ordering: .relaxed)
        }
        for (continuation, delivery) in handOffs { continuation.resume(returning: delivery) }
    }

    /// Returns an unsettled delivery to its queue as lost, as a broker does when the consumer's
    /// connection drops: the next delivery's ``QueueDelivery/deliveryCount`` is one higher.
    /// For tests and fault simulation.
    public func abandon(_ delivery: QueueDelivery) throws {
        guard let settlement = delivery.handle as? Settlement else {
            throw WeftError(.deliveryAlreadySettled, "The delivery does not belong to this transport")
        }
        try settle(settlement, .lost)
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
        var handOffs: [HandOff] = []
        let moved = state.withLock { state -> Int in
            guard let target = state.queues[queue] else { return 0 }
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
            handOff(target, into: &handOffs)
            unsettled.add(handOffs.count, ordering: .relaxed)
            return moved
        }
        for (continuation, delivery) in handOffs { continuation.resume(returning: delivery) }
        return moved
    }

    public func shutdown() async {
        let continuations = state.withLock { state in
            state.isShutDown = true
            var continuations: [CheckedContinuation<QueueDelivery?, Never>] = []
            for consumer in state.consumers.values {
                consumer.stopped = true
                if let continuation = consumer.continuation { continuations.append(continuation) }
                consumer.continuation = nil
            }
            return continuations
        }
        for continuation in continuations { continuation.resume(returning: nil) }
    }

    /// How many deliveries are handed out and not settled, across all queues: for tests.
    public var unsettledCount: Int { unsettled.load(ordering: .relaxed) }

    fileprivate final class Settlement: DeliverySettlement {
        let transport: InMemoryQueueTransport
        let consumer: ConsumerState
        let item: Pending
        private let settled = Atomic(false)

        init(transport: InMemoryQueueTransport, consumer: ConsumerState, item: Pending) {
            self.transport = transport
            self.consumer = consumer
            self.item = item
        }

        /// Whether this call is the one that settles the delivery.
        func claim() -> Bool {
            settled.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
        }

        func ack() async throws { try transport.settle(self, .ack) }
        func retry() async throws { try transport.settle(self, .retry) }
        func deadLetter(reason: String) async throws { try transport.settle(self, .deadLetter(reason)) }
        func abandon() async throws { try transport.settle(self, .lost) }
    }

    private final class Consumer: QueueConsumerSource {
        let transport: InMemoryQueueTransport
        let state: ConsumerState

        init(transport: InMemoryQueueTransport, state: ConsumerState) {
            self.transport = transport
            self.state = state
        }

        func next() async throws -> QueueDelivery? { await transport.next(consumer: state) }
        func stop() async { transport.stop(consumer: state) }
    }
}
