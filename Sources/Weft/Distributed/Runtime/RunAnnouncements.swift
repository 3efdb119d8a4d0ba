import Synchronization

/// Waiters for the end of runs, woken when a run's end is announced on the client's reply
/// queue, and all of them periodically (by ``DistributedRuntime``), so that they read the
/// store for runs whose end is announced elsewhere.
final class RunAnnouncements: Sendable {
    /// One waiter; a signal that arrives before the wait is kept.
    final class Waiter: Sendable {
        private struct State {
            var fired = false
            var continuation: CheckedContinuation<Void, Never>?
        }

        private let state = Mutex(State())

        func fire() {
            let continuation = state.withLock { state in
                state.fired = true
                let continuation = state.continuation
                state.continuation = nil
                return continuation
            }
            continuation?.resume()
        }

        /// Waits for the signal (or for the periodic wake-up of every waiter).
        func wait() async {
            await withTaskCancellationHandler {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let now = state.withLock { state in
                        if state.fired || Task.isCancelled { return true }
                        state.continuation = continuation
                        return false
                    }
                    if now { continuation.resume() }
                }
            } onCancel: {
                fire()
            }
        }
    }

    private let waiters = Mutex<[String: [Waiter]]>([:])

    func register(_ run: String) -> Waiter {
        let waiter = Waiter()
        waiters.withLock { $0[run, default: []].append(waiter) }
        return waiter
    }

    func unregister(_ run: String, _ waiter: Waiter) {
        waiters.withLock { waiters in
            waiters[run]?.removeAll { $0 === waiter }
            if waiters[run]?.isEmpty == true { waiters[run] = nil }
        }
    }

    /// How many waiters wait (for tests).
    var waitingCount: Int { waiters.withLock { $0.values.reduce(0) { $0 + $1.count } } }

    func announce(_ run: String) {
        for waiter in waiters.withLock({ $0.removeValue(forKey: run) ?? [] }) { waiter.fire() }
    }

    func announceAll() {
        for waiter in waiters.withLock({ state in defer { state.removeAll() }; return state.values.flatMap { $0 } }) {
            waiter.fire()
        }
    }
}
