import Foundation
import Logging

extension RunCoordinator {
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
        var successor: Envelope?
        do {
            let outcome: DeliveryOutcome
            (outcome, successor) = try await handle(
                envelope, delivery: delivery, queue: delivery.queue, deliveryCount: count, now: now, inline: inline, depth: 0)
            guard successor != nil else { return outcome }
        } catch {
            return outcome(of: error, envelope: envelope)
        }
        // The delivery's own job is done and its successor kept: run the chain.
        var depth = 0
        while let job = successor {
            depth += 1
            successor = nil
            let now = ContinuousClock.now
            started(job, now)
            let outcome: DeliveryOutcome
            do {
                (outcome, successor) = try await handle(
                    job, delivery: nil, queue: "", deliveryCount: count, now: now, inline: inline, depth: depth)
            } catch let crash as SimulatedCrash {
                // The delivery stays unsettled; its redelivery replays the chain from the records.
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
            try await publish(job, plan: plan, node: node)
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

    /// Handles one job. `delivery` is `nil` for a job run inline, `depth` successors into the
    /// delivery; a single ready successor that `inline` allows, decided once the node has run
    /// (the worker may have begun to stop meanwhile), is returned instead of published.
    private func handle(
        _ envelope: Envelope, delivery: QueueDelivery?, queue: String, deliveryCount: Int, now: ContinuousClock.Instant,
        inline: InlineSuccessors?, depth: Int
    ) async throws -> (DeliveryOutcome, Envelope?) {
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
        if faults != nil { try await checkpoint(.received, envelope) }
        // The run's status, the node's record, whether the run has context and (unless this
        // process read it lately) the run's record: one read.
        let iteration = envelope.iteration
        let cached = freshMeta(run, now: now)
        let current = try await records.values(
            at: cached == nil
                ? [RunKeys.status(run), RunKeys.result(run, node, iteration), RunKeys.hasContext(run), RunKeys.meta(run)]
                : [RunKeys.status(run), RunKeys.result(run, node, iteration), RunKeys.hasContext(run)])
        if let bytes = current[0] {
            return (.dropped(reason: "the run is already \(try TerminalRecord(decoding: bytes).status.rawValue)"), nil)
        }
        guard let meta = try cached ?? current[3].map({ try cachedMeta(run, bytes: $0, now: now) }) else {
            return (.deadLettered(reason: "no run \"\(run)\" is known to the store"), nil)
        }
        guard meta.blueprintID == envelope.blueprintID, meta.blueprintVersion == envelope.blueprintVersion else {
            return (.deadLettered(
                reason: "the job names blueprint \"\(envelope.blueprintID)\" v\(envelope.blueprintVersion) but run \"\(run)\" "
                    + "is pinned to \"\(meta.blueprintID)\" v\(meta.blueprintVersion)"), nil)
        }
        let lost = deliveryCount - 1
        if lost >= options.maxLostDeliveries {
            return (try await quarantine(envelope, node: node, lost: lost, queue: queue), nil)
        }

        var record: NodeResultRecord
        if let recorded = try current[1].map({ try NodeResultRecord(decoding: $0) }) {
            // A redelivery, or a duplicate: continue from what was recorded.
            record = recorded
        } else {
            if envelope.fencingToken > RunKeys.token(attempt: 1) && envelope.kind == .job {
                // A retry or a re-publication: raise the node's fence before running, so that an
                // older attempt still running somewhere can no longer commit.
                let marker = StoreKey(run: run, name: "x\(node).\(iteration).\(envelope.fencingToken)")
                let fence = Fence(key: RunKeys.fence(run, node, iteration), token: envelope.fencingToken)
                if try await records.setIfAbsent(marker, [], fence: fence) == .fenced {
                    return (.dropped(reason: "attempt \(envelope.attempt) was superseded by a newer one"), nil)
                }
            }
            switch try await execute(envelope, plan: plan, node: node, meta: meta, hasContext: current[2] != nil) {
            case .finished(let produced): record = produced
            case .outcome(let outcome): return (outcome, nil)
            }
            if faults != nil { try await checkpoint(.executed, envelope) }
            // A failure may come from the run ending elsewhere (its attempt was cancelled): then
            // the job ends here. A success is recorded even so: what it publishes is dropped on
            // delivery, and the run's status cannot change again.
            if record.status == .failed || Task.isCancelled, let terminal = try await terminal(run) {
                return (.dropped(reason: "the run ended (\(terminal.status.rawValue)) while the node ran"), nil)
            }
            let key = RunKeys.result(run, node, iteration)
            // A resume was checked against its attempt's record (``resumeControl``): the
            // attempt's first job may have been fenced off by a re-publication since, which
            // changes nothing for the children it started.
            let fence = envelope.kind == .resume
                ? nil : Fence(key: RunKeys.fence(run, node, iteration), token: envelope.fencingToken)
            // Without context writes, the result and its set additions (finished, join arrivals)
            // go in one store call. With them, the writes must be applied between the two, so
            // that no successor runs before it can see them.
            let batch = record.status == .completed && record.patch.isEmpty
                ? arrivalBatch(run: run, plan: plan, node: node, iteration: iteration, record: record) : nil
            let (outcome, sizes) = try await records.setIfAbsent(
                key, record.encoded(), fence: fence, thenAddToSets: batch?.additions ?? [])
            switch outcome {
            case .stored:
                if let batch {
                    if faults != nil { try await checkpoint(.recorded, envelope) }
                    let kept = try await advance(
                        run: run, plan: plan, meta: meta, node: node, iteration: iteration, record: record,
                        envelope: envelope, now: now, added: (batch, sizes), keep: keep)
                    return (.completed, kept)
                }
            case .exists(let bytes):
                // Another delivery recorded first: its result stands, and routes.
                record = try NodeResultRecord(decoding: bytes)
            case .fenced:
                return (.dropped(reason: "attempt \(envelope.attempt) was superseded by a newer one"), nil)
            }
            if faults != nil { try await checkpoint(.recorded, envelope) }
        }
        let kept = try await advance(
            run: run, plan: plan, meta: meta, node: node, iteration: iteration, record: record, envelope: envelope, now: now,
            keep: keep)
        return (.completed, kept)
    }

    enum AttemptResult {
        case finished(NodeResultRecord)
        case outcome(DeliveryOutcome)
    }

    /// Runs the attempt the envelope names (and the node's fallback if that was its last).
    private func execute(
        _ envelope: Envelope, plan fleetPlan: FleetPlan, node: Int, meta: RunMeta, hasContext: Bool
    ) async throws -> AttemptResult {
        let plan = fleetPlan.plan
        let run = envelope.runID
        let iteration = envelope.iteration
        let attempt = envelope.attempt
        let snapshot = hasContext ? try await contexts.snapshot(run: run) : [:]
        if plan.shapes[node].isControl, let control = plan.controls[node] {
            let step = envelope.kind == .resume
                ? try await resumeControl(control, resume: envelope, plan: fleetPlan, node: node, context: StaticContextReader(snapshot))
                : try await startControl(control, job: envelope, plan: fleetPlan, node: node, context: StaticContextReader(snapshot))
            switch step {
            case .finished(let record): return .finished(record)
            case .suspended(let reason): return .outcome(.suspended(reason: reason))
            case .rejected(let reason):
                logger.warning(
                    "dead-lettering a resume message that cannot be acted on",
                    metadata: ["weft.run": "\(run)", "weft.node": "\(plan.ids[node])", "weft.reason": "\(reason)"])
                return .outcome(.deadLettered(reason: reason))
            case .failed(let failure):
                // The attempt failed as any node's does: retry, fall back, or fail the node.
                var job = envelope
                if envelope.kind == .resume {
                    guard let bytes = try await records.value(at: RunKeys.control(run, node, attempt: attempt)) else {
                        return .outcome(.dropped(reason: "a resume for an attempt that never started"))
                    }
                    job.kind = .job
                    job.payload = try ControlRecord(decoding: bytes).input
                }
                logger.debug(
                    "a loop, sub-workflow or batch attempt failed",
                    metadata: ["weft.run": "\(run)", "weft.node": "\(plan.ids[node])", "weft.error": "\(failure.message)"])
                let state = RunState(runID: run, dependencies: execution.dependencies, logger: logger, context: snapshot)
                return try await attemptFailed(
                    job, failure: failure, plan: fleetPlan, node: node, meta: meta, state: state, snapshot: snapshot,
                    prepared: nil, duration: .zero, cleanedUp: true)
            }
        }
        let state = RunState(runID: run, dependencies: execution.dependencies, logger: logger, context: snapshot)
        let implementation = plan.implementations[node]
        var prepared: JSONValue? = nil
        if implementation.hasLifecycle && attempt > 1,
            let bytes = try await records.value(at: RunKeys.prepared(run, node, iteration))
        {
            var reader = try RecordFormat.reader(bytes, subject: "prepared state")
            prepared = try reader.json()
        }
        let context = NodeContext(
            environment: state, nodeID: plan.ids[node], attempt: attempt, fencingToken: envelope.fencingToken,
            input: envelope.payload, params: plan.params[node],
            context: RunContext(state: state, key: RunState.writeKey(node: node, attempt: attempt, fallback: false)),
            failure: nil)
        let outcome = await NodeExecution.attempt(
            node: node, attempt: attempt, implementation: implementation, timeout: plan.timeouts[node], context: context,
            prepared: prepared, middleware: execution.middleware, clock: execution.clock,
            on: plan.blocking[node] ? execution.blocking : nil)
        switch outcome.result {
        case .success(let output):
            return .finished(try await completedRecord(
                plan: fleetPlan, run: run, node: node, meta: meta, snapshot: snapshot, attempt: attempt, output: output,
                patch: outcome.patch, duration: outcome.duration, usedFallback: false))
        case .failure(let failure):
            return try await attemptFailed(
                envelope, failure: failure, plan: fleetPlan, node: node, meta: meta, state: state, snapshot: snapshot,
                prepared: outcome.prepared, duration: outcome.duration, cleanedUp: outcome.cleanedUp)
        }
    }

    /// After a failed attempt: the retry, the fallback, or the node's failure (design rules 6, 8, 9).
    private func attemptFailed(
        _ envelope: Envelope, failure: NodeFailure, plan fleetPlan: FleetPlan, node: Int, meta: RunMeta, state: RunState,
        snapshot: [String: JSONValue], prepared: JSONValue?, duration: Duration, cleanedUp: Bool
    ) async throws -> AttemptResult {
        let plan = fleetPlan.plan
        let run = envelope.runID
        let attempt = envelope.attempt
        let implementation = plan.implementations[node]
        let context = NodeContext(
            environment: state, nodeID: plan.ids[node], attempt: attempt, fencingToken: envelope.fencingToken,
            input: envelope.payload, params: plan.params[node],
            context: RunContext(state: state, key: RunState.writeKey(node: node, attempt: attempt, fallback: false)),
            failure: nil)
        let config = plan.blueprint.nodes[node].config
        if failure.isRetryable && attempt < config.maxAttempts {
            return .outcome(try await scheduleRetry(
                envelope, plan: fleetPlan, node: node, failure: failure, prepared: prepared))
        }
        if plan.shapes[node].mayFallBack {
            let fallbackContext = NodeContext(
                environment: state, nodeID: plan.ids[node], attempt: attempt, fencingToken: envelope.fencingToken,
                input: envelope.payload, params: plan.params[node],
                context: RunContext(state: state, key: RunState.writeKey(node: node, attempt: attempt, fallback: true)),
                failure: failure)
            let completion = await NodeExecution.fallback(
                implementation: implementation, fallback: plan.fallbacks[node], node: node, context: fallbackContext,
                prepared: prepared, failure: failure, middleware: execution.middleware)
            if case .fallback(_, let result, let patch, let fallbackDuration) = completion {
                switch result {
                case .success(let output):
                    return .finished(try await completedRecord(
                        plan: fleetPlan, run: run, node: node, meta: meta, snapshot: snapshot, attempt: attempt,
                        output: output, patch: patch, duration: duration + fallbackDuration, usedFallback: true))
                case .failure(let fallbackFailure):
                    return .finished(failedRecord(attempt: attempt, failure: fallbackFailure, duration: duration))
                }
            }
        } else if implementation.hasLifecycle && !cleanedUp {
            await implementation.cleanup(context)
        }
        return .finished(failedRecord(attempt: attempt, failure: failure, duration: duration))
    }

    func failedRecord(attempt: Int, failure: NodeFailure, duration: Duration) -> NodeResultRecord {
        var record = NodeResultRecord(status: .failed)
        record.attempt = attempt
        record.failure = failure
        record.duration = duration
        return record
    }

    /// A completed node's record, with its routing decided now (design rule 2), once.
    func completedRecord(
        plan fleetPlan: FleetPlan, run: String, node: Int, meta: RunMeta, snapshot: [String: JSONValue], attempt: Int,
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
        if plan.shapes[node].routingIsPlain {
            record.taken = outgoing.map { NodeResultRecord.TakenEdge(edge: $0, value: nil) }
        } else {
            try await route(&record, plan: fleetPlan, run: run, node: node, meta: meta, snapshot: snapshot, output: output)
        }
        return record
    }

    /// Decides the routing of a node whose edges have actions, conditions or transforms.
    @inline(never)
    private func route(
        _ record: inout NodeResultRecord, plan fleetPlan: FleetPlan, run: String, node: Int, meta: RunMeta,
        snapshot: [String: JSONValue], output: NodeOutput
    ) async throws {
        let plan = fleetPlan.plan
        var entries = snapshot
        record.patch.apply(to: &entries)
        let nodes =
            fleetPlan.routingReadsNodes[node]
            ? try await nodeStates(run, plan: plan) : Array(repeating: RunStateMachine.NodeState(), count: plan.nodeCount)
        let decision = RunStateMachine.route(
            plan: plan, runInput: meta.input, nodes: nodes, node: node, output: output, context: StaticContextReader(entries))
        record.taken = decision.taken.map {
            NodeResultRecord.TakenEdge(
                edge: $0.edge, value: plan.ends[$0.edge].hasTransform ? Optional($0.value) : Optional<JSONValue>.none)
        }
    }

    /// Records the failed attempt and schedules the next as a durable timer (design rule 6).
    func scheduleRetry(
        _ envelope: Envelope, plan: FleetPlan, node: Int, failure: NodeFailure, prepared: JSONValue?
    ) async throws -> DeliveryOutcome {
        let run = envelope.runID
        let iteration = envelope.iteration
        let attempt = envelope.attempt
        let config = plan.plan.blueprint.nodes[node].config
        var random = SplitMix64(seed: SplitMix64.hash(run) &+ UInt64(node) &* 0x9E37_79B9 &+ UInt64(attempt))
        let delay = config.backoff.delay(beforeRetry: attempt, random: random.nextUnit())
        if let prepared {
            var writer = RecordFormat.writer()
            writer.json(prepared)
            _ = try await records.setIfAbsent(RunKeys.prepared(run, node, iteration), writer.bytes, fence: nil)
        }
        let retryAt = Date().timeIntervalSince1970 + Double(delay.nanoseconds) / 1e9
        try await noteFailure(run: run, node: node, iteration: iteration, attempt: attempt, failure: failure, retryAt: retryAt)
        let next = jobEnvelope(
            plan: plan, runID: run, node: node, iteration: iteration, attempt: attempt + 1, input: envelope.payload)
        let action = TimerAction.publish(queue: plan.queues[node], envelope: next.encoded(), priority: plan.priorities[node])
        try await records.scheduleTimer(
            RunKeys.retryTimer(run, node, iteration, attempt: attempt + 1), after: delay, payload: action.encoded())
        try await records.recordProgress(run: run, quietFor: delay)
        timerScheduled(delay)
        logger.debug(
            "attempt failed; retry scheduled",
            metadata: [
                "weft.run": "\(run)", "weft.node": "\(envelope.nodeID)", "weft.attempt": "\(attempt)",
                "weft.delay": "\(delay)", "weft.error": "\(failure.message)",
            ])
        return .retryScheduled(attempt: attempt + 1, after: delay)
    }

    /// Keeps the node's latest failed attempt, for inspection and the reconciler.
    private func noteFailure(
        run: String, node: Int, iteration: Int, attempt: Int, failure: NodeFailure, retryAt: Double?
    ) async throws {
        var record = NodeResultRecord(status: .failed)
        record.attempt = attempt
        record.failure = failure
        record.retryAt = retryAt
        let key = RunKeys.lastFailure(run, node, iteration)
        var current = try await records.value(at: key)
        while true {
            if let current, let existing = try? NodeResultRecord(decoding: current), existing.attempt >= attempt { return }
            switch try await records.compareAndSet(key, expected: current, new: record.encoded(), fence: nil) {
            case .swapped, .fenced: return
            case .mismatch(let now): current = now
            }
        }
    }

    // MARK: Jobs that cannot run here

    /// Hands a job for a blueprint version this worker lacks back, after a delay, through a
    /// durable timer: it is neither dropped nor failed (design rule 13).
    private func leave(_ envelope: Envelope, delivery: QueueDelivery?, queue: String) async throws -> DeliveryOutcome {
        let reason = "this worker lacks blueprint \"\(envelope.blueprintID)\" v\(envelope.blueprintVersion)"
        let sequence = try await records.increment(RunKeys.leftCounter(envelope.runID), by: 1)
        let action = TimerAction.publish(
            queue: queue, envelope: delivery?.body ?? envelope.encoded(), priority: delivery?.message.priority ?? 0)
        try await records.scheduleTimer(
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
        _ = try await records.setIfAbsent(
            RunKeys.quarantine(envelope.runID, node, envelope.iteration), record.encoded(), fence: nil)
        logger.error(
            "quarantining a job that crashed its workers \(lost) times",
            metadata: ["weft.run": "\(envelope.runID)", "weft.node": "\(envelope.nodeID)", "weft.attempt": "\(envelope.attempt)"])
        return .quarantined(signature: record.signature)
    }
}
