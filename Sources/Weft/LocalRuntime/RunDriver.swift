import Foundation
import Logging
import Synchronization

/// Drives one run of the local runtime: performs the state machine's actions on Swift
/// concurrency and feeds back what happened.
///
/// The driver lives in one task, as a value on its stack. When a single node is ready and
/// nothing else runs, it runs that node inline (a chain spawns no task at all). Otherwise it
/// queues the ready nodes in a ``RunMailbox`` and keeps up to `maxConcurrentNodes` worker tasks
/// pulling from it; workers deliver completions back, and the driver handles all that arrived
/// at each wake-up. Timers (retry backoffs, the run deadline) are child tasks too, so cancelling
/// the run cancels everything.
struct RunDriver {
    private typealias Action = RunStateMachine.Action

    private let runtime: LocalRuntime
    private let plan: ExecutionPlan
    private let options: RunOptions
    private let runID: String
    private let storage: RunState
    private let shared: RunWorkerContext
    /// Created when the run first needs a worker or a timer: a chain never does.
    private lazy var mailbox = RunMailbox()
    private let workerLimit: Int
    private var machine: RunStateMachine
    private let traces: Bool
    private var actions: [Action] = []
    private var pending: [Action] = []
    private var completions: [Completion] = []
    private var outgoingJobs: [NodeJob] = []
    /// Whether the driver holds a limiter permit for the nodes it runs inline.
    private var holdsPermit = false
    /// Worker tasks alive, jobs queued or running, and timers (retry backoffs, the deadline)
    /// still to fire.
    private var workers = 0
    private var jobsOutstanding = 0
    private var timersOutstanding = 0
    /// Loops, sub-workflows, batches, waits and sleeps in progress, each in a task of its own.
    private var controlsOutstanding = 0
    private var outcome: RunOutcome?

    /// The last failure of each node that failed.
    private var failures: [Int: NodeFailure] = [:]
    /// The attempts of each node that logged them with wall-clock times: failed attempts, and
    /// every attempt of a run restored from a snapshot. A successful attempt of this driver's
    /// is kept in the node's state instead (``RunStateMachine/NodeState/started``), as an
    /// offset from `wallAnchor`, and made a record only when read.
    private var attemptLogs: [Int: [AttemptRecord]] = [:]
    /// The wall clock and the continuous clock read together once, to turn an attempt's start
    /// on the continuous clock into wall-clock time without reading the wall clock again.
    private let wallAnchor = WallClockAnchor()
    /// The waits and sleeps in progress, which a suspended run's snapshot keeps.
    private var pauses: [Int: RunSnapshot.Pause] = [:]
    /// What a resumed run restarts: its waits and sleeps.
    private var restoring: [RunSnapshot.Pause] = []
    /// Whether the runtime can find this run's mailbox to suspend it.
    private var registered = false
    private var suspended = false
    /// Lifecycle nodes' prepared state, kept between attempts.
    private var prepared: [Int: JSONValue] = [:]

    /// The driver of a suspended run, resumed from its snapshot.
    init(runtime: LocalRuntime, plan: ExecutionPlan, snapshot: RunSnapshot) throws {
        var options = RunOptions(runID: snapshot.runID)
        options.context = snapshot.context
        self.init(runtime: runtime, plan: plan, input: snapshot.input, options: options, runID: snapshot.runID)
        machine = try RunStateMachine(plan: plan, restoring: snapshot)
        for (index, node) in snapshot.nodes.enumerated() {
            if let failure = node.failure { failures[index] = failure }
            if let log = node.attemptLog { attemptLogs[index] = log }
        }
        restoring = snapshot.paused
    }

    init(runtime: LocalRuntime, plan: ExecutionPlan, input: JSONValue, options: RunOptions, runID: String) {
        self.runtime = runtime
        self.plan = plan
        self.options = options
        self.runID = runID
        let storage = RunState(
            runID: runID, dependencies: runtime.configuration.dependencies, logger: runtime.configuration.logger,
            context: options.context)
        self.storage = storage
        self.shared = RunWorkerContext(plan: plan, runtime: runtime, state: storage)
        self.workerLimit = max(1, runtime.configuration.maxConcurrentNodes)
        self.traces = runtime.bus.hasSubscribers
        self.machine = RunStateMachine(plan: plan, input: input, seedSource: runID, traces: traces)
        actions.reserveCapacity(8)
    }

