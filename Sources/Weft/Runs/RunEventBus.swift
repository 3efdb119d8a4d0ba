import Synchronization

/// Fans run events out to subscribers. Costs one atomic load per event when nobody listens.
final class RunEventBus: Sendable {
    private let subscribers = Mutex<[Int: AsyncStream<RunEvent>.Continuation]>([:])
    private let subscriberCount = Atomic<Int>(0)
    private let nextID = Atomic<Int>(0)

    /// Whether anybody listens.
    var hasSubscribers: Bool { subscriberCount.load(ordering: .relaxed) > 0 }

    /// A stream of every event from now on. Buffering is unbounded: no event is dropped.
    func subscribe() -> AsyncStream<RunEvent> {
        let id = nextID.wrappingAdd(1, ordering: .relaxed).newValue
        let (stream, continuation) = AsyncStream<RunEvent>.makeStream(bufferingPolicy: .unbounded)
        continuation.onTermination = { [weak self] _ in
            guard let self else { return }
            self.subscribers.withLock { _ = $0.removeValue(forKey: id) }
            self.subscriberCount.subtract(1, ordering: .relaxed)
        }
        subscribers.withLock { $0[id] = continuation }
        subscriberCount.add(1, ordering: .relaxed)
        return stream
    }

    func emit(_ event: RunEvent) {
        guard hasSubscribers else { return }
        let targets = subscribers.withLock { Array($0.values) }
        for continuation in targets { continuation.yield(event) }
    }

    /// Ends every subscriber's stream.
    func finish() {
        let targets = subscribers.withLock { Array($0.values) }
        for continuation in targets { continuation.finish() }
    }
}
