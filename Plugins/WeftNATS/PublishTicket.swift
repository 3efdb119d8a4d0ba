import Synchronization

/// A publish waiting for the server's confirmation.
final class PublishTicket: Sendable {
    private let state = Mutex<(result: Result<Void, NATSError>?, waiter: CheckedContinuation<Void, any Error>?)>((nil, nil))

    func complete(_ result: Result<Void, NATSError>) {
        let waiter = state.withLock { state in
            state.result = result
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(with: result.mapError { $0 as any Error })
    }

    /// Returns once the server confirmed the publish; throws when it did not.
    func wait() async throws(NATSError) {
        do {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let result = state.withLock { state -> Result<Void, NATSError>? in
                    if let result = state.result { return result }
                    state.waiter = continuation
                    return nil
                }
                if let result { continuation.resume(with: result.mapError { $0 as any Error }) }
            }
        } catch let error as NATSError {
            throw error
        } catch {
            throw NATSError("NATS: \(error)")
        }
    }
}