    mutating func run() async -> RunResult {
        let clock = ContinuousClock()
        let started = clock.now
        emit(.runStarted(blueprintID: plan.blueprint.id, version: plan.blueprint.version))
        var startedInline = false
        if !restoring.isEmpty {
            startedInline = true
        } else if options.deadline == nil {
            // Most runs of small graphs finish inline, without the cost of a task group.
            machine.start(context: storage, into: &actions)
            startedInline = true
            await performInline()
        }
        if outcome == nil {
            await runWithWorkers(started: startedInline)
        }
        if registered {
            runtime.suspendable.withLock { _ = $0.removeValue(forKey: runID) }
            for request in mailbox.close() { request.answer(.failure(SuspendRequest.ended)) }
        }
        if !suspended, machine.nodes.contains(where: { $0.needsCleanup }) { await runPendingCleanups() }
        let ending = outcome ?? RunOutcome(status: .cancelled, output: nil, failure: nil)
        emit(.runFinished(status: ending.status))
        return RunResult(
            runID: runID, blueprintID: plan.blueprint.id, blueprintVersion: plan.blueprint.version,
            status: ending.status, output: ending.output, failure: ending.failure, table: records(),
            context: storage.snapshot(), duration: clock.now - started)
    }

    /// The general loop: workers, timers and the mailbox, inside a task group.
    private mutating func runWithWorkers(started: Bool) async {
        await withDiscardingTaskGroup { group in
            if let deadline = options.deadline {
                let runtimeClock = runtime.configuration.clock
                let mailbox = self.mailbox
                timersOutstanding += 1
                group.addTask {
                    do {
                        try await runtimeClock.sleep(for: deadline)
                        mailbox.deliver(.deadline(deadline))
                    } catch {}
                }
            }
            if !started { machine.start(context: storage, into: &actions) }
            for pause in restoring {
                // A resumed run: its waits and sleeps go on, with what is left of their time.
                guard let node = plan.indexByID[pause.nodeID], let control = plan.controls[node] else { continue }
                let remaining = pause.endsAt.map { Duration.nanoseconds(Int64(max(0, $0.timeIntervalSinceNow) * 1e9)) }
                startControl(control, node: node, attempt: pause.attempt, input: pause.input, remaining: remaining, group: &group)
            }
            restoring = []
            await perform(group: &group)
            while outcome == nil {
                await mailbox.collect(into: &completions)
                if Task.isCancelled { machine.cancel(into: &actions) }
                for completion in completions { handle(completion) }
                completions.removeAll(keepingCapacity: true)
                await perform(group: &group)
            }
            group.cancelAll()
        }
    }

    // MARK: Performing actions

    /// Performs actions for as long as they need no task: bookkeeping, events, and one ready
    /// node at a time, run inline. Stops, leaving the rest in `actions`, at the first batch that
    /// needs a worker or a timer.
    @inline(__always)
    private mutating func performInline() async {
        await performInlineSteps()
        releasePermit()
        if outcome != nil { actions.removeAll() }
    }

    @inline(__always)
    private mutating func performInlineSteps() async {
        // Walks `actions` with a cursor: what the inline attempts add is appended behind it, so
        // a chain of any length uses one array.
        var cursor = 0
        defer { actions.removeSubrange(0..<cursor) }
        while cursor < actions.count && outcome == nil {
            let batch = cursor..<actions.count
            var execute: (node: Int, attempt: Int, input: JSONValue)? = nil
            for index in batch {
                switch actions[index] {
                case .execute(let node, let attempt, let input):
                    if execute != nil || plan.shapes[node].hasTimeout || plan.shapes[node].isControl { return }
                    execute = (node, attempt, input)
                case .scheduleRetry, .runFallback:
                    return
                default:
                    continue
                }
            }
            for index in batch { record(actions[index]) }
            cursor = batch.upperBound
            if let execute { await runInline(node: execute.node, attempt: execute.attempt, input: execute.input) }
        }
    }

    private mutating func releasePermit() {
        guard holdsPermit else { return }
        holdsPermit = false
        runtime.limiter.release()
    }

