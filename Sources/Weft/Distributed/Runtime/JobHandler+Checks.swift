import Logging

/// The checks of a job against the run's records and the blueprint (is it plausible, is its
/// node ready, may its successor run inline), and the jobs that cannot run here (left for
/// another worker, or quarantined).
extension JobHandler {
    /// Why `envelope` cannot be a job Weft published for `node`, if it cannot: a loop pass is a
    /// run of its own, so every job names iteration 0; no node has more attempts than its
    /// `maxAttempts`; and a job's fencing token carries its attempt.
    static func implausibility(of envelope: Envelope, plan: ExecutionPlan, node: Int) -> String? {
        if envelope.iteration != 0 {
            return "iteration \(envelope.iteration) of node \"\(envelope.nodeID)\": loop passes are runs of their own, and "
                + "every job of a run names iteration 0"
        }
        let attempts = max(1, plan.blueprint.nodes[node].config.maxAttempts)
        if envelope.attempt > attempts {
            return "attempt \(envelope.attempt) of node \"\(envelope.nodeID)\", which has at most \(attempts)"
        }
        if envelope.fencingToken >> 32 != UInt64(envelope.attempt) {
            return "fencing token \(envelope.fencingToken) does not belong to attempt \(envelope.attempt)"
        }
        return nil
    }

    /// Why the run's records do not make `node` ready to run (rules 3 and 4), if they do not.
    /// The records of the node's predecessors decide (`sources`: those already read, in
    /// incoming order); a join's arrivals, which are added only after those records and so
    /// never say more, are read first, as they usually suffice.
    func unreadiness(run: String, plan: ExecutionPlan, node: Int, iteration: Int, sources: [[UInt8]?]?) async throws -> String? {
        let incoming = plan.adjacency.incoming(node)
        guard !incoming.isEmpty else { return nil }  // a start node
        let strategy = plan.shapes[node].join
        var arrivals = RunRules.Arrivals(incoming: incoming.count, resolved: 0, taken: 0)
        if incoming.count > 1 {
            let members = try await ledger.records.members(of: RunKeys.arrivals(run, node, iteration))
            arrivals.resolved = members.count
            arrivals.taken = members.count { $0.hasSuffix("t") }
            if RunRules.readiness(strategy, arrivals: arrivals) == .fire { return nil }
        }
        // A worker that died between a predecessor's record and its arrivals leaves the
        // arrivals short: the records themselves decide.
        let stored: [[UInt8]?]
        if let sources {
            stored = sources
        } else {
            stored = try await ledger.records.values(at: incoming.map { RunKeys.result(run, Int(plan.ends[$0].source), iteration) })
        }
        arrivals = RunRules.Arrivals(incoming: incoming.count, resolved: 0, taken: 0)
        for (edge, bytes) in zip(incoming, stored) {
            guard let bytes else { continue }
            let record = try NodeResultRecord.routing(decoding: bytes, takes: edge)
            arrivals.resolved += 1
            if record.status == .completed, record.takes { arrivals.taken += 1 }
        }
        switch RunRules.readiness(strategy, arrivals: arrivals) {
        case .fire:
            return nil
        case .skip:
            return "node \"\(plan.ids[node])\" is not ready: its incoming edges were all skipped"
        case .wait:
            return "node \"\(plan.ids[node])\" is not ready: \(arrivals.resolved) of its \(arrivals.incoming) incoming edges "
                + "are resolved, \(arrivals.taken) taken"
        }
    }

    /// The node a completed `node` hands on to inline, when its record alone decides it: one
    /// edge, taken, to a node with no other incoming edge and no `inputs`, on a kept queue.
    func inlineFollower(plan: FleetPlan, node: Int, record: NodeResultRecord, keep: Set<String>?) -> Int? {
        guard let keep, record.taken.count == 1, plan.plan.adjacency.outgoing(node).count == 1 else { return nil }
        let target = Int(plan.plan.ends[record.taken[0].edge].target)
        let shape = plan.plan.shapes[target]
        guard shape.incomingCount == 1, !shape.hasInputs, keep.contains(plan.queues[target]) else { return nil }
        return target
    }

