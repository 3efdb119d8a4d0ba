import Logging
import Synchronization

/// Drives one run of the local runtime: performs the state machine's actions on Swift
/// concurrency and feeds back what happened. Lives in one task, as a value on its stack; node
/// attempts run inline when they are the only work (no task is spawned for a chain) and in
/// child tasks otherwise.
struct RunDriver {
    private typealias Action = RunStateMachine.Action


    private let runtime: LocalRuntime
    private let plan: ExecutionPlan
    private let options: RunOptions
    private let runID: String
    private let storage: RunContextStorage
    private let environment: RunEnvironment
    private var machine: RunStateMachine
    private let traces: Bool
    private var actions: [Action] = []
    private var pending: [Action] = []
    private var inFlight = 0
    private var outcome: RunOutcome?

    /// What the driver records of a node beside the machine.
    private struct NodeTrack {
        var duration: Duration = .zero
        var failure: NodeFailure? = nil
        var usedFallback = false
        /// A lifecycle node's prepared state, kept between attempts.
        var prepared: JSONValue? = nil
        /// Whether its cleanup hook is still owed.
        var needsCleanup = false
    }

    private var tracks: [NodeTrack]

    init(runtime: LocalRuntime, plan: ExecutionPlan, input: JSONValue, options: RunOptions, runID: String) {
        self.runtime = runtime
        self.plan = plan
        self.options = options
        self.runID = runID
        self.storage = RunContextStorage(options.context)
        self.environment = RunEnvironment(
            runID: runID, dependencies: runtime.configuration.dependencies, logger: runtime.configuration.logger)
        self.traces = runtime.bus.hasSubscribers
        self.machine = RunStateMachine(plan: plan, input: input, seed: SplitMix64.hash(runID), traces: traces)
        self.tracks = Array(repeating: NodeTrack(), count: plan.nodes.count)
    }

    mutating func run() async -> RunResult {
        let clock = ContinuousClock()
        let started = clock.now
        emit(.runStarted(blueprintID: plan.blueprint.id, version: plan.blueprint.version))
        await withTaskGroup(of: Completion.self) { group in
            if let deadline = options.deadline {
                let runtimeClock = runtime.configuration.clock
                inFlight += 1
                group.addTask {
                    try? await runtimeClock.sleep(for: deadline)
                    return .deadline(deadline)
                }
            }
            machine.start(context: storage, into: &actions)
            await perform(group: &group)
            while self.outcome == nil, let completion = await group.next() {
                inFlight -= 1
                if Task.isCancelled { machine.cancel(into: &actions) }
                handle(completion)
                await perform(group: &group)
            }
            group.cancelAll()
        }
        await runPendingCleanups()
        let ending = self.outcome ?? RunOutcome(status: .cancelled, output: nil, failure: nil)
        emit(.runFinished(status: ending.status))
        return RunResult(
            runID: runID, blueprintID: plan.blueprint.id, blueprintVersion: plan.blueprint.version,
            status: ending.status, output: ending.output, failure: ending.failure, nodes: records(),
            context: storage.snapshot(), duration: clock.now - started)
    }

    // MARK: Performing actions

