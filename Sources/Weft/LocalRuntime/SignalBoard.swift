import Synchronization

/// The nodes of a local runtime's runs that wait for a signal, and the continuations that
/// resume them.
final class SignalBoard: Sendable {
    struct Key: Hashable, Sendable {
        var runID: String
        var nodeID: String
    }

    /// What resumes a waiting node.
    struct Signal: Sendable {
        var action: String
        var payload: JSONValue
    }

    private struct Waiter {
        var actions: [String]
        var continuation: CheckedContinuation<Signal, any Error>?
        /// A signal that came while the waiter was being set up (between registering and parking).
        var early: Signal?
        var cancelled = false
    }

    private let waiters = Mutex<[Key: Waiter]>([:])

    /// Waits for a signal to `nodeID` of `runID`. Throws `CancellationError` when the calling
    /// task is cancelled.
    /// `registered` is called once the node takes signals.
    func wait(runID: String, nodeID: String, actions: [String], registered: () -> Void = {}) async throws -> Signal {
        let key = Key(runID: runID, nodeID: nodeID)
        waiters.withLock { $0[key] = Waiter(actions: actions) }
        registered()
        defer { waiters.withLock { _ = $0.removeValue(forKey: key) } }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Signal, any Error>) in
                let resume: Result<Signal, any Error>? = waiters.withLock { waiters in
                    guard var waiter = waiters[key] else { return .failure(CancellationError()) }
                    if waiter.cancelled { return .failure(CancellationError()) }
                    if let early = waiter.early { return .success(early) }
                    waiter.continuation = continuation
                    waiters[key] = waiter
                    return nil
                }
                if let resume { continuation.resume(with: resume) }
            }
        } onCancel: {
            let continuation = waiters.withLock { waiters -> CheckedContinuation<Signal, any Error>? in
                waiters[key]?.cancelled = true
                let continuation = waiters[key]?.continuation
                waiters[key]?.continuation = nil
                return continuation
            }
            continuation?.resume(throwing: CancellationError())
        }
    }

    /// Resumes the node waiting at `key`.
    ///
    /// - Throws: ``WeftError`` with ``WeftError/Code/notWaiting`` when no such node waits, or
    ///   ``WeftError/Code/invalidSignal`` when it does not declare `signal.action`.
    func signal(_ key: Key, _ signal: Signal) throws(WeftError) {
        let outcome: Result<CheckedContinuation<Signal, any Error>?, WeftError> = waiters.withLock { waiters in
            guard var waiter = waiters[key], !waiter.cancelled, waiter.early == nil else {
                return .failure(WeftError(
                    .notWaiting,
                    "Run \"\(key.runID)\" has no node \"\(key.nodeID)\" waiting for a signal: the run is unknown or over, "
                        + "the node is not a wait, or it has not been reached yet or was already signalled"))
            }
            guard waiter.actions.isEmpty || waiter.actions.contains(signal.action) else {
                return .failure(WeftError(
                    .invalidSignal,
                    "Node \"\(key.nodeID)\" of run \"\(key.runID)\" waits for \(waiter.actions.joined(separator: ", ")), "
                        + "not \"\(signal.action)\""))
            }
            let continuation = waiter.continuation
            waiter.continuation = nil
            if continuation == nil { waiter.early = signal }
            waiter.cancelled = continuation != nil  // taken: a second signal is refused
            waiters[key] = waiter
            return .success(continuation)
        }
        switch outcome {
        case .success(let continuation): continuation?.resume(returning: signal)
        case .failure(let error): throw error
        }
    }

    /// The nodes of `runID` waiting for a signal now.
    func waitingNodes(runID: String) -> [String] {
        waiters.withLock { waiters in
            waiters.keys.filter { $0.runID == runID && waiters[$0]?.cancelled == false && waiters[$0]?.early == nil }
                .map(\.nodeID).sorted()
        }
    }
}
