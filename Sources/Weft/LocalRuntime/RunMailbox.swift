import Synchronization

/// Work a run hands to its workers.
enum NodeJob: Sendable {
    case attempt(node: Int, attempt: Int, planned: PlannedNode, context: NodeContext, prepared: JSONValue?)
    case fallback(node: Int, planned: PlannedNode, context: NodeContext, prepared: JSONValue?, failure: NodeFailure)
}

/// The two queues between a run's driver and its worker tasks: jobs going out, completions
/// coming back. The driver sleeps only when there is nothing to read, and reads everything
/// that arrived at once, so a busy run pays one wake-up for many completions.
final class RunMailbox: Sendable {
    private struct State {
        var jobs: [NodeJob] = []
        var jobHead = 0
        var completions: [Completion] = []
        var waiter: CheckedContinuation<Void, Never>? = nil
        var interrupted = false
    }

    private let state = Mutex(State())

    /// Queues jobs for the workers.
    func submit(_ job: NodeJob) {
        state.withLock { $0.jobs.append(job) }
    }

    /// How many jobs wait for a worker.
    var pendingJobs: Int {
        state.withLock { $0.jobs.count - $0.jobHead }
    }

    /// The next job, or `nil` when there is none.
    func takeJob() -> NodeJob? {
        state.withLock { state in
            guard state.jobHead < state.jobs.count else { return nil }
            let job = state.jobs[state.jobHead]
            state.jobHead += 1
            if state.jobHead == state.jobs.count {
                state.jobs.removeAll(keepingCapacity: true)
                state.jobHead = 0
            }
            return job
        }
    }

    /// Delivers a completion to the driver, waking it if it sleeps.
    func deliver(_ completion: Completion) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.completions.append(completion)
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// Wakes the driver without a completion (its task was cancelled).
    func interrupt() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.interrupted = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// Everything delivered so far, waiting for at least one delivery (or an interruption).
    func collect(into buffer: inout [Completion]) async {
        if drain(into: &buffer) { return }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let ready = state.withLock { state -> Bool in
                    if !state.completions.isEmpty || state.interrupted { return true }
                    state.waiter = continuation
                    return false
                }
                if ready { continuation.resume() }
            }
        } onCancel: {
            interrupt()
        }
        _ = drain(into: &buffer)
    }

    private func drain(into buffer: inout [Completion]) -> Bool {
        state.withLock { state in
            let interrupted = state.interrupted
            state.interrupted = false
            guard !state.completions.isEmpty else { return interrupted }
            swap(&buffer, &state.completions)
            return true
        }
    }
}