    private mutating func perform(group: inout TaskGroup<Completion>) async {
        while !actions.isEmpty {
            swap(&actions, &pending)
            let executes = pending.reduce(0) { if case .execute = $1 { $0 + 1 } else { $0 } }
            // Bookkeeping and events first, so that they are told in the order they happened;
            // then the attempts, one of which may run inline.
            for action in pending {
                switch action {
                case .execute:
                    continue
                case .scheduleRetry(let node, let attempt, let delay, _):
                    emit(.nodeRetrying(nodeID: plan.nodes[node].id, attempt: attempt, delay: delay))
                    let clock = runtime.configuration.clock
                    inFlight += 1
                    group.addTask {
                        if delay > .zero { try? await clock.sleep(for: delay) }
                        return .retryDue(node: node, attempt: attempt)
                    }
                case .runFallback(let node, let input, let failure):
                    let planned = plan.nodes[node]
                    let context = nodeContext(node: node, attempt: machine.attempt(node), input: input, failure: failure)
                    let state = tracks[node].prepared
                    let runtime = self.runtime
                    tracks[node].needsCleanup = false
                    inFlight += 1
                    group.addTask {
                        await NodeExecution.fallback(planned: planned, node: node, context: context, prepared: state, failure: failure, runtime: runtime)
                    }
                case .cancelInFlight:
                    group.cancelAll()
                case .finish(let outcome):
                    self.outcome = outcome
                case .edgeTaken(let edge):
                    let planned = plan.edges[edge]
                    emit(.edgeTaken(source: plan.nodes[planned.source].id, target: plan.nodes[planned.target].id))
                case .edgeSkipped(let edge):
                    let planned = plan.edges[edge]
                    emit(.edgeSkipped(source: plan.nodes[planned.source].id, target: plan.nodes[planned.target].id))
                case .nodeSkipped(let node):
                    emit(.nodeSkipped(nodeID: plan.nodes[node].id))
                }
            }
            for case .execute(let node, let attempt, let input) in pending {
                emit(.nodeStarted(nodeID: plan.nodes[node].id, attempt: attempt))
                if plan.nodes[node].implementation.hasLifecycle { tracks[node].needsCleanup = true }
                let context = nodeContext(node: node, attempt: attempt, input: input, failure: nil)
                if executes == 1 && inFlight == 0 && plan.nodes[node].config.timeout == nil && outcome == nil {
                    // The only work there is: run it here rather than in a new task.
                    let outcome = await NodeExecution.attempt(
                        node: node, attempt: attempt, planned: plan.nodes[node], context: context,
                        prepared: tracks[node].prepared, runtime: runtime)
                    if Task.isCancelled { machine.cancel(into: &actions) }
                    handle(.attempt(outcome))
                } else {
                    let planned = plan.nodes[node]
                    let state = tracks[node].prepared
                    let runtime = self.runtime
                    inFlight += 1
                    group.addTask {
                        .attempt(await NodeExecution.attempt(
                            node: node, attempt: attempt, planned: planned, context: context, prepared: state,
                            runtime: runtime))
                    }
                }
            }
            pending.removeAll(keepingCapacity: true)
        }
    }

    private mutating func handle(_ completion: Completion) {
        switch completion {
        case .attempt(let outcome):
            let node = outcome.node
            tracks[node].duration += outcome.duration
            if outcome.prepared != nil { tracks[node].prepared = outcome.prepared }
            if outcome.cleanedUp { tracks[node].needsCleanup = false }
            guard machine.status == .running, machine.attempt(node) == outcome.attempt,
                machine.nodeStatus(node) == .running
            else { return }
            switch outcome.result {
            case .success(let output):
                storage.apply(outcome.patch)
                emit(.nodeFinished(nodeID: plan.nodes[node].id, attempt: outcome.attempt, duration: tracks[node].duration, usedFallback: false))
                machine.succeeded(node: node, attempt: outcome.attempt, output: output, context: storage, into: &actions)
            case .failure(let failure):
                tracks[node].failure = failure
                let willRetry = failure.isRetryable && outcome.attempt < plan.nodes[node].config.maxAttempts
                emit(.nodeFailed(nodeID: plan.nodes[node].id, attempt: outcome.attempt, failure: failure, willRetry: willRetry))
                machine.failed(node: node, attempt: outcome.attempt, failure: failure, into: &actions)
            }
        case .fallback(let node, let result, let patch, let duration):
            tracks[node].duration += duration
            switch result {
            case .success(let output):
                storage.apply(patch)
                tracks[node].usedFallback = true
                emit(.nodeFinished(nodeID: plan.nodes[node].id, attempt: machine.attempt(node), duration: tracks[node].duration, usedFallback: true))
                machine.succeeded(node: node, attempt: machine.attempt(node), output: output, context: storage, into: &actions)
            case .failure(let failure):
                tracks[node].failure = failure
                machine.fallbackFailed(node: node, failure: failure, into: &actions)
            }
        case .retryDue(let node, let attempt):
            machine.retryDue(node: node, attempt: attempt, into: &actions)
        case .deadline(let deadline):
            machine.deadlineExceeded(deadline, into: &actions)
        }
    }

    // MARK: Running node code

    private func nodeContext(node: Int, attempt: Int, input: JSONValue, failure: NodeFailure?) -> NodeContext {
        let planned = plan.nodes[node]
        return NodeContext(
            environment: environment, nodeID: planned.id, attempt: attempt, fencingToken: UInt64(attempt), input: input,
            params: planned.params, context: RunContext(base: storage), failure: failure)
    }

    private mutating func runPendingCleanups() async {
        for node in tracks.indices where tracks[node].needsCleanup {
            let context = nodeContext(node: node, attempt: machine.attempt(node), input: .null, failure: tracks[node].failure)
            await plan.nodes[node].implementation.cleanup(context)
            tracks[node].needsCleanup = false
        }
    }

    // MARK: Records and events

