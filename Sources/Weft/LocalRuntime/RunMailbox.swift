import Synchronization

/// Work a run hands to its workers: small, so that queueing ten thousand is cheap.
enum NodeJob: Sendable {
    case attempt(node: Int32, attempt: Int32, input: JSONValue)
    indirect case preparedAttempt(node: Int, attempt: Int, input: JSONValue, prepared: JSONValue)
    indirect case fallback(node: Int, attempt: Int, input: JSONValue, prepared: JSONValue?, failure: NodeFailure)
}

/// What a run's workers need to run jobs: passed by value, allocating nothing.
struct RunWorkerContext: Sendable {
    let plan: ExecutionPlan
    let runtime: LocalRuntime
    let state: RunState

    func nodeContext(node: Int, attempt: Int, input: JSONValue, failure: NodeFailure?) -> NodeContext {
        NodeContext(
            environment: state, nodeID: plan.ids[node], attempt: attempt, fencingToken: UInt64(attempt), input: input,
            params: plan.params[node],
            context: RunContext(state: state, key: RunState.writeKey(node: node, attempt: attempt, fallback: failure != nil)),
            failure: failure)
    }

    /// Runs a job and says how it ended.
    func run(_ job: NodeJob) async -> Completion {
        switch job {
        case .attempt(let node, let attempt, let input):
            return await run(node: Int(node), attempt: Int(attempt), input: input, prepared: nil)
        case .preparedAttempt(let node, let attempt, let input, let prepared):
            return await run(node: node, attempt: attempt, input: input, prepared: prepared)
        case .fallback(let node, let attempt, let input, let prepared, let failure):
            return await NodeExecution.fallback(
                implementation: plan.implementations[node], fallback: plan.fallbacks[node], node: node,
                context: nodeContext(node: node, attempt: attempt, input: input, failure: failure), prepared: prepared,
                failure: failure, middleware: runtime.configuration.middleware)
        }
    }

    private func run(node: Int, attempt: Int, input: JSONValue, prepared: JSONValue?) async -> Completion {
        .attempt(await NodeExecution.attempt(
            node: node, attempt: attempt, implementation: plan.implementations[node], timeout: plan.timeouts[node],
            context: nodeContext(node: node, attempt: attempt, input: input, failure: nil), prepared: prepared,
            middleware: runtime.configuration.middleware, clock: runtime.configuration.clock,
            on: plan.blocking[node] ? runtime.configuration.blockingExecutor : nil))
    }
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
        /// The driver ended: suspend requests are refused at once.
        var closed = false
    }

    private let state = Mutex(State())

    /// Queues jobs for the workers, under one lock, leaving `jobs` empty (it takes the array
    /// itself when the queue is empty, rather than copying it).
    func submit(contentsOf jobs: inout [NodeJob]) {
        guard !jobs.isEmpty else { return }
        state.withLock { state in
            if state.jobHead == state.jobs.count {
                state.jobs.removeAll(keepingCapacity: true)
                state.jobHead = 0
                swap(&state.jobs, &jobs)
            } else {
                state.jobs.append(contentsOf: jobs)
                jobs.removeAll(keepingCapacity: true)
            }
        }
    }

    /// How many jobs wait for a worker.
    var pendingJobs: Int {
        state.withLock { $0.jobs.count - $0.jobHead }
    }

    /// Moves up to a fair share of the queued jobs into `batch`: one job when few wait (so a
    /// slow node never holds back others), up to 64 when thousands do (so a big fan-out pays
    /// one lock per 64 jobs).
    func takeJobs(into batch: inout [NodeJob], workers: Int) {
        state.withLock { state in
            let available = state.jobs.count - state.jobHead
            guard available > 0 else { return }
            let count = min(available, 64, max(1, available / (4 * max(workers, 1))))
            batch.append(contentsOf: state.jobs[state.jobHead..<(state.jobHead + count)])
            state.jobHead += count
            if state.jobHead == state.jobs.count {
                state.jobs.removeAll(keepingCapacity: true)
                state.jobHead = 0
            }
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

    /// Delivers several completions at once, leaving `completions` empty (it takes the array
    /// itself when nothing else waits to be read, rather than copying it).
    func deliver(contentsOf completions: inout [Completion]) {
        guard !completions.isEmpty else { return }
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if state.completions.isEmpty {
                swap(&state.completions, &completions)
            } else {
                state.completions.append(contentsOf: completions)
                completions.removeAll(keepingCapacity: true)
            }
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// Delivers a suspend request; `false` when the driver has ended.
    func request(_ request: SuspendRequest) -> Bool {
        let (accepted, waiter) = state.withLock { state -> (Bool, CheckedContinuation<Void, Never>?) in
            guard !state.closed else { return (false, nil) }
            state.completions.append(.suspend(request))
            defer { state.waiter = nil }
            return (true, state.waiter)
        }
        waiter?.resume()
        return accepted
    }

    /// Marks the driver ended and returns the suspend requests nobody answered.
    func close() -> [SuspendRequest] {
        state.withLock { state in
            state.closed = true
            return state.completions.compactMap { if case .suspend(let request) = $0 { request } else { nil } }
        }
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
