import Foundation
import Logging

final class JobHandler: Sendable {
    let ledger: RunLedger
    let finisher: RunFinisher
    let publisher: JobPublisher
    let attempts: AttemptRunner
    let advancer: RunAdvancer
    let catalog: BlueprintCatalog
    let options: FleetOptions
    let logger: Logger
    let faults: (any FaultInjector)?
    /// Called when this process schedules a timer, so that its timer loop can wake early.
    let timerScheduled: @Sendable (Duration) -> Void

    init(
        ledger: RunLedger, finisher: RunFinisher, publisher: JobPublisher, attempts: AttemptRunner, advancer: RunAdvancer,
        catalog: BlueprintCatalog, options: FleetOptions, logger: Logger, faults: (any FaultInjector)?,
        timerScheduled: @escaping @Sendable (Duration) -> Void
    ) {
        self.ledger = ledger
        self.finisher = finisher
        self.publisher = publisher
        self.attempts = attempts
        self.advancer = advancer
        self.catalog = catalog
        self.options = options
        self.logger = logger
        self.faults = faults
        self.timerScheduled = timerScheduled
    }

    /// Handles one delivery of the job queues and says how to settle it. Never throws: every
    /// failure becomes an outcome (a dead letter, a requeue, a crash for fault injection).
    ///
    /// With `inline`, a job whose node completes with one ready successor on a served queue
    /// runs that successor here, and so on (see ``InlineSuccessors``); `started` hears of each
    /// job as it starts, `continued` of each inline job's outcome. The returned outcome settles
    /// the delivery itself.
    func handle(
        _ delivery: QueueDelivery, inline: InlineSuccessors? = nil,
        started: (Envelope, ContinuousClock.Instant) -> Void = { _, _ in },
        continued: (DeliveryOutcome) -> Void = { _ in }
    ) async -> DeliveryOutcome {
        guard delivery.body.count <= options.maxMessageSize else {
            logger.warning(
                "dead-lettering a message larger than the fleet allows",
                metadata: ["weft.queue": "\(delivery.queue)", "weft.bytes": "\(delivery.body.count)"])
            return .deadLettered(
                reason: "\(WeftError.Code.payloadTooLarge): a message of \(delivery.body.count) bytes, more than the fleet's "
                    + "limit of \(options.maxMessageSize)")
        }
        let envelope: Envelope
        do {
            envelope = try Envelope(decoding: delivery.body)
        } catch {
            logger.warning(
                "dead-lettering an undecodable message", metadata: ["weft.queue": "\(delivery.queue)", "weft.error": "\(error)"])
            return .deadLettered(reason: "\(error)")
        }
        // One clock reading serves the whole job's bookkeeping.
        let now = ContinuousClock.now
        started(envelope, now)
        let count = delivery.deliveryCount
        var successor: InlineJob?
        do {
            let outcome: DeliveryOutcome
            (outcome, successor) = try await handle(
                envelope, delivery: delivery, queue: delivery.queue, deliveryCount: count, now: now, inline: inline, depth: 0,
                read: nil)
            guard successor != nil else { return outcome }
        } catch {
            return outcome(of: error, envelope: envelope)
        }
        // The delivery's own job is done and its successor kept: run the chain.
        var depth = 0
        while let next = successor {
            let job = next.envelope
            depth += 1
            successor = nil
            let now = ContinuousClock.now
            started(job, now)
            let outcome: DeliveryOutcome
            do {
                (outcome, successor) = try await handle(
                    job, delivery: nil, queue: "", deliveryCount: count, now: now, inline: inline, depth: depth,
                    read: next.read)
            } catch let crash as SimulatedCrash {
                // The delivery stays unsettled; its redelivery replays the chain from the ledger.records.
                return .crashed(at: crash.step)
            } catch {
                let failed = self.outcome(of: error, envelope: job)
                continued(failed)
                return await handOver(job, after: failed)
            }
            continued(outcome)
            switch outcome {
            case .completed, .suspended, .retryScheduled, .dropped, .left:
                continue
            case .crashed(let step):
                return .crashed(at: step)
            case .deadLettered, .quarantined, .requeued:
                return await handOver(job, after: outcome)
            }
        }
        return .completed
    }

