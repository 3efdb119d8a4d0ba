import Foundation

extension RunCoordinator {
    /// What the records say of `run`.
    func status(_ run: String) async throws -> DistributedRunStatus {
        guard let meta = try await meta(run) else {
            throw WeftError(.unknownRun, "No run \"\(run)\" is known to the store")
        }
        let terminal = try await terminal(run)
        var nodes: [DistributedRunStatus.Node] = []
        if let plan = catalog.plan(id: meta.blueprintID, version: meta.blueprintVersion)?.plan {
            for node in 0..<plan.nodeCount {
                var entry = DistributedRunStatus.Node(nodeID: plan.ids[node], state: .pending, attempts: 0)
                if let bytes = try await records.value(at: RunKeys.lastFailure(run, node, 0)) {
                    let failure = try NodeResultRecord(decoding: bytes)
                    entry.state = .retrying
                    entry.attempts = failure.attempt
                    entry.lastError = failure.failure?.message
                }
                if let record = try await result(run, node: node, iteration: 0) {
                    switch record.status {
                    case .completed: entry.state = .completed
                    case .skipped: entry.state = .skipped
                    case .failed: entry.state = .failed
                    }
                    entry.attempts = record.attempt
                    if let failure = record.failure { entry.lastError = failure.message }
                } else if let bytes = try await records.value(at: RunKeys.quarantine(run, node, 0)) {
                    entry.state = .quarantined
                    entry.quarantine = try QuarantineRecord(decoding: bytes).signature
                }
                nodes.append(entry)
            }
        }
        return DistributedRunStatus(
            runID: run, blueprintID: meta.blueprintID, blueprintVersion: meta.blueprintVersion,
            status: terminal?.status ?? .running, output: terminal?.output, failure: terminal?.failure, nodes: nodes)
    }

    /// The result of a finished run, built from its records; `nil` while it runs.
    func runResult(_ run: String) async throws -> RunResult? {
        guard let meta = try await meta(run) else {
            throw WeftError(.unknownRun, "No run \"\(run)\" is known to the store")
        }
        guard let terminal = try await terminal(run) else { return nil }
        // The node records are read now and decoded only if the caller looks at them.
        var table = NodeRecordTable(source: .records([]))
        if let plan = catalog.plan(id: meta.blueprintID, version: meta.blueprintVersion)?.plan {
            let keys = (0..<plan.nodeCount).map { RunKeys.result(run, $0, 0) }
            table = NodeRecordTable(source: .stored(plan: plan, records: try await records.values(at: keys)))
        }
        let seconds = max(0, terminal.finishedAt - meta.startedAt)
        return RunResult(
            runID: run, blueprintID: meta.blueprintID, blueprintVersion: meta.blueprintVersion, status: terminal.status,
            output: terminal.output, failure: terminal.failure, table: table, context: try await contexts.snapshot(run: run),
            duration: .nanoseconds(Int64(seconds * 1e9)))
    }
}
