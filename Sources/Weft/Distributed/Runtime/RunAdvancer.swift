import Logging

/// After a node's result is recorded: its edges, the joins they reach, dead-path elimination,
/// the successors that become ready, and completion (design §2 rules 2–5 and 10, §4).
final class RunAdvancer: Sendable {
    let ledger: RunLedger
    let finisher: RunFinisher
    let publisher: JobPublisher
    let logger: Logger
    let faults: (any FaultInjector)?
    /// Limits progress writes to a few per stall timeout per run.
    let progress: ProgressThrottle

    init(ledger: RunLedger, finisher: RunFinisher, publisher: JobPublisher, logger: Logger, faults: (any FaultInjector)?, progress: ProgressThrottle) {
        self.ledger = ledger
        self.finisher = finisher
        self.publisher = publisher
        self.logger = logger
        self.faults = faults
        self.progress = progress
    }

    enum Arrival {
        case taken(JSONValue)
        case skipped
    }

    /// Everything after a node's result is recorded: its context writes, its edges, the joins
    /// they reach, dead-path elimination, the successors that became ready, and completion.
    /// Idempotent: a redelivery repeats it from the same record with the same effects.
    /// The set additions a completed node's result makes (it is finished, terminal when it took
    /// no edge, and its edges arrive at the joins they reach), and the edges to resolve.
    ///
    /// A terminal node is added to the terminal set twice, before and after its addition to
    /// the finished set: every node joins the terminal set (when it is terminal) before the
    /// finished set, so when this node's finished addition brings the set to every node, the
    /// second terminal addition sees every terminal node, whether or not the store applies the
    /// additions atomically.
    struct ArrivalBatch {
        var additions: [SetAddition] = []
        /// The node's outgoing edges, last first, each with its arrival and, for an arrival at a
        /// join, the position in `additions` of the addition that records it.
        var pending: [(edge: Int, arrival: Arrival, addition: Int?)] = []
        /// How many of the additions record arrivals at joins (the last ones).
        var joinCount = 0
        /// The position in `additions` of the node's addition to the finished set.
        var finishedIndex = 0
        /// The position in `additions` of the terminal node's second addition to the terminal
        /// set; `nil` when the node took an edge.
        var terminalsIndex: Int?

        /// Whether the sizes the additions returned say that the run is complete and this node
        /// is its only terminal one, so that its output is the run's result (rule 10) with
        /// nothing to read.
        func completesAlone(_ sizes: [Int], nodeCount: Int) -> Bool {
            guard let terminalsIndex else { return false }
            return RunRules.isComplete(finished: sizes[finishedIndex], nodeCount: nodeCount) && sizes[terminalsIndex] == 1
        }
    }

    func arrivalBatch(
        run: String, plan fleetPlan: FleetPlan, node: Int, iteration: Int, record: NodeResultRecord
    ) -> ArrivalBatch {
        let plan = fleetPlan.plan
        var batch = ArrivalBatch()
        let outgoing = plan.adjacency.outgoing(node)
        batch.pending.reserveCapacity(outgoing.count)
        batch.additions.reserveCapacity(2 + outgoing.count)
        // Completion reads terminal nodes' outputs without scanning every record.
        let terminal = RunRules.isTerminal(takenOutgoing: record.taken.count)
        if terminal { batch.additions.append(SetAddition(key: RunKeys.terminals(run), member: RunKeys.doneMember(node))) }
        batch.finishedIndex = batch.additions.count
        batch.additions.append(SetAddition(key: RunKeys.done(run), member: RunKeys.doneMember(node)))
        if terminal {
            batch.terminalsIndex = batch.additions.count
            batch.additions.append(SetAddition(key: RunKeys.terminals(run), member: RunKeys.doneMember(node)))
        }
        var takenIndex = record.taken.count - 1
        for edge in outgoing.reversed() {
            let arrival: Arrival
            if takenIndex >= 0 && record.taken[takenIndex].edge == edge {
                arrival = .taken(record.taken[takenIndex].value ?? record.output ?? .null)
                takenIndex -= 1
            } else {
                arrival = .skipped
            }
            let target = Int(plan.ends[edge].target)
            if plan.shapes[target].incomingCount > 1 {
                let isTaken: Bool
                if case .taken = arrival { isTaken = true } else { isTaken = false }
                batch.pending.append((edge, arrival, batch.additions.count))
                batch.additions.append(SetAddition(
                    key: RunKeys.arrivals(run, target, iteration), member: RunKeys.arrivalMember(edge, taken: isTaken)))
                batch.joinCount += 1
            } else {
                batch.pending.append((edge, arrival, nil))
            }
        }
        return batch
    }