    /// Handles the actions that need no task: the run's end, events, and cancelling what runs
    /// (nothing, when called inline).
    private mutating func record(_ action: Action) {
        switch action {
        case .execute, .scheduleRetry, .runFallback, .cancelInFlight:
            break
        case .finish:
            self.outcome = machine.outcome
        case .edgeTaken(let edge):
            let planned = plan.edges[edge]
            emit(.edgeTaken(source: plan.ids[planned.source], target: plan.ids[planned.target]))
        case .edgeSkipped(let edge):
            let planned = plan.edges[edge]
            emit(.edgeSkipped(source: plan.ids[planned.source], target: plan.ids[planned.target]))
        case .nodeSkipped(let node):
            emit(.nodeSkipped(nodeID: plan.ids[node]))
        }
    }

    /// Runs one attempt in the driver's own task and handles its end.
    @inline(__always)
    private mutating func runInline(node: Int, attempt: Int, input: JSONValue) async {
        emit(.nodeStarted(nodeID: plan.ids[node], attempt: attempt))
        if plan.shapes[node].hasLifecycle { machine.annotate(node) { $0.needsCleanup = true } }
        let context = shared.nodeContext(node: node, attempt: attempt, input: input, failure: nil)
        if !holdsPermit {
            // Held across consecutive inline attempts (one at a time, so the limit holds) and
            // returned when the driver stops running nodes itself.
            if !runtime.limiter.tryAcquire() { await runtime.limiter.acquire() }
            holdsPermit = true
        }
        var result = await NodeExecution.attempt(
            node: node, attempt: attempt, implementation: plan.implementations[node], timeout: plan.timeouts[node],
            context: context, prepared: prepared[node], middleware: runtime.configuration.middleware,
            clock: runtime.configuration.clock, on: plan.blocking[node] ? runtime.configuration.blockingExecutor : nil)
        result.fromJob = false
        if Task.isCancelled { machine.cancel(into: &actions) }
        handle(.attempt(result))
    }

    private mutating func perform(group: inout DiscardingTaskGroup) async {
        while !actions.isEmpty {
            swap(&actions, &pending)
            // Bookkeeping and events first, so that they are told in the order they happened;
            // then the attempts.
            var executes = 0
            for action in pending {
                switch action {
                case .execute:
                    executes += 1
                case .scheduleRetry(let node, let attempt, let delay, _):
                    emit(.nodeRetrying(nodeID: plan.ids[node], attempt: attempt, delay: delay))
                    let clock = runtime.configuration.clock
                    let mailbox = self.mailbox
                    timersOutstanding += 1
                    group.addTask {
                        if delay > .zero {
                            do { try await clock.sleep(for: delay) } catch { return }
                        }
                        mailbox.deliver(.retryDue(node: node, attempt: attempt))
                    }
                case .runFallback(let node, let input, let failure):
                    machine.annotate(node) { $0.needsCleanup = false }
                    submit(.fallback(node: node, attempt: machine.attempt(node), input: input, prepared: prepared[node], failure: failure))
                case .cancelInFlight:
                    group.cancelAll()
                case .finish, .edgeTaken, .edgeSkipped, .nodeSkipped:
                    record(action)
                }
            }
            if executes > 0 {
                // Inline only when nothing else may need the driver meanwhile.
                let runInline = executes == 1 && jobsOutstanding == 0 && timersOutstanding == 0 && controlsOutstanding == 0
                    && outcome == nil
                for case .execute(let node, let attempt, let input) in pending {
                    if plan.shapes[node].isControl, let control = plan.controls[node] {
                        startControl(control, node: node, attempt: attempt, input: input, group: &group)
                    } else if runInline && !plan.shapes[node].hasTimeout {
                        // The only work there is: run it here rather than in another task.
                        await self.runInline(node: node, attempt: attempt, input: input)
                    } else {
                        emit(.nodeStarted(nodeID: plan.ids[node], attempt: attempt))
                        if plan.shapes[node].hasLifecycle { machine.annotate(node) { $0.needsCleanup = true } }
                        if let state = prepared[node] {
                            submit(.preparedAttempt(node: node, attempt: attempt, input: input, prepared: state))
                        } else {
                            submit(.attempt(node: Int32(node), attempt: Int32(attempt), input: input))
                        }
                        if outgoingJobs.count == 512 {
                            // Hand a big fan-out over in slices, so that workers start at once.
                            flushJobs()
                            startWorkers(group: &group)
                        }
                    }
                }
            }
            pending.removeAll(keepingCapacity: true)
            releasePermit()
            flushJobs()
            startWorkers(group: &group)
        }
        // Always, even with no new action: a worker that found the queue empty may have ended
        // after jobs were queued (its exit is read only now), and those jobs need a worker.
        startWorkers(group: &group)
    }