    /// Publishes a job that could not finish inline to its queue, where a delivery of its own
    /// settles it (dead letter, retry), and says how to settle the delivery that carried it.
    private func handOver(_ job: Envelope, after outcome: DeliveryOutcome) async -> DeliveryOutcome {
        do {
            guard let plan = catalog.plan(id: job.blueprintID, version: job.blueprintVersion),
                let node = plan.plan.indexByID[job.nodeID]
            else { return .requeued(reason: "\(outcome)") }
            try await publisher.publish(job, plan: plan, node: node)
            return .completed
        } catch {
            // Not handed over: the delivery goes back, and its redelivery replays the chain.
            return .requeued(reason: "\(error)")
        }
    }

    /// The outcome of a job whose handling threw `error`.
    private func outcome(of error: any Error, envelope: Envelope) -> DeliveryOutcome {
        if let crash = error as? SimulatedCrash { return .crashed(at: crash.step) }
        if let error = error as? WeftError, error.code == .malformedMessage || error.code == .unsupportedVersion {
            // A stored record this worker cannot read: the job cannot progress here.
            logger.error(
                "dead-lettering a job whose run records cannot be read",
                metadata: ["weft.run": "\(envelope.runID)", "weft.error": "\(error)"])
            return .deadLettered(reason: "\(error)")
        }
        logger.warning(
            "a backend failed; the job goes back on its queue",
            metadata: ["weft.run": "\(envelope.runID)", "weft.node": "\(envelope.nodeID)", "weft.error": "\(error)"])
        return .requeued(reason: "\(error)")
    }

    /// A successor a worker runs inline, with its first read when the write of its
    /// predecessor's record made it (see ``firstReadKeys(run:node:iteration:withMeta:)``).
    struct InlineJob {
        var envelope: Envelope
        var read: [[UInt8]?]?
    }

    /// What a job reads first, in one read: the run's status, the node's record, whether the
    /// run has context and, `withMeta`, the run's record.
    func firstReadKeys(run: String, node: Int, iteration: Int, withMeta: Bool) -> [StoreKey] {
        withMeta
            ? [RunKeys.status(run), RunKeys.result(run, node, iteration), RunKeys.hasContext(run), RunKeys.meta(run)]
            : [RunKeys.status(run), RunKeys.result(run, node, iteration), RunKeys.hasContext(run)]
    }