    /// Everything after a node's result is recorded: its context writes, its edges, the joins
    /// they reach, dead-path elimination, the successors that became ready, and completion.
    /// Idempotent: a redelivery repeats it from the same record with the same effects. `added`
    /// carries the set additions already made together with the record. When the node has
    /// exactly one ready successor and its queue is in `keep`, the successor's job is returned
    /// instead of published, for the caller to run (see ``InlineSuccessors``).
    @discardableResult
    func advance(
        run: String, plan fleetPlan: FleetPlan, meta: RunMeta, node: Int, iteration: Int, record: NodeResultRecord,
        envelope: Envelope?, now: ContinuousClock.Instant = .now, added: (batch: ArrivalBatch, sizes: [Int])? = nil,
        keep: Set<String>? = nil, report: RunEventReport? = nil
    ) async throws -> Envelope? {
        let plan = fleetPlan.plan
        if record.status == .failed {
            await publisher.send(report)
            try await finisher.finish(run, TerminalRecord(RunRules.nodeFailed(
                plan: plan, node: node, attempt: record.attempt,
                failure: record.failure ?? NodeFailure(message: "failed", errorType: "WeftError"))))
            return nil
        }
        if !record.patch.isEmpty {
            try await ledger.applyContext(record.patch, run: run, origin: "n\(node).\(iteration)")
        }
        let doneKey = RunKeys.done(run)
        var ready: [(node: Int, input: JSONValue)] = []
        var batch: ArrivalBatch
        let sizes: [Int]
        if let added {
            (batch, sizes) = added
        } else {
            batch = arrivalBatch(run: run, plan: fleetPlan, node: node, iteration: iteration, record: record)
            sizes = try await ledger.records.addToSets(batch.additions)
        }
        var finished = sizes[batch.finishedIndex]
        // Taken from the batch, not copied: popped below, a shared array would be copied first.
        var pending: [(edge: Int, arrival: Arrival, addition: Int?)] = []
        swap(&pending, &batch.pending)
        ready.reserveCapacity(pending.count)
        while let (edge, arrival, addition) = pending.popLast() {
            let arrivals = addition.map { sizes[$0] }
            let target = Int(plan.ends[edge].target)
            if let report {
                let (source, destination) = (plan.ids[Int(plan.ends[edge].source)], plan.ids[target])
                if case .taken = arrival {
                    report.note(.edgeTaken(source: source, target: destination))
                } else {
                    report.note(.edgeSkipped(source: source, target: destination))
                }
            }
            if case .taken(let value) = arrival, plan.shapes[target].incomingCount == 1, !plan.shapes[target].hasInputs {
                // The common case (a chain, a fan-out): the target's one edge was taken, so it
                // fires (rule 4) with the edge's value (rule 5), with nothing to look up.
                ready.append((target, RunRules.input(
                    plan: plan, node: target, runInput: meta.input, inputs: nil, takenCount: 1) { $0 == edge ? value : Optional.none }))
                continue
            }
            switch try await arrive(
                run: run, plan: fleetPlan, meta: meta, edge: edge, target: target, iteration: iteration, arrival: arrival,
                arrivals: arrivals)
            {
            case .wait:
                continue
            case .ready(let input):
                ready.append((target, input))
            case .skip:
                // Dead-path elimination (design rule 3).
                report?.note(.nodeSkipped(nodeID: plan.ids[target]))
                _ = try await ledger.records.setIfAbsent(
                    RunKeys.result(run, target, iteration), NodeResultRecord.skipped.encoded(), fence: nil)
                finished = max(finished, try await ledger.records.addToSet(doneKey, member: RunKeys.doneMember(target)))
                for next in plan.adjacency.outgoing(target).reversed() { pending.append((next, .skipped, nil)) }
            }
        }
        if let faults, let envelope { try await faults.checkpoint(.arrived, envelope: envelope) }
        // The client hears of this node's end before anything that follows from it.
        await publisher.send(report)
        var kept: Envelope?
        if ready.count == 1, let keep, keep.contains(fleetPlan.queues[ready[0].node]) {
            kept = JobPublisher.job(plan: fleetPlan, runID: run, node: ready[0].node, iteration: iteration, attempt: 1, input: ready[0].input)
        } else if ready.count == 1 {
            try await publisher.publishJob(plan: fleetPlan, runID: run, node: ready[0].node, iteration: iteration, attempt: 1, input: ready[0].input)
        } else if !ready.isEmpty {
            // A fan-out: one batch per queue (usually a single one).
            var batches: [(queue: String, messages: [QueueMessage])] = []
            for (target, input) in ready {
                let envelope = JobPublisher.job(plan: fleetPlan, runID: run, node: target, iteration: iteration, attempt: 1, input: input)
                let message = QueueMessage(body: envelope.encoded(), priority: fleetPlan.priorities[target])
                let queue = fleetPlan.queues[target]
                if let index = batches.firstIndex(where: { $0.queue == queue }) {
                    batches[index].messages.append(message)
                } else {
                    batches.append((queue, [message]))
                    batches[batches.count - 1].messages.reserveCapacity(ready.count)
                }
            }
            for (queue, messages) in batches { try await publisher.transport.publish(messages, to: queue) }
        }
        if let faults, let envelope { try await faults.checkpoint(.published, envelope: envelope) }
        if RunRules.isComplete(finished: finished, nodeCount: plan.nodeCount) {
            if batch.completesAlone(sizes, nodeCount: plan.nodeCount) {
                // This node's additions completed the run and found it the only terminal node:
                // its output is the run's, with nothing to read.
                try await finisher.finish(run, TerminalRecord(RunRules.completed(plan: plan, terminals: [(node, record.output ?? .null)])))
            } else {
                try await complete(run, plan: plan)
            }
        } else if progress.shouldRecord(run, now: now, startedAt: meta.startedAt) {
            try await ledger.records.recordProgress(run: run, quietFor: .zero)
        }
        return kept
    }

