import Synchronization

/// Runs `body` with a time limit on `clock`. When the limit passes first, `body`'s task is
/// cancelled (cooperatively) and a timeout ``NodeFailure`` is thrown at once, without waiting
/// for `body` to notice: its late result is discarded.
func withTimeout<T: Sendable>(
    _ timeout: Duration, clock: any Clock<Duration>, _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    let race = TimeoutRace<T>()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { continuation in
            race.begin(continuation)
            let bodyTask = Task {
                do { race.settle(.success(try await body())) } catch { race.settle(.failure(error)) }
            }
            let timerTask = Task {
                do {
                    try await clock.sleep(for: timeout)
                    race.settle(.failure(NodeFailure.timedOut(after: timeout)))
                } catch {
                    // Cancelled: the body finished first.
                }
            }
            race.track(bodyTask, timerTask)
            if Task.isCancelled { race.settle(.failure(CancellationError())) }
        }
    } onCancel: {
        race.settle(.failure(CancellationError()))
    }
}

/// The shared state of one ``withTimeout(_:clock:_:)`` call: the first result wins.
private final class TimeoutRace<T: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<T, any Error>?
        var settled = false
        var early: Result<T, any Error>?
        var tasks: [Task<Void, Never>] = []
    }

    private let state = Mutex(State())

    func begin(_ continuation: CheckedContinuation<T, any Error>) {
        let early = state.withLock { state -> Result<T, any Error>? in
            if state.settled { return state.early }
            state.continuation = continuation
            return nil
        }
        if let early { continuation.resume(with: early) }
    }

    func track(_ tasks: Task<Void, Never>...) {
        let settled = state.withLock { state -> Bool in
            state.tasks = tasks
            return state.settled
        }
        if settled { tasks.forEach { $0.cancel() } }
    }

    func settle(_ result: Result<T, any Error>) {
        let (continuation, tasks) = state.withLock { state -> (CheckedContinuation<T, any Error>?, [Task<Void, Never>]) in
            guard !state.settled else { return (nil, []) }
            state.settled = true
            if state.continuation == nil { state.early = result }
            defer { state.continuation = nil }
            return (state.continuation, state.tasks)
        }
        tasks.forEach { $0.cancel() }
        continuation?.resume(with: result)
    }
}
