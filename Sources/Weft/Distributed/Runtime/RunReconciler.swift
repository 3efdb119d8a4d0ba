import Logging

final class RunReconciler: Sendable {
    let ledger: RunLedger
    let finisher: RunFinisher
    let publisher: JobPublisher
    let starter: RunStarter
    let attempts: AttemptRunner
    let advancer: RunAdvancer
    let control: ControlNodes
    let catalog: BlueprintCatalog
    let options: FleetOptions
    let logger: Logger

    init(
        ledger: RunLedger, finisher: RunFinisher, publisher: JobPublisher, starter: RunStarter, attempts: AttemptRunner,
        advancer: RunAdvancer, control: ControlNodes, catalog: BlueprintCatalog, options: FleetOptions, logger: Logger
    ) {
        self.ledger = ledger
        self.finisher = finisher
        self.publisher = publisher
        self.starter = starter
        self.attempts = attempts
        self.advancer = advancer
        self.control = control
        self.catalog = catalog
        self.options = options
        self.logger = logger
    }

    /// Finds up to `limit` runs with no progress for ``FleetOptions/stallTimeout`` and repairs
    /// each: re-publishes exactly what its records say is ready. Returns how many jobs it
    /// published.
    func reconcile(limit: Int = 100) async throws -> Int {
        var published = 0
        for run in try await ledger.records.runsWithoutProgress(for: options.stallTimeout, limit: limit) {
            do {
                published += try await reconcile(run: run)
            } catch {
                logger.warning("could not reconcile a run", metadata: ["weft.run": "\(run)", "weft.error": "\(error)"])
            }
        }
        return published
    }

    /// Replays `run`'s records through the pure engine and re-publishes the nodes that are
    /// ready and have no result: never a node whose branch was skipped, never a completed
    /// node, never a quarantined job. Finishes the run if the records say it is over.
    func reconcile(run: String) async throws -> Int {
        if let terminal = try await ledger.terminal(run) {
            try await finisher.finish(run, terminal)  // announces and cleans up, if a worker died before
            return 0
        }
        guard let meta = try await ledger.meta(run) else {
            try await ledger.records.forgetProgress(run: run)
            return 0
        }
        guard let fleetPlan = catalog.plan(id: meta.blueprintID, version: meta.blueprintVersion) else {
            // Another worker may have the blueprint; look again after the next timeout.
            try await ledger.records.recordProgress(run: run, quietFor: .zero)
            return 0
        }
        let plan = fleetPlan.plan
        let results = try await ledger.results(run, plan: plan)
        // Context writes of recorded nodes whose worker died before applying them (idempotent).
        for (node, record) in results.enumerated() {
            guard let record, record.status == .completed, !record.patch.isEmpty else { continue }
            try await ledger.applyContext(record.patch, run: run, origin: "n\(node).0")
        }
        let context = StaticContextReader(try await ledger.contexts.snapshot(run: run))
        let replay = RecordReplay(plan: plan, input: meta.input, run: run, results: results, context: context)
        let machine = replay.machine
        if let (node, record) = replay.failed {
            try await advancer.advance(run: run, plan: fleetPlan, meta: meta, node: node, iteration: 0, record: record, envelope: nil)
            return 0
        }
        if replay.finished {
            try await recordSkips(run, machine: machine, results: results)
            if machine.outcome?.status == .completed { try await advancer.complete(run, plan: plan, scan: true) }
            return 0
        }
        let ready = replay.ready
        try await recordSkips(run, machine: machine, results: results)
        var published = 0
        for (node, input) in ready {
            if try await ledger.records.value(at: RunKeys.quarantine(run, node, 0))?.isEmpty == false {
                logger.warning(
                    "a stalled run waits on a quarantined job",
                    metadata: ["weft.run": "\(run)", "weft.node": "\(plan.ids[node])"])
                continue
            }
            if let control = plan.controls[node], let (attempt, record) = try await self.control.currentControl(run: run, node: node) {
                // Suspended, not lost: its children, signal or timer resume it. Only a child's
                // notice lost with its worker needs repeating.
                published += try await self.control.repeatLostNotices(
                    run: run, plan: fleetPlan, node: node, control: control, attempt: attempt, record: record)
                continue
            }
            let lastFailed = try await ledger.records.value(at: RunKeys.lastFailure(run, node, 0)).map {
                try NodeResultRecord(decoding: $0).attempt
            }
            let attempt = RunRules.attemptAfterStall(plan: plan, node: node, lastFailed: lastFailed)
            let generation = try await ledger.records.increment(RunKeys.generation(run, node, 0), by: 1)
            try await publisher.publishJob(
                plan: fleetPlan, runID: run, node: node, iteration: 0, attempt: attempt, generation: generation, input: input)
            published += 1
            logger.info(
                "re-published a job of a stalled run",
                metadata: ["weft.run": "\(run)", "weft.node": "\(plan.ids[node])", "weft.attempt": "\(attempt)"])
        }
        try await ledger.records.recordProgress(run: run, quietFor: .zero)
        return published
    }

    /// Records the nodes the replay found skipped (dead-path elimination) that have no record
    /// yet: the worker that resolved their edges died before it wrote them.
    private func recordSkips(_ run: String, machine: RunStateMachine, results: [NodeResultRecord?]) async throws {
        for node in 0..<machine.plan.nodeCount where machine.nodeStatus(node) == .skipped && results[node] == nil {
            _ = try await ledger.records.setIfAbsent(RunKeys.result(run, node, 0), NodeResultRecord.skipped.encoded(), fence: nil)
            _ = try await ledger.records.addToSet(RunKeys.done(run), member: RunKeys.doneMember(node))
        }
    }
}

/// A run's records replayed through the pure engine: what is ready (its job should be on a
/// queue), or the failure or end the records already hold. Reads nothing itself.
struct RecordReplay {
    /// The engine after the replay.
    var machine: RunStateMachine
    /// The nodes that are ready and have no result, with their inputs.
    var ready: [(node: Int, input: JSONValue)] = []
    /// A node whose recorded failure the run has not yet acted on.
    var failed: (node: Int, record: NodeResultRecord)?
    /// Whether the records say the run is over.
    var finished = false

    init(plan: ExecutionPlan, input: JSONValue, run: String, results: [NodeResultRecord?], context: StaticContextReader) {
        machine = RunStateMachine(plan: plan, input: input, seedSource: run)
        var actions: [RunStateMachine.Action] = []
        machine.start(context: context, into: &actions)
        var cursor = 0
        while cursor < actions.count {
            let action = actions[cursor]
            cursor += 1
            switch action {
            case .execute(let node, _, let input):
                guard let record = results[node] else {
                    ready.append((node, input))
                    continue
                }
                switch record.status {
                case .completed:
                    let output = record.output ?? .null
                    let decision = RouteDecision(taken: record.taken.map { .init(edge: $0.edge, value: $0.value ?? output) })
                    machine.apply(node: node, output: output, action: record.action, decision: decision, context: context, into: &actions)
                case .failed:
                    failed = (node, record)
                    return
                case .skipped:
                    continue
                }
            case .finish:
                finished = true
                return
            default:
                continue
            }
        }
    }
}