    private enum Readiness {
        case wait
        case ready(JSONValue)
        case skip
    }

    /// Records that `edge` resolved and asks the rules what that means for its target (rules
    /// 3 and 4). `arrivals` is the size of the target's arrival set after this edge's addition,
    /// when the caller added it already.
    private func arrive(
        run: String, plan fleetPlan: FleetPlan, meta: RunMeta, edge: Int, target: Int, iteration: Int, arrival: Arrival,
        arrivals known: Int? = nil
    ) async throws -> Readiness {
        let plan = fleetPlan.plan
        let shape = plan.shapes[target]
        let incoming = Int(shape.incomingCount)
        var takenValue: JSONValue?
        if case .taken(let value) = arrival { takenValue = value }
        if incoming == 1 {
            let arrivals = RunRules.Arrivals(incoming: 1, resolved: 1, taken: takenValue == nil ? 0 : 1)
            switch RunRules.join(shape.join, arrivals: arrivals, arriving: takenValue == nil ? .skipped : .taken(first: true)) {
            case .wait: return .wait
            case .skip: return .skip
            case .fire:
                return .ready(try await input(
                    run: run, plan: fleetPlan, meta: meta, node: target, iteration: iteration, taken: [(edge, takenValue ?? .null)]))
            }
        }
        let arrivalsKey = RunKeys.arrivals(run, target, iteration)
        let resolved: Int
        if let known {
            resolved = known
        } else {
            resolved = try await ledger.records.addToSet(arrivalsKey, member: RunKeys.arrivalMember(edge, taken: takenValue != nil))
        }
        let arriving: RunRules.Arriving
        if shape.join == .any, takenValue != nil {
            // Which taken edge came first is decided once, by an atomic marker; a redelivery of
            // the arrival that fired the join fires it again (its job is published again).
            let marker = Array(String(edge).utf8)
            switch try await ledger.records.setIfAbsent(RunKeys.anyFired(run, target, iteration), marker, fence: nil) {
            case .stored: arriving = .taken(first: true)
            case .exists(let winner): arriving = .taken(first: winner == marker)
            case .fenced: arriving = .taken(first: false)
            }
        } else {
            arriving = takenValue == nil ? .skipped : .taken(first: false)
        }
        // Which edges were taken matters only once every edge is resolved (or to an `any` join's
        // first taken edge, which carries its own value).
        var takenEdges: [Int] = []
        if resolved >= incoming, arriving != .taken(first: true) {
            for member in try await ledger.records.members(of: arrivalsKey) where member.hasSuffix("t") {
                if let other = Int(member.dropLast()) { takenEdges.append(other) }
            }
        } else if takenValue != nil {
            takenEdges = [edge]
        }
        let arrivals = RunRules.Arrivals(incoming: incoming, resolved: resolved, taken: takenEdges.count)
        switch RunRules.join(shape.join, arrivals: arrivals, arriving: arriving) {
        case .wait: return .wait
        case .skip: return .skip
        case .fire: break
        }
        if shape.join == .any, let takenValue {
            return .ready(try await input(
                run: run, plan: fleetPlan, meta: meta, node: target, iteration: iteration, taken: [(edge, takenValue)]))
        }
        var taken: [(Int, JSONValue)] = []
        var others: [Int] = []
        for other in takenEdges {
            if other == edge, let takenValue { taken.append((other, takenValue)) } else { others.append(other) }
        }
        if !others.isEmpty {
            // The values the other taken edges carry, from their sources' records, in one read.
            let sources = try await ledger.records.values(
                at: others.map { RunKeys.result(run, Int(plan.ends[$0].source), iteration) })
            for (other, bytes) in zip(others, sources) {
                guard let bytes else {
                    taken.append((other, .null))
                    continue
                }
                // An edge without a transform carries its source's output: read just that.
                let value =
                    plan.ends[other].hasTransform
                    ? try NodeResultRecord(decoding: bytes).value(of: other) : try NodeResultRecord.output(decoding: bytes)
                taken.append((other, value ?? .null))
            }
        }
        return .ready(try await input(run: run, plan: fleetPlan, meta: meta, node: target, iteration: iteration, taken: taken))
    }

