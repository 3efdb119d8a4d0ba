import Synchronization

/// Group commit: requests made while earlier ones are in flight are sent together, as one
/// statement, in one transaction.
///
/// At most `concurrency` batches are in flight. A request that finds room goes out at once,
/// alone; requests made while every slot is busy wait for the next batch, so batches grow with
/// the load and no request waits on a timer. `perform` answers each request of a batch, in order.
final class PostgresBatcher<Request: Sendable, Response: Sendable>: Sendable {
    /// Answers a batch's requests, in order.
    typealias Perform = @Sendable ([Request]) async -> [Result<Response, any Error>]

    private struct Pending: Sendable {
        var request: Request
        var continuation: CheckedContinuation<Response, any Error>
    }

    private struct State: Sendable {
        var pending: [Pending] = []
        var inFlight = 0
    }

    private let concurrency: Int
    private let maximumBatch: Int
    private let perform: Perform
    private let state = Mutex(State())

    /// A batcher sending at most `concurrency` batches at once, of at most `maximumBatch` requests.
    init(concurrency: Int, maximumBatch: Int = 256, perform: @escaping Perform) {
        self.concurrency = max(1, concurrency)
        self.maximumBatch = max(1, maximumBatch)
        self.perform = perform
    }

    /// Sends `request` in the next batch and returns its answer.
    func submit(_ request: Request) async throws -> Response {
        try await withCheckedThrowingContinuation { continuation in
            let batch = state.withLock { state -> [Pending]? in
                state.pending.append(Pending(request: request, continuation: continuation))
                guard state.inFlight < concurrency else { return nil }
                state.inFlight += 1
                return Self.take(&state, limit: maximumBatch)
            }
            if let batch { Task { await self.send(batch) } }
        }
    }

    private static func take(_ state: inout State, limit: Int) -> [Pending] {
        guard state.pending.count > limit else {
            defer { state.pending.removeAll(keepingCapacity: true) }
            return state.pending
        }
        let batch = Array(state.pending.prefix(limit))
        state.pending.removeFirst(limit)
        return batch
    }

    /// Sends `first`, then whatever gathered meanwhile, until nothing waits.
    private func send(_ first: [Pending]) async {
        var batch = first
        while true {
            let results = await perform(batch.map(\.request))
            for (index, pending) in batch.enumerated() {
                pending.continuation.resume(
                    with: index < results.count
                        ? results[index] : .failure(PostgresStoreError(.queryFailed, "a batched statement gave no answer")))
            }
            let next = state.withLock { state -> [Pending]? in
                guard !state.pending.isEmpty else {
                    state.inFlight -= 1
                    return nil
                }
                return Self.take(&state, limit: maximumBatch)
            }
            guard let next else { return }
            batch = next
        }
    }
}