    /// Performs a loop, sub-workflow, batch, wait or sleep in a task of its own, which reports
    /// back like an attempt.
    private mutating func startControl(
        _ control: ControlNode, node: Int, attempt: Int, input: JSONValue, remaining: Duration? = nil,
        group: inout DiscardingTaskGroup
    ) {
        emit(.nodeStarted(nodeID: plan.ids[node], attempt: attempt))
        controlsOutstanding += 1
        let performer = LocalControl(runtime: runtime, plan: plan, runID: runID, state: storage)
        let mailbox = self.mailbox
        var length: Duration? = remaining
        switch control {
        case .wait(let wait): length = remaining ?? wait.timeout
        case .sleep(let sleep): length = remaining ?? sleep.duration
        case .loop, .subworkflow, .batch: length = nil
        }
        switch control {
        case .wait, .sleep:
            pauses[node] = RunSnapshot.Pause(
                nodeID: plan.ids[node], attempt: attempt, input: input,
                endsAt: length.map { Date().addingTimeInterval($0.seconds) })
            if !registered {
                registered = true
                let (runID, mailbox) = (self.runID, self.mailbox)
                runtime.suspendable.withLock { $0[runID] = mailbox }
            }
        case .loop, .subworkflow, .batch:
            break
        }
        group.addTask {
            var outcome = await performer.attempt(control, node: node, attempt: attempt, input: input, remaining: remaining)
            outcome.fromJob = false
            mailbox.deliver(.attempt(outcome))
        }
    }

    /// Queues a job; ``flushJobs()`` hands the queued jobs to the workers at once.
    private mutating func submit(_ job: NodeJob) {
        jobsOutstanding += 1
        outgoingJobs.append(job)
    }

    private mutating func flushJobs() {
        guard !outgoingJobs.isEmpty else { return }
        mailbox.submit(contentsOf: &outgoingJobs)
    }

    /// Starts workers until every queued job has one or the limit is reached.
    private mutating func startWorkers(group: inout DiscardingTaskGroup) {
        guard outcome == nil else { return }
        let wanted = min(workerLimit, jobsOutstanding)
        while workers < wanted {
            workers += 1
            let mailbox = self.mailbox
            let shared = self.shared
            let limit = workerLimit
            group.addTask {
                // A worker holds one permit of the runtime's limiter while it runs a batch: it
                // runs one job at a time, so the limit on concurrent attempts holds.
                var batch: [NodeJob] = []
                var done: [Completion] = []
                while !Task.isCancelled {
                    mailbox.takeJobs(into: &batch, workers: limit)
                    if batch.isEmpty { break }
                    await shared.runtime.limiter.acquire()
                    for job in batch { done.append(await shared.run(job)) }
                    shared.runtime.limiter.release()
                    mailbox.deliver(contentsOf: &done)
                    batch.removeAll(keepingCapacity: true)
                }
                mailbox.deliver(.workerExited)
            }
        }
    }

