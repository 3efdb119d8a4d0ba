import Foundation
import Logging

/// Starts distributed runs: the run's record and its entry in the progress index in one batch,
/// its context, its deadline timer, and the jobs of its start nodes (or, with a delay, their
/// durable timers), as the pure engine says.
struct RunStarter: Sendable {
    let ledger: RunLedger
    let finisher: RunFinisher
    let publisher: JobPublisher
    let options: FleetOptions
    let logger: Logger
    /// Called when this process schedules a timer, so that its timer loop can wake early.
    let timerScheduled: @Sendable (Duration) -> Void

    /// Records a new run and publishes its start nodes. Idempotent for one run id: starting a
    /// run that exists changes nothing.
    /// With a `delay`, the start nodes' jobs wait in durable timers (a delayed start); a child
    /// run names the message that resumes its `parent`. Returns whether the run was started
    /// (`false`: it existed).
    @discardableResult
    func start(
        plan: FleetPlan, input: JSONValue, runID: String, options runOptions: RunOptions, replyTo: String?,
        parent: ParentResume? = nil, delay: Duration? = nil, reportsEvents: Bool = false
    ) async throws -> Bool {
        let blueprint = plan.plan.blueprint
        let meta = RunMeta(
            blueprintID: blueprint.id, blueprintVersion: blueprint.version, input: input, replyTo: replyTo,
            deadline: runOptions.deadline, startedAt: Date().timeIntervalSince1970 + (delay?.seconds ?? 0), parent: parent,
            reportsEvents: reportsEvents && replyTo != nil)
        // The run's record and its entry in the progress index (which lets the reconciler find
        // it if this process dies before its first job is published) are written together: a
        // group-committing store makes them one commit. Noting progress for a run that exists
        // already changes nothing that matters.
        let encoded = meta.encoded()
        guard encoded.count <= options.maxMessageSize else {
            throw WeftError(
                .payloadTooLarge,
                "The run's input takes \(encoded.count) bytes, more than the fleet's limit of \(options.maxMessageSize) (maxMessageSize)")
        }
        var batch = StoreBatch()
        let record = batch.setIfAbsent(RunKeys.meta(runID), encoded)
        batch.recordProgress(run: runID, quietFor: delay ?? .zero)
        switch try await ledger.records.apply(batch)[record] {
        case .stored?:
            // This process's client reads the run's result: no need to read back what it wrote.
            ledger.remember(meta, of: runID)
        case .exists?, .fenced?, nil:
            logger.debug("run already exists; not started again", metadata: ["weft.run": "\(runID)"])
            return false
        }
        if !runOptions.context.isEmpty {
            _ = try await ledger.records.setIfAbsent(RunKeys.hasContext(runID), [1], fence: nil)
            var patch = ContextPatch()
            for (key, value) in runOptions.context.sorted(by: { $0.key < $1.key }) { patch.set(key, value) }
            try await ledger.contexts.apply(patch, run: runID, origin: "start")
        }
        if let deadline = runOptions.deadline {
            let after = deadline + (delay ?? .zero)
            try await ledger.records.scheduleTimer(RunKeys.deadlineTimer(runID), after: after, payload: TimerAction.deadline.encoded())
            timerScheduled(after)
        }
        // The start nodes and their inputs, as the pure engine says.
        var machine = RunStateMachine(plan: plan.plan, input: input, seedSource: runID)
        var actions: [RunStateMachine.Action] = []
        machine.start(context: StaticContextReader(runOptions.context), into: &actions)
        for action in actions {
            switch action {
            case .execute(let node, let attempt, let nodeInput):
                if let delay {
                    // A delayed start: the job waits in a durable timer, which survives restarts.
                    let job = JobPublisher.job(plan: plan, runID: runID, node: node, iteration: 0, attempt: attempt, input: nodeInput)
                    let action = TimerAction.publish(queue: plan.queues[node], envelope: job.encoded(), priority: plan.priorities[node])
                    _ = try await ledger.records.scheduleTimer(RunKeys.startTimer(runID, node), after: delay, payload: action.encoded())
                    timerScheduled(delay)
                } else {
                    try await publisher.publishJob(plan: plan, runID: runID, node: node, iteration: 0, attempt: attempt, input: nodeInput)
                }
            case .finish:
                if let outcome = machine.outcome { try await finisher.finish(runID, TerminalRecord(outcome)) }
            default:
                continue
            }
        }
        logger.debug("run started", metadata: ["weft.run": "\(runID)", "weft.blueprint": "\(blueprint.id)"])
        return true
    }
}