    /// A ready node's input, as rule 5 composes it from the values its taken incoming edges
    /// carry (and its `inputs` spec, evaluated against the run's records).
    func input(
        run: String, plan fleetPlan: FleetPlan, meta: RunMeta, node: Int, iteration: Int, taken: [(edge: Int, value: JSONValue)]
    ) async throws -> JSONValue {
        let plan = fleetPlan.plan
        var inputs: JSONValue?
        if plan.shapes[node].hasInputs {
            let nodes =
                fleetPlan.inputsReadNodes[node]
                ? try await ledger.nodeStates(run, plan: plan) : Array(repeating: RunStateMachine.NodeState(), count: plan.nodeCount)
            let context = fleetPlan.inputsReadContext[node] ? try await ledger.contexts.snapshot(run: run) : [:]
            inputs = RunRules.evaluateInputs(
                plan: plan, runInput: meta.input, nodes: nodes, node: node, context: StaticContextReader(context))
        }
        if taken.count <= 8 {
            return RunRules.input(plan: plan, node: node, runInput: meta.input, inputs: inputs, takenCount: taken.count) { edge in
                taken.last { $0.edge == edge }?.value
            }
        }
        var values: [Int: JSONValue] = [:]
        values.reserveCapacity(taken.count)
        for (edge, value) in taken { values[edge] = value }
        return RunRules.input(plan: plan, node: node, runInput: meta.input, inputs: inputs, takenCount: values.count) { values[$0] }
    }

    /// Every node finished: the run completes with the outputs of its terminal nodes (design
    /// rule 10). Reads the nodes noted as terminal, or, with `scan`, every record (the
    /// reconciler's way: it cannot trust notes a dead worker may not have written).
    func complete(_ run: String, plan: ExecutionPlan, scan: Bool = false) async throws {
        var outputs: [(Int, JSONValue)] = []
        if scan {
            for (node, record) in try await ledger.results(run, plan: plan).enumerated() {
                guard let record, record.status == .completed, RunRules.isTerminal(takenOutgoing: record.taken.count) else { continue }
                outputs.append((node, record.output ?? .null))
            }
        } else {
            let nodes = try await ledger.records.members(of: RunKeys.terminals(run)).compactMap { Int($0) }.sorted()
            let stored = try await ledger.records.values(at: nodes.map { RunKeys.result(run, $0, 0) })
            for (node, bytes) in zip(nodes, stored) {
                guard let bytes else { continue }
                outputs.append((node, try NodeResultRecord(decoding: bytes).output ?? .null))
            }
        }
        try await finisher.finish(run, TerminalRecord(RunRules.completed(plan: plan, terminals: outputs.lazy.map { (node: $0.0, output: $0.1) })))
    }

}
