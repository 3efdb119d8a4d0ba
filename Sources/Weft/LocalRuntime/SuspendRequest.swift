import Synchronization

/// A request to suspend a local run, answered once by its driver with the run's snapshot or
/// the reason it cannot be suspended now.
final class SuspendRequest: Sendable {
    private let continuation = Mutex<CheckedContinuation<RunSnapshot, any Error>?>(nil)

    /// Sends a request through `mailbox` and waits for the answer.
    static func send(to mailbox: RunMailbox) async throws -> RunSnapshot {
        let request = SuspendRequest()
        return try await withCheckedThrowingContinuation { continuation in
            request.continuation.withLock { $0 = continuation }
            if !mailbox.request(request) { request.answer(.failure(SuspendRequest.ended)) }
        }
    }

    static let ended = WeftError(.notWaiting, "The run has ended; there is nothing to suspend")

    func answer(_ result: Result<RunSnapshot, any Error>) {
        let continuation = self.continuation.withLock { current in
            defer { current = nil }
            return current
        }
        continuation?.resume(with: result)
    }
}
