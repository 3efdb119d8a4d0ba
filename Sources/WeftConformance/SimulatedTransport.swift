import Synchronization
import Weft

/// A queue transport with no consumers of its own: the ``FaultSimulator`` takes its messages
/// one at a time, in an order it chooses from its seed, and decides what becomes of each
/// settlement (an ack may be lost, a delivery duplicated). Messages on queues that are not job
/// queues (run announcements) are discarded: the simulator reads results from the store.
public final class SimulatedTransport: QueueTransport {
    struct Message {
        var id: UInt64
        var queue: String
        var message: QueueMessage
        var deliveryCount: Int
    }

    private struct State {
        var pool: [Message] = []
        var deadLetters: [DeadLetter] = []
        var nextID: UInt64 = 0
        var idleConsumers: [CheckedContinuation<QueueDelivery?, Never>] = []
        var stopped = false
    }

    private let state = Mutex(State())
    private let jobQueuePrefix: String
    /// Decides the fate of each ack, given the delivery count: `true` loses it (the message
    /// comes back as lost).
    let loseAck: @Sendable (Int) -> Bool

    init(jobQueuePrefix: String, loseAck: @escaping @Sendable (Int) -> Bool) {
        self.jobQueuePrefix = jobQueuePrefix
        self.loseAck = loseAck
    }

    public func declare(_ queue: String) async throws {}

    public func publish(_ message: QueueMessage, to queue: String) async throws {
        guard queue.hasPrefix(jobQueuePrefix) else { return }
        state.withLock { state in
            state.nextID += 1
            state.pool.append(Message(id: state.nextID, queue: queue, message: message, deliveryCount: 1))
        }
    }

    /// A consumer that never delivers: the simulator hands deliveries to workers itself.
    public func consume(_ queue: String, prefetch: Int) async throws -> QueueConsumer {
        QueueConsumer(IdleConsumer(transport: self))
    }

    public func depth(of queue: String) async throws -> Int {
        state.withLock { $0.pool.filter { $0.queue == queue }.count }
    }

    public func deadLetters(of queue: String, limit: Int) async throws -> [DeadLetter] {
        state.withLock { Array($0.deadLetters.filter { $0.queue == queue }.prefix(limit)) }
    }

    public func redriveDeadLetters(of queue: String, limit: Int, matching: @Sendable (DeadLetter) -> Bool) async throws -> Int {
        state.withLock { state in
            var moved = 0
            state.deadLetters.removeAll { letter in
                guard letter.queue == queue, moved < limit, matching(letter) else { return false }
                moved += 1
                state.nextID += 1
                state.pool.append(Message(id: state.nextID, queue: queue, message: letter.message, deliveryCount: 1))
                return true
            }
            return moved
        }
    }

    public func shutdown() async {
        let idle = state.withLock { state in
            state.stopped = true
            defer { state.idleConsumers = [] }
            return state.idleConsumers
        }
        for continuation in idle { continuation.resume(returning: nil) }
    }

    // MARK: For the simulator

    var pendingCount: Int { state.withLock { $0.pool.count } }
    var deadLetterCount: Int { state.withLock { $0.deadLetters.count } }
    var allDeadLetters: [DeadLetter] { state.withLock { $0.deadLetters } }

    /// Takes the message at `index` of the pool as a delivery; with `duplicate`, a copy stays.
    func take(at index: Int, duplicate: Bool) -> QueueDelivery {
        let message = state.withLock { state in
            let message = state.pool[index]
            if duplicate {
                state.nextID += 1
                state.pool.append(Message(id: state.nextID, queue: message.queue, message: message.message, deliveryCount: message.deliveryCount))
            }
            state.pool.remove(at: index)
            return message
        }
        return QueueDelivery(
            message: message.message, queue: message.queue, deliveryCount: message.deliveryCount,
            settlement: Settlement(transport: self, message: message))
    }

    fileprivate func settle(_ message: Message, lost: Bool, back: Bool, deadLetter reason: String?) {
        state.withLock { state in
            if let reason {
                state.deadLetters.append(DeadLetter(queue: message.queue, message: message.message, reason: reason))
            } else if back {
                var message = message
                if lost { message.deliveryCount += 1 }
                state.pool.append(message)
            }
        }
    }

    fileprivate func park(_ continuation: CheckedContinuation<QueueDelivery?, Never>) {
        let stopped = state.withLock { state in
            if !state.stopped { state.idleConsumers.append(continuation) }
            return state.stopped
        }
        if stopped { continuation.resume(returning: nil) }
    }

    private final class Settlement: DeliverySettlement {
        let transport: SimulatedTransport
        let message: Message
        private let settled = Mutex(false)

        init(transport: SimulatedTransport, message: Message) {
            self.transport = transport
            self.message = message
        }

        private func once() throws {
            try settled.withLock { settled in
                if settled { throw WeftError(.deliveryAlreadySettled, "The delivery was already settled") }
                settled = true
            }
        }

        func ack() async throws {
            try once()
            // A lost ack: the broker never heard it, and delivers the message again.
            if transport.loseAck(message.deliveryCount) { transport.settle(message, lost: true, back: true, deadLetter: nil) }
        }

        func retry() async throws {
            try once()
            transport.settle(message, lost: false, back: true, deadLetter: nil)
        }

        func deadLetter(reason: String) async throws {
            try once()
            transport.settle(message, lost: false, back: false, deadLetter: reason)
        }

        func abandon() async throws {
            try once()
            transport.settle(message, lost: true, back: true, deadLetter: nil)
        }
    }

    private final class IdleConsumer: QueueConsumerSource {
        let transport: SimulatedTransport
        init(transport: SimulatedTransport) { self.transport = transport }

        func next() async throws -> QueueDelivery? {
            await withCheckedContinuation { transport.park($0) }
        }

        func stop() async {}
    }
}
