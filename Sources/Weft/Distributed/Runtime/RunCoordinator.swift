import Foundation
import Logging
import Synchronization

/// Drives distributed runs through the backends, one step at a time, following design §4.
/// Shared by the client (start, cancel, inspection), the workers (jobs, timers) and the
/// reconciler. Holds no run state of its own: everything lives in the stores, so any process
/// can take any step of any run.
final class RunCoordinator: Sendable {
    /// What node attempts run with.
    struct Execution: Sendable {
        var middleware: [any NodeMiddleware] = []
        var dependencies = Dependencies()
        var clock: any Clock<Duration> = ContinuousClock()
        /// Where nodes declared blocking run.
        var blocking: BlockingExecutor = .shared
    }

    let backends: WeftBackends
    let catalog: BlueprintCatalog
    let options: FleetOptions
    let execution: Execution
    let logger: Logger
    let faults: (any FaultInjector)?
    /// Called when this process schedules a timer, so that its timer loop can wake early.
    let timerScheduled: @Sendable (Duration) -> Void
    /// Limits progress writes to a few per stall timeout per run.
    let progress: ProgressThrottle
    let transport: any QueueTransport
    /// The run's records in the stores, and the run records this process has read.
    let ledger: RunLedger
    let records: any CoordinationStore
    let contexts: any ContextStore
    /// Ends runs and tells whoever waits for them.
    let finisher: RunFinisher

    init(
        backends: WeftBackends, catalog: BlueprintCatalog, options: FleetOptions, execution: Execution, logger: Logger,
        faults: (any FaultInjector)? = nil, timerScheduled: @escaping @Sendable (Duration) -> Void = { _ in }
    ) {
        self.backends = backends
        self.transport = backends.transport
        let transport = backends.transport
        self.records = backends.coordinationStore
        self.contexts = backends.contextStore
        self.catalog = catalog
        self.options = options
        self.execution = execution
        self.logger = logger
        self.faults = faults
        self.timerScheduled = timerScheduled
        self.progress = ProgressThrottle(interval: options.stallTimeout / 4)
        let ledger = RunLedger(
            records: backends.coordinationStore, contexts: backends.contextStore,
            freshness: min(options.retention.map { $0 / 2 } ?? .seconds(600), .seconds(600)))
        self.ledger = ledger
        self.finisher = RunFinisher(ledger: ledger, transport: backends.transport, retention: options.retention, logger: logger)
    }

    // MARK: Starting

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
        switch try await records.apply(batch)[record] {
        case .stored?:
            // This process's client reads the run's result: no need to read back what it wrote.
            ledger.remember(meta, of: runID)
        case .exists?, .fenced?, nil:
            logger.debug("run already exists; not started again", metadata: ["weft.run": "\(runID)"])
            return false
        }
        if !runOptions.context.isEmpty {
            _ = try await records.setIfAbsent(RunKeys.hasContext(runID), [1], fence: nil)
            var patch = ContextPatch()
            for (key, value) in runOptions.context.sorted(by: { $0.key < $1.key }) { patch.set(key, value) }
            try await contexts.apply(patch, run: runID, origin: "start")
        }
        if let deadline = runOptions.deadline {
            let after = deadline + (delay ?? .zero)
            try await records.scheduleTimer(RunKeys.deadlineTimer(runID), after: after, payload: TimerAction.deadline.encoded())
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
                    let job = jobEnvelope(plan: plan, runID: runID, node: node, iteration: 0, attempt: attempt, input: nodeInput)
                    let action = TimerAction.publish(queue: plan.queues[node], envelope: job.encoded(), priority: plan.priorities[node])
                    _ = try await records.scheduleTimer(RunKeys.startTimer(runID, node), after: delay, payload: action.encoded())
                    timerScheduled(delay)
                } else {
                    try await publishJob(plan: plan, runID: runID, node: node, iteration: 0, attempt: attempt, input: nodeInput)
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

    func jobEnvelope(
        plan: FleetPlan, runID: String, node: Int, iteration: Int, attempt: Int, generation: Int64 = 0, input: JSONValue
    ) -> Envelope {
        let blueprint = plan.plan.blueprint
        return Envelope(
            kind: .job, runID: runID, blueprintID: blueprint.id, blueprintVersion: blueprint.version,
            nodeID: plan.plan.ids[node], iteration: iteration, attempt: attempt,
            fencingToken: RunKeys.token(attempt: attempt, generation: generation), payload: input)
    }

    func publishJob(
        plan: FleetPlan, runID: String, node: Int, iteration: Int, attempt: Int, generation: Int64 = 0, input: JSONValue
    ) async throws {
        try await publish(
            jobEnvelope(
                plan: plan, runID: runID, node: node, iteration: iteration, attempt: attempt, generation: generation, input: input),
            plan: plan, node: node)
    }

    /// Publishes `job`, a job of `node`, to the node's queue with its priority.
    func publish(_ job: Envelope, plan: FleetPlan, node: Int) async throws {
        try await transport.publish(QueueMessage(body: job.encoded(), priority: plan.priorities[node]), to: plan.queues[node])
    }

    // MARK: Faults

    func checkpoint(_ step: WorkerStep, _ envelope: Envelope) async throws {
        guard let faults else { return }
        try await faults.checkpoint(step, envelope: envelope)
    }
}
