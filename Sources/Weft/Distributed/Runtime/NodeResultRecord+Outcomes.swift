/// A node's result record as an attempt's outcome makes it: failed, or completed with its
/// routing decided, once, by the rules (design rule 2).
extension NodeResultRecord {
    static func failed(attempt: Int, failure: NodeFailure, duration: Duration) -> NodeResultRecord {
        var record = NodeResultRecord(status: .failed)
        record.attempt = attempt
        record.failure = failure
        record.duration = duration
        return record
    }

    /// A completed node's record, with its routing decided now (design rule 2), once.
    static func completed(
        ledger: RunLedger, plan fleetPlan: FleetPlan, run: String, node: Int, meta: RunMeta, snapshot: [String: JSONValue], attempt: Int,
        output: NodeOutput, patch: ContextPatch, duration: Duration, usedFallback: Bool
    ) async throws -> NodeResultRecord {
        let plan = fleetPlan.plan
        var record = NodeResultRecord(status: .completed)
        record.attempt = attempt
        record.usedFallback = usedFallback
        record.duration = duration
        record.output = output.value
        record.action = output.action
        record.patch = patch
        let outgoing = plan.adjacency.outgoing(node)
        if RunRules.routesPlainly(plan: plan, node: node) {
            record.taken = outgoing.map { NodeResultRecord.TakenEdge(edge: $0, value: nil) }
        } else {
            try await route(&record, ledger: ledger, plan: fleetPlan, run: run, node: node, meta: meta, snapshot: snapshot, output: output)
        }
        return record
    }

    /// Decides the routing of a node whose edges have actions, conditions or transforms.
    @inline(never)
    private static func route(
        _ record: inout NodeResultRecord, ledger: RunLedger, plan fleetPlan: FleetPlan, run: String, node: Int, meta: RunMeta,
        snapshot: [String: JSONValue], output: NodeOutput
    ) async throws {
        let plan = fleetPlan.plan
        var entries = snapshot
        record.patch.apply(to: &entries)
        let nodes =
            fleetPlan.routingReadsNodes[node]
            ? try await ledger.nodeStates(run, plan: plan) : Array(repeating: RunStateMachine.NodeState(), count: plan.nodeCount)
        let decision = RunRules.route(
            plan: plan, runInput: meta.input, nodes: nodes, node: node, output: output, context: StaticContextReader(entries))
        record.taken = decision.taken.map {
            NodeResultRecord.TakenEdge(
                edge: $0.edge, value: plan.ends[$0.edge].hasTransform ? Optional($0.value) : Optional<JSONValue>.none)
        }
    }
}