    private func records() -> [NodeRecord] {
        plan.nodes.indices.map { node in
            let status: NodeRecord.Status
            switch machine.nodeStatus(node) {
            case .pending: status = .notRun
            case .running, .waitingForRetry, .fallingBack: status = .interrupted
            case .completed: status = .completed
            case .skipped: status = .skipped
            case .failed: status = .failed
            }
            return NodeRecord(
                nodeID: plan.nodes[node].id, status: status, attempts: machine.attempt(node), duration: tracks[node].duration,
                output: machine.output(node), failure: tracks[node].failure, usedFallback: tracks[node].usedFallback)
        }
    }

    private func emit(_ kind: @autoclosure () -> RunEvent.Kind) {
        guard traces else { return }
        runtime.bus.emit(RunEvent(runID: runID, kind: kind()))
    }
}

/// What a child task of a run reports back to its driver.
enum Completion: Sendable {
    case attempt(AttemptOutcome)
    case fallback(node: Int, result: Result<NodeOutput, NodeFailure>, patch: ContextPatch, duration: Duration)
    case retryDue(node: Int, attempt: Int)
    case deadline(Duration)
}

/// The end of one node attempt.
struct AttemptOutcome: Sendable {
    var node: Int
    var attempt: Int
    var result: Result<NodeOutput, NodeFailure>
    var patch: ContextPatch
    var prepared: JSONValue?
    var duration: Duration
    /// Whether the node's cleanup hook already ran (after a successful attempt).
    var cleanedUp: Bool
}

/// Runs node code for the local runtime: attempts and fallbacks, under the concurrency limit,
/// inside the middleware chain, with the attempt's timeout.
enum NodeExecution {
    static func attempt(
        node: Int, attempt: Int, planned: PlannedNode, context: NodeContext, prepared: JSONValue?, runtime: LocalRuntime
    ) async -> AttemptOutcome {
        let clock = ContinuousClock()
        await runtime.limiter.acquire()
        let started = clock.now
        var state = prepared
        let result: Result<NodeOutput, NodeFailure>
        do {
            try Task.checkCancellation()
            let implementation = planned.implementation
            let middleware = runtime.configuration.middleware
            if let timeout = planned.config.timeout {
                let box = PreparedBox(state)
                let output = try await withTimeout(timeout, clock: runtime.configuration.clock) {
                    try await middleware.run(context) { context in
                        var inner = box.value
                        defer { box.value = inner }
                        return try await implementation.runAttempt(context, prepared: &inner)
                    }
                }
                state = box.value
                result = .success(output)
            } else if middleware.isEmpty {
                result = .success(try await implementation.runAttempt(context, prepared: &state))
            } else {
                let box = PreparedBox(state)
                let output = try await middleware.run(context) { context in
                    var inner = box.value
                    defer { box.value = inner }
                    return try await implementation.runAttempt(context, prepared: &inner)
                }
                state = box.value
                result = .success(output)
            }
        } catch {
            result = .failure(NodeFailure(error))
        }
        // A successful attempt is the node's last: its cleanup hook runs now.
        let cleanedUp = planned.implementation.hasLifecycle && (try? result.get()) != nil
        if cleanedUp { await planned.implementation.cleanup(context) }
        let duration = clock.now - started
        runtime.limiter.release()
        return AttemptOutcome(
            node: node, attempt: attempt, result: result, patch: context.context.changes, prepared: state,
            duration: duration, cleanedUp: cleanedUp)
    }

    static func fallback(
        planned: PlannedNode, node: Int, context: NodeContext, prepared: JSONValue?, failure: NodeFailure,
        runtime: LocalRuntime
    ) async -> Completion {
        let clock = ContinuousClock()
        await runtime.limiter.acquire()
        let started = clock.now
        let middleware = runtime.configuration.middleware
        var result: Result<NodeOutput, NodeFailure> = .failure(failure)
        do {
            try Task.checkCancellation()
            let output = try await middleware.run(context) { context in
                if let output = try await planned.implementation.runFallback(context, prepared: prepared, failure: failure) {
                    return output
                }
                guard let fallback = planned.fallback else { throw failure }
                var fallbackState: JSONValue? = nil
                return try await fallback.runAttempt(context, prepared: &fallbackState)
            }
            result = .success(output)
        } catch let error as NodeFailure where error == failure {
            result = .failure(failure)
        } catch {
            result = .failure(NodeFailure(error))
        }
        await planned.implementation.cleanup(context)
        let duration = clock.now - started
        runtime.limiter.release()
        return .fallback(node: node, result: result, patch: context.context.changes, duration: duration)
    }

}

/// Carries a lifecycle node's prepared state out of a `@Sendable` closure.
private final class PreparedBox: Sendable {
    private let state: Mutex<JSONValue?>
    init(_ value: JSONValue?) { state = Mutex(value) }
    var value: JSONValue? {
        get { state.withLock { $0 } }
        set { state.withLock { $0 = newValue } }
    }
}
