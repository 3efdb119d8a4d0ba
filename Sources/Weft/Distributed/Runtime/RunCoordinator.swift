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
    /// Run records never change once written: cached, bounded.
    private let metas = Sharded<[String: CachedMeta]> { [:] }
    /// How long a cached run record may be used without reading the store again: less than
    /// the retention, so that a run deleted by retention is never taken for a live one.
    private let metaFreshness: Duration
    /// Per shard.
    private static let metaCacheLimit = 512

    let transport: any QueueTransport
    let records: any CoordinationStore
    let contexts: any ContextStore
    /// Tells clients that their runs ended, several runs a message under load.
    let replies: AnnouncementBatcher

    init(
        backends: WeftBackends, catalog: BlueprintCatalog, options: FleetOptions, execution: Execution, logger: Logger,
        faults: (any FaultInjector)? = nil, timerScheduled: @escaping @Sendable (Duration) -> Void = { _ in }
    ) {
        self.backends = backends
        self.transport = backends.transport
        let transport = backends.transport
        self.replies = AnnouncementBatcher { envelope, queue in
            // Not durable: if a broker restart loses it, the waiting client reads the store on
            // its next look (DistributedRuntime's periodic check).
            try await transport.publish(QueueMessage(body: envelope.encoded(), isDurable: false), to: queue)
        }
        self.records = backends.coordinationStore
        self.contexts = backends.contextStore
        self.catalog = catalog
        self.options = options
        self.execution = execution
        self.logger = logger
        self.faults = faults
        self.timerScheduled = timerScheduled
        self.progress = ProgressThrottle(interval: options.stallTimeout / 4)
        self.metaFreshness = min(options.retention.map { $0 / 2 } ?? .seconds(600), .seconds(600))
    }

    // MARK: Records

    /// The run's record, read from the store (so that a deleted run is known as such) and
    /// decoded once per process.
    func meta(_ run: String) async throws -> RunMeta? {
        guard let bytes = try await records.value(at: RunKeys.meta(run)) else { return nil }
        return try cachedMeta(run, bytes: bytes)
    }

    /// The run's record from this process's cache when fresh (see `metaFreshness`), else from
    /// the store: for steps that a deleted run cannot reach (the run's own end, its result).
    func recentMeta(_ run: String) async throws -> RunMeta? {
        if let fresh = freshMeta(run) { return fresh }
        return try await meta(run)
    }

    /// The run's record from its stored bytes, decoded once per process.
    func cachedMeta(_ run: String, bytes: [UInt8], now: ContinuousClock.Instant = .now) throws -> RunMeta {
        if let cached = metas.withLock(run, { $0[run] }), cached.at.duration(to: now) < metaFreshness { return cached.meta }
        let meta = try RunMeta(decoding: bytes)
        remember(meta, of: run, at: now)
        return meta
    }

    /// Keeps `meta` as the run's record, read or written at `now`.
    func remember(_ meta: RunMeta, of run: String, at now: ContinuousClock.Instant = .now) {
        metas.withLock(run) { cache in
            if cache.count >= Self.metaCacheLimit { cache.removeAll(keepingCapacity: true) }
            cache[run] = CachedMeta(meta: meta, at: now)
        }
    }

    /// Forgets every cached run record, giving their memory back.
    func forgetCachedRuns() {
        metas.forEach { $0 = [:] }
    }

    /// The run's record if this process read it recently enough to trust it without reading
    /// the store (see `metaFreshness`).
    func freshMeta(_ run: String, now: ContinuousClock.Instant = .now) -> RunMeta? {
        guard let cached = metas.withLock(run, { $0[run] }) else { return nil }
        return cached.at.duration(to: now) < metaFreshness ? cached.meta : nil
    }

    struct CachedMeta: Sendable {
        var meta: RunMeta
        var at: ContinuousClock.Instant
    }

    func terminal(_ run: String) async throws -> TerminalRecord? {
        guard let bytes = try await records.value(at: RunKeys.status(run)) else { return nil }
        return try TerminalRecord(decoding: bytes)
    }

    func result(_ run: String, node: Int, iteration: Int) async throws -> NodeResultRecord? {
        guard let bytes = try await records.value(at: RunKeys.result(run, node, iteration)) else { return nil }
        return try NodeResultRecord(decoding: bytes)
    }

    /// Every node's record, by index (`nil`: not recorded), read in one batch.
    func results(_ run: String, plan: ExecutionPlan, iteration: Int = 0) async throws -> [NodeResultRecord?] {
        let keys = (0..<plan.nodeCount).map { RunKeys.result(run, $0, iteration) }
        return try await records.values(at: keys).map { bytes in try bytes.map { try NodeResultRecord(decoding: $0) } }
    }

    /// Node states carrying the recorded outputs, for expressions that read `nodes.x`.
    func nodeStates(_ run: String, plan: ExecutionPlan) async throws -> [RunStateMachine.NodeState] {
        var states = Array(repeating: RunStateMachine.NodeState(), count: plan.nodeCount)
        for (node, record) in try await results(run, plan: plan).enumerated() where record?.status == .completed {
            states[node].output = record?.output
        }
        return states
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
            remember(meta, of: runID)
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
                if let outcome = machine.outcome { try await finish(runID, TerminalRecord(outcome)) }
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

    // MARK: Ending

    /// Sets the run's terminal status, unless it has one, and announces the end to the client
    /// that started the run. Safe to repeat: a redelivered job that ends a run again changes
    /// nothing and announces at most once more.
    @discardableResult
    func finish(_ runID: String, _ terminal: TerminalRecord) async throws -> TerminalRecord {
        var terminal = terminal
        terminal.finishedAt = Date().timeIntervalSince1970
        let meta = try await recentMeta(runID)
        var end = runEnd(runID, terminal: terminal, meta: meta)
        if terminal.status == .completed, let meta, meta.parent == nil {
            // The common end: no parent to resume first, no children to cancel. The status and
            // what the end leaves behind go in one batch (one commit where the store can), then
            // the client hears. A worker dying between the two leaves the client to read the
            // store on its next look, as a lost announcement does.
            end.marker = meta.replyTo == nil ? nil : RunKeys.announced(runID)
            var batch = StoreBatch()
            let swapped = end.addFinish(to: &batch)
            switch try await records.apply(batch)[swapped] {
            case .swapped?:
                try await finished(runID, terminal, meta: meta, announcing: end.marker != nil)
                return terminal
            case .mismatch(let current)?:
                let final = try current.map { try TerminalRecord(decoding: $0) } ?? terminal
                return try await ended(runID, final, meta: meta, first: false, end: end)
            case .fenced?, nil:
                return try await ended(runID, terminal, meta: meta, first: false, end: end)
            }
        }
        let final: TerminalRecord
        // Whether this call ended the run: then no announcement can have been made yet.
        var first = false
        switch try await records.compareAndSet(RunKeys.status(runID), expected: nil, new: end.terminal, fence: nil) {
        case .swapped:
            final = terminal
            first = true
            logger.debug(
                "run finished", metadata: ["weft.run": "\(runID)", "weft.status": "\(terminal.status.rawValue)"])
        case .mismatch(let current):
            final = try current.map { try TerminalRecord(decoding: $0) } ?? terminal
        case .fenced:
            final = terminal
        }
        return try await ended(runID, final, meta: meta, first: first, end: end)
    }

    /// The writes of the run's end with `terminal`: the deadline timer to retire (when the run
    /// may have one) and the expiry timer to schedule (when finished runs are kept for a while);
    /// no marker (the caller decides).
    func runEnd(_ runID: String, terminal: TerminalRecord, meta: RunMeta?) -> RunEnd {
        RunEnd(
            run: runID, terminal: terminal.encoded(), marker: nil,
            cancelling: meta?.deadline != nil || meta == nil ? RunKeys.deadlineTimer(runID) : nil,
            expiry: options.retention.map {
                RunEnd.Expiry(key: RunKeys.expiryTimer(runID), after: $0, payload: TimerAction.expire.encoded())
            })
    }

    /// The end to write with `node`'s record, in the same batch, when the record may complete
    /// the run in the common way: the node has no outgoing edge (its output is the run's when
    /// it is the only terminal node), no context writes, and the run no parent. The end is due
    /// when the node's additions leave every node done and it the only terminal node (the
    /// sizes `requiredSizes` names, by addition), as ``ArrivalBatch/completesAlone(_:nodeCount:)``
    /// decides.
    func lastNodeEnd(run: String, plan: FleetPlan, meta: RunMeta, node: Int, record: NodeResultRecord, batch: ArrivalBatch)
        -> (end: RunEnd, requiredSizes: [(addition: Int, size: Int)], terminal: TerminalRecord)?
    {
        guard record.status == .completed, record.patch.isEmpty, meta.parent == nil, plan.plan.adjacency.outgoing(node).isEmpty,
            batch.joins.isEmpty, let terminals = batch.terminalsIndex
        else { return nil }
        var terminal = TerminalRecord(RunRules.completed(plan: plan.plan, terminals: [(node, record.output ?? .null)]))
        terminal.finishedAt = Date().timeIntervalSince1970
        var end = runEnd(run, terminal: terminal, meta: meta)
        end.marker = meta.replyTo == nil ? nil : RunKeys.announced(run)
        return (end, [(batch.finishedIndex, plan.plan.nodeCount), (terminals, 1)], terminal)
    }

    /// After this worker ended a run in the common way (no parent, status and end records
    /// written together): the client hears, when `announcing`.
    func finished(_ runID: String, _ terminal: TerminalRecord, meta: RunMeta, announcing: Bool) async throws {
        logger.debug("run finished", metadata: ["weft.run": "\(runID)", "weft.status": "\(terminal.status.rawValue)"])
        try await reply(runID, meta: meta, when: announcing)
    }

    /// What follows a run's terminal status: a parent hears first (durably); then the
    /// bookkeeping writes, issued together so that a group-committing store makes them one
    /// commit, while the starting client hears (its announcement is not durable: a client that
    /// misses one reads the store on its next look). The run leaves the progress index only
    /// with them: a worker dying before the parent is told leaves the run to the reconciler.
    private func ended(_ runID: String, _ final: TerminalRecord, meta: RunMeta?, first: Bool, end: RunEnd) async throws
        -> TerminalRecord
    {
        let marker = try await announceToParent(runID, meta: meta, first: first)
        async let replied: Void = reply(runID, meta: meta, when: marker != nil)
        if final.status != .completed {
            // Sub-workflows, loop passes and batch items still running end with their parent.
            try await cancelChildren(of: runID)
        }
        var end = end
        end.marker = marker
        var batch = StoreBatch()
        end.addRecords(to: &batch)
        _ = try await records.apply(batch)
        try await replied
        return final
    }

    /// Decides whether the run's end is still to be announced, once (at least once if a worker
    /// dies here), and tells a parent run; returns the key that notes the announcement, for the
    /// caller to write, or `nil` when there is nothing to announce. `first` says that the
    /// caller ended the run just now, so that no announcement can have been noted yet.
    private func announceToParent(_ runID: String, meta: RunMeta?, first: Bool) async throws -> StoreKey? {
        guard let meta, meta.replyTo != nil || meta.parent != nil else { return nil }
        let announced = RunKeys.announced(runID)
        if !first {
            guard try await records.value(at: announced) == nil else { return nil }
        }
        if let parent = meta.parent {
            // A child run: resume the parent's node (durably: nothing else would).
            try await transport.publish(QueueMessage(body: parent.envelope, priority: parent.priority), to: parent.queue)
        }
        return announced
    }

    /// Tells the client that started the run that it ended, when `announcing`.
    private func reply(_ runID: String, meta: RunMeta?, when announcing: Bool) async throws {
        guard announcing, let meta, let replyTo = meta.replyTo else { return }
        do {
            try await replies.announce(
                AnnouncementBatcher.Ended(run: runID, blueprintID: meta.blueprintID, blueprintVersion: meta.blueprintVersion),
                to: replyTo)
        } catch let error as WeftError where error.code == .unknownQueue {
            // The client is gone; its result stays readable in the store.
            logger.debug("the client that started the run is gone", metadata: ["weft.run": "\(runID)"])
        }
    }

    /// Cancels a run: nothing new starts; attempts still running end without effect.
    func cancel(_ runID: String) async throws -> TerminalRecord {
        guard try await meta(runID) != nil else {
            throw WeftError(.unknownRun, "No run \"\(runID)\" is known to the store")
        }
        return try await finish(runID, TerminalRecord(RunRules.cancelled))
    }

    /// Applies context writes recorded for a node, noting first that the run has context.
    func applyContext(_ patch: ContextPatch, run: String, origin: String) async throws {
        _ = try await records.setIfAbsent(RunKeys.hasContext(run), [1], fence: nil)
        try await contexts.apply(patch, run: run, origin: origin)
    }

    // MARK: Faults

    func checkpoint(_ step: WorkerStep, _ envelope: Envelope) async throws {
        guard let faults else { return }
        try await faults.checkpoint(step, envelope: envelope)
    }
}