    /// Handles one job. `delivery` is `nil` for a job run inline, `depth` successors into the
    /// delivery; a single ready successor that `inline` allows, decided once the node has run
    /// (the worker may have begun to stop meanwhile), is returned instead of published. `read`
    /// is the job's first read when its predecessor's write made it.
    private func handle(
        _ envelope: Envelope, delivery: QueueDelivery?, queue: String, deliveryCount: Int, now: ContinuousClock.Instant,
        inline: InlineSuccessors?, depth: Int, read: [[UInt8]?]?
    ) async throws -> (DeliveryOutcome, InlineJob?) {
        var keep: Set<String>? {
            guard let inline, inline.allows(depth: depth, deliveryCount: deliveryCount) else { return nil }
            return inline.queues
        }
        guard envelope.kind == .job || envelope.kind == .resume else {
            return (.deadLettered(reason: "a \(envelope.kind) message does not belong on job queue \(queue)"), nil)
        }
        let run = envelope.runID
        guard let plan = catalog.plan(id: envelope.blueprintID, version: envelope.blueprintVersion) else {
            return (try await leave(envelope, delivery: delivery, queue: queue), nil)
        }
        guard let node = plan.plan.indexByID[envelope.nodeID] else {
            return (.deadLettered(
                reason: "blueprint \"\(envelope.blueprintID)\" v\(envelope.blueprintVersion) has no node \"\(envelope.nodeID)\""), nil)
        }
        guard envelope.attempt >= 1 else { return (.deadLettered(reason: "attempt \(envelope.attempt) is not valid"), nil) }
        if envelope.kind == .resume && !plan.plan.shapes[node].isControl {
            return (.deadLettered(reason: "node \"\(envelope.nodeID)\" is not a loop, sub-workflow, batch, wait or sleep; it takes no resume"), nil)
        }
        if let reason = Self.implausibility(of: envelope, plan: plan.plan, node: node) {
            logger.warning(
                "dead-lettering an implausible job", metadata: ["weft.run": "\(run)", "weft.reason": "\(reason)"])
            return (.deadLettered(reason: reason), nil)
        }
        if faults != nil { try await faults.checkpoint(.received, envelope) }
        // The run's status, the node's record, whether the run has context and (unless this
        // process read it lately) the run's record: one read.
        let iteration = envelope.iteration
        let cached = ledger.freshMeta(run, now: now)
        let current: [[UInt8]?]
        // A delivered job is a claim to check against the records (design §4): the record of
        // its node's one predecessor, if it has one, comes with the first read.
        let checksReadiness = delivery != nil && envelope.kind == .job
        let incoming = plan.plan.adjacency.incoming(node)
        var predecessor: [[UInt8]?]?
        if let read, read.count == 4 || (read.count == 3 && cached != nil) {
            current = read
        } else {
            var keys = firstReadKeys(run: run, node: node, iteration: iteration, withMeta: cached == nil)
            let readsPredecessor = checksReadiness && incoming.count == 1
            if readsPredecessor { keys.append(RunKeys.result(run, Int(plan.plan.ends[incoming.first!].source), iteration)) }
            let values = try await ledger.records.values(at: keys)
            current = readsPredecessor ? Array(values.dropLast()) : values
            if readsPredecessor { predecessor = [values.last ?? nil] }
        }
        if let bytes = current[0] {
            return (.dropped(reason: "the run is already \(try TerminalRecord(decoding: bytes).status.rawValue)"), nil)
        }
        guard let meta = try cached ?? current[3].map({ try ledger.cachedMeta(run, bytes: $0, now: now) }) else {
            return (.deadLettered(reason: "no run \"\(run)\" is known to the store"), nil)
        }
        guard meta.blueprintID == envelope.blueprintID, meta.blueprintVersion == envelope.blueprintVersion else {
            return (.deadLettered(
                reason: "the job names blueprint \"\(envelope.blueprintID)\" v\(envelope.blueprintVersion) but run \"\(run)\" "
                    + "is pinned to \"\(meta.blueprintID)\" v\(meta.blueprintVersion)"), nil)
        }
        let report = RunEventReport.forRun(run, meta: meta)
        let lost = deliveryCount - 1
        if lost >= options.maxLostDeliveries {
            return (try await quarantine(envelope, node: node, lost: lost, queue: queue), nil)
        }

        var record: NodeResultRecord
        if let recorded = try current[1].map({ try NodeResultRecord(decoding: $0) }) {
            // A redelivery, or a duplicate: continue from what was recorded. A skipped node has
            // nothing to continue: no job of it was ever published.
            if recorded.status == .skipped {
                return (.dropped(reason: "node \"\(envelope.nodeID)\" was skipped (its incoming edges were all skipped)"), nil)
            }
            record = recorded
        } else {
            if checksReadiness, let reason = try await unreadiness(
                run: run, plan: plan.plan, node: node, iteration: iteration, sources: predecessor)
            {
                logger.warning(
                    "dead-lettering a job whose node the run's records do not make ready",
                    metadata: ["weft.run": "\(run)", "weft.node": "\(envelope.nodeID)", "weft.reason": "\(reason)"])
                return (.deadLettered(reason: reason), nil)
            }
            if envelope.fencingToken > RunKeys.token(attempt: 1) && envelope.kind == .job {
                // A retry or a re-publication: raise the node's fence before running, so that an
                // older attempt still running somewhere can no longer commit.
                let marker = StoreKey(run: run, name: "x\(node).\(iteration).\(envelope.fencingToken)")
                let fence = Fence(key: RunKeys.fence(run, node, iteration), token: envelope.fencingToken)
                if try await ledger.records.setIfAbsent(marker, [], fence: fence) == .fenced {
                    return (.dropped(reason: "attempt \(envelope.attempt) was superseded by a newer one"), nil)
                }
            }
            if let report, envelope.kind == .job {
                report.note(.nodeStarted(nodeID: envelope.nodeID, attempt: envelope.attempt))
                await publisher.send(report)
            }
            switch try await attempts.execute(envelope, plan: plan, node: node, meta: meta, hasContext: current[2] != nil, report: report) {
            case .finished(let produced): record = produced
            case .outcome(let outcome):
                await publisher.send(report)
                return (outcome, nil)
            }
            if faults != nil { try await faults.checkpoint(.executed, envelope) }
            // A failure may come from the run ending elsewhere (its attempt was cancelled): then
            // the job ends here. A success is recorded even so: what it publishes is dropped on
            // delivery, and the run's status cannot change again.
            if record.status == .failed || Task.isCancelled, let terminal = try await ledger.terminal(run) {
                return (.dropped(reason: "the run ended (\(terminal.status.rawValue)) while the node ran"), nil)
            }
            let key = RunKeys.result(run, node, iteration)
            // A resume was checked against its attempt's record (``resumeControl``): the
            // attempt's first job may have been fenced off by a re-publication since, which
            // changes nothing for the children it started.
            let fence = envelope.kind == .resume
                ? nil : Fence(key: RunKeys.fence(run, node, iteration), token: envelope.fencingToken)
            var encoded = record.encoded()
            if encoded.count > options.maxMessageSize {
                // Its successors' jobs would carry the output: the node fails, for good.
                record = NodeResultRecord.failed(
                    attempt: envelope.attempt,
                    failure: NodeFailure(
                        message: "the node's output takes \(encoded.count) bytes, more than the fleet's limit of "
                            + "\(options.maxMessageSize) (maxMessageSize)",
                        errorType: "WeftError", code: WeftError.Code.payloadTooLarge.rawValue, isRetryable: false),
                    duration: record.duration)
                encoded = record.encoded()
            }
            // Without context writes, the result and its set additions (finished, join arrivals)
            // go in one store call. With them, the writes must be applied between the two, so
            // that no successor runs before it can see them.
            let batch = record.status == .completed && record.patch.isEmpty
                ? advancer.arrivalBatch(run: run, plan: plan, node: node, iteration: iteration, record: record) : nil
            // The successor this worker will run inline, when the record alone says which: its
            // first read goes with the write.
            let keeping = keep
            let follower = batch == nil ? nil : inlineFollower(plan: plan, node: node, record: record, keep: keeping)
            let reads = follower.map {
                firstReadKeys(run: run, node: $0, iteration: iteration, withMeta: ledger.freshMeta(run, now: now) == nil)
            } ?? []
            // The record, and when it is stored, its set additions, then either the run's end
            // (a run's last node: taking effect when the additions show that the node completes
            // the run) or the inline successor's first read: one batch.
            var write = StoreBatch()
            let stored = write.setIfAbsent(key, encoded, fence: fence)
            let added = (batch?.additions ?? []).map { write.addToSet($0.key, member: $0.member, when: [.stored(stored)]) }
            var ending: (swapped: StoreBatch.Label<CompareAndSetOutcome>, terminal: TerminalRecord, announcing: Bool)?
            var readLabels: [StoreBatch.Label<[UInt8]?>] = []
            if follower == nil, let batch,
                let last = lastNodeEnd(run: run, plan: plan, meta: meta, node: node, record: record, batch: batch)
            {
                let due = [.stored(stored)] + last.requiredSizes.map { StoreBatch.Condition.size(added[$0.addition], equals: $0.size) }
                ending = (last.end.addFinish(to: &write, when: due), last.terminal, last.end.marker != nil)
            } else {
                readLabels = reads.map { write.read($0, when: [.stored(stored)]) }
            }
            let results = try await ledger.records.apply(write)
            let outcome = results[stored] ?? .fenced
            let sizes = added.map { results[$0] ?? 0 }
            let values = outcome == .stored ? readLabels.map { results[$0] } : []
            if outcome == .stored, let ending, results[ending.swapped] == .swapped {
                if faults != nil { try await faults.checkpoint(.recorded, envelope) }
                await publisher.send(report)
                try await finisher.finished(run, ending.terminal, meta: meta, announcing: ending.announcing)
                return (.completed, nil)
            }
            switch outcome {
            case .stored:
                if let batch {
                    if faults != nil { try await faults.checkpoint(.recorded, envelope) }
                    let kept = try await advancer.advance(
                        run: run, plan: plan, meta: meta, node: node, iteration: iteration, record: record,
                        envelope: envelope, now: now, added: (batch, sizes), keep: keeping, report: report)
                    return (.completed, kept.map {
                        InlineJob(envelope: $0, read: follower.map { plan.plan.ids[$0] } == $0.nodeID && !values.isEmpty ? values : nil)
                    })
                }
            case .exists(let bytes):
                // Another delivery recorded first: its result stands, and routes. What this
                // attempt noted did not happen.
                report?.discard()
                record = try NodeResultRecord(decoding: bytes)
            case .fenced:
                return (.dropped(reason: "attempt \(envelope.attempt) was superseded by a newer one"), nil)
            }
            if faults != nil { try await faults.checkpoint(.recorded, envelope) }
        }
        let kept = try await advancer.advance(
            run: run, plan: plan, meta: meta, node: node, iteration: iteration, record: record, envelope: envelope, now: now,
            keep: keep, report: report)
        return (.completed, kept.map { InlineJob(envelope: $0, read: nil) })
    }

