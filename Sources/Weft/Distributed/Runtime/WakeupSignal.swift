import Synchronization

/// Wakes a loop that sleeps until a deadline early: ``wait(upTo:clock:)`` returns after the
/// duration or at the first ``signal(dueIn:)`` for something due sooner, whichever comes
/// first. A signal sent while nobody waits is kept for the next wait.
final class WakeupSignal: Sendable {
    private struct State {
        var pending = false
        var continuation: CheckedContinuation<Void, Never>?
        /// How long the current wait was planned to last.
        var planned: Duration = .zero
    }

    private let state = Mutex(State())

    /// Something became due in `delay`: wakes the loop if it planned to sleep longer.
    func signal(dueIn delay: Duration = .zero) {
        let continuation = state.withLock { state in
            if state.continuation != nil && delay >= state.planned { return nil as CheckedContinuation<Void, Never>? }
            guard let continuation = state.continuation else {
                state.pending = true
                return nil as CheckedContinuation<Void, Never>?
            }
            state.continuation = nil
            return continuation
        }
        continuation?.resume()
    }

    func wait(upTo duration: Duration, clock: any Clock<Duration>) async {
        let pending = state.withLock { state in
            defer { state.pending = false }
            state.planned = duration
            return state.pending
        }
        if pending { return }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await clock.sleep(for: duration) }
            group.addTask { await self.waitForSignal() }
            await group.next()
            group.cancelAll()
        }
    }

    private func waitForSignal() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state in
                    if state.pending || Task.isCancelled {
                        state.pending = false
                        return true
                    }
                    state.continuation = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let continuation = state.withLock { state in
                let continuation = state.continuation
                state.continuation = nil
                return continuation
            }
            continuation?.resume()
        }
    }
}
