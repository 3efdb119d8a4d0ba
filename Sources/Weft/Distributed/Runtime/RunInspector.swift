import Foundation

struct RunInspector: Sendable {
    let ledger: RunLedger
    let control: ControlNodes
    let catalog: BlueprintCatalog

    /// What the records say of `run`.
    func status(_ run: String) async throws -> DistributedRunStatus {
        guard let meta = try await ledger.meta(run) else {
            throw WeftError(.unknownRun, "No run \"\(run)\" is known to the store")
        }
        let terminal = try await ledger.terminal(run)
        var nodes: [DistributedRunStatus.Node] = []
        if let fleetPlan = catalog.plan(id: meta.blueprintID, version: meta.blueprintVersion) {
            let plan = fleetPlan.plan
            let results = try await ledger.results(run, plan: plan)
            var ready = Set<Int>()
            if terminal == nil {
                let context = StaticContextReader(try await ledger.contexts.snapshot(run: run))
                ready = Set(RecordReplay(plan: plan, input: meta.input, run: run, results: results, context: context).ready.map(\.node))
            }
            for node in 0..<plan.nodeCount {
                var entry = DistributedRunStatus.Node(
                    nodeID: plan.ids[node], state: .pending, attempts: 0, queue: fleetPlan.queues[node])
                if let bytes = try await ledger.records.value(at: RunKeys.lastFailure(run, node, 0)) {
                    let failure = try NodeResultRecord(decoding: bytes)
                    entry.state = .retrying
                    entry.attempts = failure.attempt
                    entry.lastError = failure.failure?.message
                    entry.retryAt = failure.retryAt
                }
                if let record = results[node] {
                    switch record.status {
                    case .completed: entry.state = .completed
                    case .skipped: entry.state = .skipped
                    case .failed: entry.state = .failed
                    }
                    entry.attempts = record.attempt
                    entry.retryAt = nil
                    if let failure = record.failure { entry.lastError = failure.message }
                } else if let bytes = try await ledger.records.value(at: RunKeys.quarantine(run, node, 0)), !bytes.isEmpty {
                    entry.state = .quarantined
                    entry.quarantine = try QuarantineRecord(decoding: bytes).signature
                } else if terminal == nil, let control = plan.controls[node], try await self.control.currentControl(run: run, node: node) != nil {
                    switch control {
                    case .wait, .sleep: entry.state = .waiting
                    case .loop, .subworkflow, .batch: entry.state = .runningChildren
                    }
                } else if entry.state == .pending {
                    entry.ready = ready.contains(node)
                }
                let incoming = Int(plan.shapes[node].incomingCount)
                if incoming > 1 {
                    let arrived = try await ledger.records.members(of: RunKeys.arrivals(run, node, 0)).count
                    entry.join = DistributedRunStatus.Join(arrived: arrived, expected: incoming, strategy: plan.shapes[node].join)
                }
                nodes.append(entry)
            }
        }
        return DistributedRunStatus(
            runID: run, blueprintID: meta.blueprintID, blueprintVersion: meta.blueprintVersion,
            status: terminal?.status ?? (nodes.contains { $0.state == .waiting } ? .waiting : .running), output: terminal?.output, failure: terminal?.failure, nodes: nodes)
    }

    /// The result of a finished run, built from its records; `nil` while it runs. Its status,
    /// its node records, the marker of context writes and (unless this process read it lately)
    /// the run's record are read together, in one read; the records are decoded only if the
    /// caller looks at them.
    func runResult(_ run: String) async throws -> RunResult? {
        let cached = ledger.freshMeta(run)
        // The blueprint, hence the node count, is known only from the run's record.
        var known = cached
        if known == nil { known = try await ledger.meta(run) }
        guard let meta = known else {
            throw WeftError(.unknownRun, "No run \"\(run)\" is known to the store")
        }
        let plan = catalog.plan(id: meta.blueprintID, version: meta.blueprintVersion)?.plan
        var keys = [RunKeys.status(run), RunKeys.hasContext(run)]
        if let plan { keys += (0..<plan.nodeCount).map { RunKeys.result(run, $0, 0) } }
        var values = try await ledger.records.values(at: keys)
        guard let status = values[0] else { return nil }
        let terminal = try TerminalRecord(decoding: status)
        var table = NodeRecordTable(source: .records([], []))
        let hasContext = plan == nil || values[1] != nil
        if let plan {
            values.removeFirst(2)
            table = NodeRecordTable(source: .stored(plan: plan, records: values))
        }
        let seconds = max(0, terminal.finishedAt - meta.startedAt)
        return RunResult(
            runID: run, blueprintID: meta.blueprintID, blueprintVersion: meta.blueprintVersion, status: terminal.status,
            output: terminal.output, failure: terminal.failure, table: table,
            context: hasContext ? try await ledger.contexts.snapshot(run: run) : [:],
            duration: .nanoseconds(Int64(seconds * 1e9)))
    }
}