    // MARK: Jobs that cannot run here

    /// Hands a job for a blueprint version this worker lacks back, after a delay, through a
    /// durable timer: it is neither dropped nor failed (design rule 13). Only a job of a run the
    /// store knows, pinned to that blueprint, is handed back: a job of an unknown run, or one
    /// naming another blueprint than its run's, is dead-lettered (no worker can ever run it),
    /// and one of a run that ended is dropped, so that no job bounces for ever.
    func leave(_ envelope: Envelope, delivery: QueueDelivery?, queue: String) async throws -> DeliveryOutcome {
        let run = envelope.runID
        guard let meta = try await StoredRun.read(run, from: ledger.records) else {
            logger.warning("dead-lettering a job of an unknown run", metadata: ["weft.run": "\(run)"])
            return .deadLettered(reason: "no run \"\(run)\" is known to the store (the job names blueprint "
                + "\"\(envelope.blueprintID)\" v\(envelope.blueprintVersion), which this worker lacks)")
        }
        if let status = meta.status { return .dropped(reason: "the run is already \(status.rawValue)") }
        guard meta.blueprintID == envelope.blueprintID, meta.blueprintVersion == envelope.blueprintVersion else {
            return .deadLettered(
                reason: "the job names blueprint \"\(envelope.blueprintID)\" v\(envelope.blueprintVersion) but run \"\(run)\" "
                    + "is pinned to \"\(meta.blueprintID)\" v\(meta.blueprintVersion)")
        }
        let reason = "this worker lacks blueprint \"\(envelope.blueprintID)\" v\(envelope.blueprintVersion)"
        let sequence = try await ledger.records.increment(RunKeys.leftCounter(envelope.runID), by: 1)
        let action = TimerAction.publish(
            queue: queue, envelope: delivery?.body ?? envelope.encoded(), priority: delivery?.message.priority ?? 0)
        try await ledger.records.scheduleTimer(
            RunKeys.leftTimer(envelope.runID, sequence), after: options.unknownBlueprintDelay, payload: action.encoded())
        timerScheduled(options.unknownBlueprintDelay)
        logger.warning("leaving a job for another worker: \(reason)", metadata: ["weft.run": "\(envelope.runID)"])
        return .left(reason: reason)
    }

    /// Sets aside a job that crashed its workers too often, with its signature (design §4).
    /// `countedBy` says who counted the lost deliveries: a count a message header carries may
    /// be forged by whoever can publish to the queue, and the record says so.
    func quarantine(_ envelope: Envelope, node: Int, lost: Int, queue: String, countedBy source: DeliveryCountSource) async throws
        -> DeliveryOutcome
    {
        let counted = switch source {
        case .transport: "workers lost it, as the transport counted"
        case .broker: "workers lost it, as the broker counted"
        case .messageHeader: "workers lost it, as the message's header says (whoever can publish to the queue can set it)"
        }
        let record = QuarantineRecord(
            nodeID: envelope.nodeID, attempt: envelope.attempt, lostDeliveries: lost, queue: queue, lastError: counted)
        // A mark cleared by a redrive is empty: quarantined again, it takes the new record.
        let key = RunKeys.quarantine(envelope.runID, node, envelope.iteration)
        if try await ledger.records.setIfAbsent(key, record.encoded()) == .exists([]) {
            _ = try await ledger.records.compareAndSet(key, expected: [], new: record.encoded(), fence: nil)
        }
        logger.error(
            "quarantining a job that crashed its workers \(lost) times",
            metadata: ["weft.run": "\(envelope.runID)", "weft.node": "\(envelope.nodeID)", "weft.attempt": "\(envelope.attempt)"])
        return .quarantined(signature: record.signature)
    }
}