    /// The end to write with `node`'s record, in the same batch, when the record may complete
    /// the run in the common way: the node has no outgoing edge (its output is the run's when
    /// it is the only terminal node), no context writes, and the run no parent. The end is due
    /// when the node's additions leave every node done and it the only terminal node (the
    /// sizes `requiredSizes` names, by addition), as ``RunAdvancer.ArrivalBatch/completesAlone(_:nodeCount:)``
    /// decides.
    func lastNodeEnd(run: String, plan: FleetPlan, meta: RunMeta, node: Int, record: NodeResultRecord, batch: RunAdvancer.ArrivalBatch)
        -> (end: RunEnd, requiredSizes: [(addition: Int, size: Int)], terminal: TerminalRecord)?
    {
        guard record.status == .completed, record.patch.isEmpty, meta.parent == nil, plan.plan.adjacency.outgoing(node).isEmpty,
            batch.joins.isEmpty, let terminals = batch.terminalsIndex
        else { return nil }
        var terminal = TerminalRecord(RunRules.completed(plan: plan.plan, terminals: [(node, record.output ?? .null)]))
        terminal.finishedAt = Date().timeIntervalSince1970
        var end = finisher.runEnd(run, terminal: terminal, meta: meta)
        end.marker = meta.replyTo == nil ? nil : RunKeys.announced(run)
        return (end, [(batch.finishedIndex, plan.plan.nodeCount), (terminals, 1)], terminal)
    }

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
    private func inlineFollower(plan: FleetPlan, node: Int, record: NodeResultRecord, keep: Set<String>?) -> Int? {
        guard let keep, record.taken.count == 1, plan.plan.adjacency.outgoing(node).count == 1 else { return nil }
        let target = Int(plan.plan.ends[record.taken[0].edge].target)
        let shape = plan.plan.shapes[target]
        guard shape.incomingCount == 1, !shape.hasInputs, keep.contains(plan.queues[target]) else { return nil }
        return target
    }

    // MARK: Jobs that cannot run here

    /// Hands a job for a blueprint version this worker lacks back, after a delay, through a
    /// durable timer: it is neither dropped nor failed (design rule 13).
    private func leave(_ envelope: Envelope, delivery: QueueDelivery?, queue: String) async throws -> DeliveryOutcome {
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
    private func quarantine(_ envelope: Envelope, node: Int, lost: Int, queue: String) async throws -> DeliveryOutcome {
        let record = QuarantineRecord(
            nodeID: envelope.nodeID, attempt: envelope.attempt, lostDeliveries: lost, queue: queue,
            lastError: "worker lost")
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