    private mutating func handle(_ completion: Completion) {
        switch completion {
        case .workerExited:
            workers -= 1
        case .attempt(let outcome):
            if outcome.fromJob { jobsOutstanding -= 1 }
            if plan.shapes[outcome.node].isControl {
                controlsOutstanding -= 1
                pauses[outcome.node] = nil
            }
            let node = outcome.node
            machine.annotate(node) {
                $0.duration += outcome.duration
                if outcome.cleanedUp { $0.needsCleanup = false }
            }
            if outcome.prepared != nil { prepared[node] = outcome.prepared }
            guard machine.status == .running, machine.attempt(node) == outcome.attempt,
                machine.nodeStatus(node) == .running
            else { return }
            // The attempt ended about now (it is handled as it ends): it started its duration ago.
            // (Carried in the outcome instead, the start made every attempt slower to hand over.)
            let started = ContinuousClock.now - outcome.duration - wallAnchor.instant
            switch outcome.result {
            case .success(let output):
                // Only the offset here (no wall-clock arithmetic on the hot path).
                machine.annotate(node) { $0.started = started }
                storage.apply(outcome.patch)
                emit(.nodeFinished(nodeID: plan.ids[node], attempt: outcome.attempt, duration: machine.nodes[node].duration, usedFallback: false))
                machine.succeeded(node: node, attempt: outcome.attempt, output: output, context: storage, into: &actions)
            case .failure(let failure):
                failures[node] = failure
                let startedAt = wallAnchor.seconds + started.seconds
                attemptLogs[node, default: []].append(AttemptRecord(
                    attempt: outcome.attempt, startedAt: startedAt, endedAt: startedAt + outcome.duration.seconds, failure: failure))
                let willRetry = failure.isRetryable && outcome.attempt < plan.shapes[node].maxAttempts
                emit(.nodeFailed(nodeID: plan.ids[node], attempt: outcome.attempt, failure: failure, willRetry: willRetry))
                machine.failed(node: node, attempt: outcome.attempt, failure: failure, into: &actions)
            }
        case .fallback(let node, let result, let patch, let duration):
            jobsOutstanding -= 1
            machine.annotate(node) { $0.duration += duration }
            switch result {
            case .success(let output):
                storage.apply(patch)
                machine.annotate(node) { $0.usedFallback = true }
                emit(.nodeFinished(nodeID: plan.ids[node], attempt: machine.attempt(node), duration: machine.nodes[node].duration, usedFallback: true))
                machine.succeeded(node: node, attempt: machine.attempt(node), output: output, context: storage, into: &actions)
            case .failure(let failure):
                failures[node] = failure
                machine.fallbackFailed(node: node, failure: failure, into: &actions)
            }
        case .retryDue(let node, let attempt):
            timersOutstanding -= 1
            machine.retryDue(node: node, attempt: attempt, into: &actions)
        case .deadline(let deadline):
            timersOutstanding -= 1
            machine.deadlineExceeded(deadline, into: &actions)
        case .suspend(let request):
            request.answer(suspend())
        }
    }

    /// Ends the run here with its snapshot, if nothing of it runs but waits and sleeps.
    private mutating func suspend() -> Result<RunSnapshot, any Error> {
        guard outcome == nil, machine.status == .running else {
            return .failure(WeftError(.notWaiting, "Run \"\(runID)\" is ending; it cannot be suspended"))
        }
        let busy = jobsOutstanding + timersOutstanding + controlsOutstanding - pauses.count
        guard !pauses.isEmpty, busy == 0, options.deadline == nil else {
            return .failure(WeftError(
                .notWaiting,
                options.deadline != nil
                    ? "Run \"\(runID)\" has a deadline; a run with a deadline cannot be suspended"
                    : "Run \"\(runID)\" cannot be suspended now: \(busy) node attempt\(busy == 1 ? "" : "s") or timer\(busy == 1 ? "" : "s") "
                        + "other than waits and sleeps are in progress"))
        }
        let parts = machine.snapshotParts(failures: failures, attemptLogs: attemptLogs, anchor: wallAnchor.seconds)
        let snapshot = RunSnapshot(
            format: RunSnapshot.currentFormat, runID: runID, blueprint: plan.blueprint, input: machine.input,
            context: storage.snapshot(), nodes: parts.nodes, edges: parts.edges, edgeValues: parts.values,
            retainedInputs: parts.inputs, paused: pauses.values.sorted { $0.nodeID < $1.nodeID })
        suspended = true
        outcome = RunOutcome(status: .waiting, output: nil, failure: nil)
        return .success(snapshot)
    }

    // MARK: Running node code


    private mutating func runPendingCleanups() async {
        for node in machine.nodes.indices where machine.nodes[node].needsCleanup {
            let context = shared.nodeContext(node: node, attempt: machine.attempt(node), input: .null, failure: failures[node])
            await plan.implementations[node].cleanup(context)
            machine.annotate(node) { $0.needsCleanup = false }
        }
    }

    // MARK: Records and events

    /// The node records, built when first read.
    private func records() -> NodeRecordTable {
        NodeRecordTable(source: .run(
            plan: plan, states: machine.nodes, edges: machine.edges, actions: machine.actions, failures: failures,
            attemptLogs: attemptLogs, anchor: wallAnchor.seconds))
    }

    private func emit(_ kind: @autoclosure () -> RunEvent.Kind) {
        guard traces else { return }
        runtime.bus.emit(RunEvent(runID: runID, kind: kind()))
    }
}
