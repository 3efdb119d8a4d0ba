import Foundation
import Logging

/// Running a job's attempt: the node's code (or its loop, sub-workflow, batch, wait or sleep),
/// and after it the record of its result, its retry or its fallback (design §2 rules 6–9).
final class AttemptRunner: Sendable {
    /// What node attempts run with.
    struct Execution: Sendable {
        var middleware: [any NodeMiddleware] = []
        var dependencies = Dependencies()
        var clock: any Clock<Duration> = ContinuousClock()
        /// Where nodes declared blocking run.
        var blocking: BlockingExecutor = .shared
    }

    let ledger: RunLedger
    let publisher: JobPublisher
    let control: ControlNodes
    let execution: Execution
    let options: FleetOptions
    let logger: Logger
    let faults: (any FaultInjector)?
    /// Called when this process schedules a timer, so that its timer loop can wake early.
    let timerScheduled: @Sendable (Duration) -> Void

    init(
        ledger: RunLedger, publisher: JobPublisher, control: ControlNodes, execution: Execution, options: FleetOptions, logger: Logger,
        faults: (any FaultInjector)?, timerScheduled: @escaping @Sendable (Duration) -> Void
    ) {
        self.ledger = ledger
        self.publisher = publisher
        self.control = control
        self.execution = execution
        self.options = options
        self.logger = logger
        self.faults = faults
        self.timerScheduled = timerScheduled
    }

    enum AttemptResult {
        case finished(NodeResultRecord)
        case outcome(DeliveryOutcome)
    }

    /// Runs the attempt the envelope names (and the node's fallback if that was its last).
    func execute(
        _ envelope: Envelope, plan fleetPlan: FleetPlan, node: Int, meta: RunMeta, hasContext: Bool,
        report: RunEventReport? = nil
    ) async throws -> AttemptResult {
        let plan = fleetPlan.plan
        let run = envelope.runID
        let iteration = envelope.iteration
        let attempt = envelope.attempt
        let snapshot = hasContext ? try await ledger.contexts.snapshot(run: run) : [:]
        var began = Date().timeIntervalSince1970
        if plan.shapes[node].isControl, let control = plan.controls[node] {
            let step = envelope.kind == .resume
                ? try await self.control.resumeControl(control, resume: envelope, plan: fleetPlan, node: node, context: StaticContextReader(snapshot))
                : try await self.control.startControl(control, job: envelope, plan: fleetPlan, node: node, context: StaticContextReader(snapshot))
            if envelope.kind == .resume, step.ends {
                // The attempt began when its loop, batch, wait… started (read once, at its end).
                if let bytes = try await ledger.records.value(at: RunKeys.control(run, node, attempt: attempt)),
                    let startedAt = try ControlRecord(decoding: bytes).startedAt
                {
                    began = startedAt
                }
            }
            switch step {
            case .finished(var record):
                let ended = Date().timeIntervalSince1970
                record.log = try await earlierAttempts(run: run, node: node, iteration: iteration, attempt: attempt)
                    + [AttemptRecord(attempt: attempt, startedAt: began, endedAt: ended)]
                report?.note(.nodeFinished(
                    nodeID: plan.ids[node], attempt: attempt, duration: .nanoseconds(Int64(max(0, ended - began) * 1e9)),
                    usedFallback: false))
                return .finished(record)
            case .suspended(let reason):
                switch control {
                case .wait, .sleep: if envelope.kind == .job { report?.note(.nodeWaiting(nodeID: plan.ids[node])) }
                case .loop, .subworkflow, .batch: break
                }
                return .outcome(.suspended(reason: reason))
            case .rejected(let reason):
                logger.warning(
                    "dead-lettering a resume message that cannot be acted on",
                    metadata: ["weft.run": "\(run)", "weft.node": "\(plan.ids[node])", "weft.reason": "\(reason)"])
                return .outcome(.deadLettered(reason: reason))
            case .failed(let failure):
                // The attempt failed as any node's does: retry, fall back, or fail the node.
                var job = envelope
                if envelope.kind == .resume {
                    guard let bytes = try await ledger.records.value(at: RunKeys.control(run, node, attempt: attempt)) else {
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
                    prepared: nil, began: began, duration: .zero, cleanedUp: true, report: report)
            }
        }
        let state = RunState(runID: run, dependencies: execution.dependencies, logger: logger, context: snapshot)
        let implementation = plan.implementations[node]
        var prepared: JSONValue? = nil
        if implementation.hasLifecycle && attempt > 1,
            let bytes = try await ledger.records.value(at: RunKeys.prepared(run, node, iteration))
        {
            var reader = try RecordFormat.reader(bytes, subject: "prepared state")
            prepared = try reader.json()
        }
        let context = nodeContext(envelope, plan: plan, node: node, state: state, failure: nil)
        let outcome = await NodeExecution.attempt(
            node: node, attempt: attempt, implementation: implementation, timeout: plan.timeouts[node], context: context,
            prepared: prepared, middleware: execution.middleware, clock: execution.clock,
            on: plan.blocking[node] ? execution.blocking : nil)
        switch outcome.result {
        case .success(let output):
            var record = try await NodeResultRecord.completed(
                ledger: ledger, plan: fleetPlan, run: run, node: node, meta: meta, snapshot: snapshot, attempt: attempt, output: output,
                patch: outcome.patch, duration: outcome.duration, usedFallback: false)
            record.log = try await earlierAttempts(run: run, node: node, iteration: iteration, attempt: attempt)
                + [AttemptRecord(attempt: attempt, startedAt: began, endedAt: began + outcome.duration.seconds)]
            report?.note(.nodeFinished(nodeID: plan.ids[node], attempt: attempt, duration: outcome.duration, usedFallback: false))
            return .finished(record)
        case .failure(let failure):
            return try await attemptFailed(
                envelope, failure: failure, plan: fleetPlan, node: node, meta: meta, state: state, snapshot: snapshot,
                prepared: outcome.prepared, began: began, duration: outcome.duration, cleanedUp: outcome.cleanedUp,
                report: report)
        }
    }

    /// The node's attempts before `attempt` that failed, with their times, as the record of
    /// its last failure keeps them (none to read for a first attempt).
    private func earlierAttempts(run: String, node: Int, iteration: Int, attempt: Int) async throws -> [AttemptRecord] {
        guard attempt > 1, let bytes = try await ledger.records.value(at: RunKeys.lastFailure(run, node, iteration)) else { return [] }
        return try NodeResultRecord(decoding: bytes).log.filter { $0.attempt < attempt }
    }

    /// After a failed attempt: the retry, the fallback, or the node's failure (design rules 6, 8, 9).
    private func attemptFailed(
        _ envelope: Envelope, failure: NodeFailure, plan fleetPlan: FleetPlan, node: Int, meta: RunMeta, state: RunState,
        snapshot: [String: JSONValue], prepared: JSONValue?, began: Double, duration: Duration, cleanedUp: Bool,
        report: RunEventReport?
    ) async throws -> AttemptResult {
        let plan = fleetPlan.plan
        let run = envelope.runID
        let attempt = envelope.attempt
        let implementation = plan.implementations[node]
        let failed = AttemptRecord(
            attempt: attempt, startedAt: began, endedAt: max(began + duration.seconds, Date().timeIntervalSince1970), failure: failure)
        let log = try await earlierAttempts(run: run, node: node, iteration: envelope.iteration, attempt: attempt) + [failed]
        let context = nodeContext(envelope, plan: plan, node: node, state: state, failure: nil)
        let next = RunRules.afterFailure(plan: plan, node: node, attempt: attempt, failure: failure, runID: run)
        if case .retry(let nextAttempt, let delay) = next {
            report?.note(.nodeFailed(nodeID: plan.ids[node], attempt: attempt, failure: failure, willRetry: true))
            report?.note(.nodeRetrying(nodeID: plan.ids[node], attempt: nextAttempt, delay: delay))
            return .outcome(try await scheduleRetry(
                envelope, plan: fleetPlan, node: node, failure: failure, prepared: prepared, delay: delay, log: log))
        }
        report?.note(.nodeFailed(nodeID: plan.ids[node], attempt: attempt, failure: failure, willRetry: false))
        if next == .fallBack {
            let fallbackContext = nodeContext(envelope, plan: plan, node: node, state: state, failure: failure)
            let completion = await NodeExecution.fallback(
                implementation: implementation, fallback: plan.fallbacks[node], node: node, context: fallbackContext,
                prepared: prepared, failure: failure, middleware: execution.middleware)
            if case .fallback(_, let result, let patch, let fallbackDuration) = completion {
                switch result {
                case .success(let output):
                    var record = try await NodeResultRecord.completed(
                        ledger: ledger, plan: fleetPlan, run: run, node: node, meta: meta, snapshot: snapshot, attempt: attempt,
                        output: output, patch: patch, duration: duration + fallbackDuration, usedFallback: true)
                    record.log = log
                    report?.note(.nodeFinished(
                        nodeID: plan.ids[node], attempt: attempt, duration: duration + fallbackDuration, usedFallback: true))
                    return .finished(record)
                case .failure(let fallbackFailure):
                    var record = NodeResultRecord.failed(attempt: attempt, failure: fallbackFailure, duration: duration)
                    record.log = log
                    return .finished(record)
                }
            }
        } else if implementation.hasLifecycle && !cleanedUp {
            await implementation.cleanup(context)
        }
        var record = NodeResultRecord.failed(attempt: attempt, failure: failure, duration: duration)
        record.log = log
        return .finished(record)
    }

    /// Records the failed attempt and schedules the next, after `delay`, as a durable timer
    /// (design rule 6).
    func scheduleRetry(
        _ envelope: Envelope, plan: FleetPlan, node: Int, failure: NodeFailure, prepared: JSONValue?, delay: Duration,
        log: [AttemptRecord]
    ) async throws -> DeliveryOutcome {
        let run = envelope.runID
        let iteration = envelope.iteration
        let attempt = envelope.attempt
        if let prepared {
            var writer = RecordFormat.writer()
            writer.json(prepared)
            _ = try await ledger.records.setIfAbsent(RunKeys.prepared(run, node, iteration), writer.bytes, fence: nil)
        }
        let retryAt = Date().timeIntervalSince1970 + Double(delay.nanoseconds) / 1e9
        try await noteFailure(
            run: run, node: node, iteration: iteration, attempt: attempt, failure: failure, retryAt: retryAt, log: log)
        let next = JobPublisher.job(
            plan: plan, runID: run, node: node, iteration: iteration, attempt: attempt + 1, input: envelope.payload)
        let action = TimerAction.publish(queue: plan.queues[node], envelope: next.encoded(), priority: plan.priorities[node])
        try await ledger.records.scheduleTimer(
            RunKeys.retryTimer(run, node, iteration, attempt: attempt + 1), after: delay, payload: action.encoded())
        try await ledger.records.recordProgress(run: run, quietFor: delay)
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
        run: String, node: Int, iteration: Int, attempt: Int, failure: NodeFailure, retryAt: Double?, log: [AttemptRecord]
    ) async throws {
        var record = NodeResultRecord(status: .failed)
        record.attempt = attempt
        record.failure = failure
        record.retryAt = retryAt
        record.log = log
        let key = RunKeys.lastFailure(run, node, iteration)
        var current = try await ledger.records.value(at: key)
        while true {
            if let current, let existing = try? NodeResultRecord(decoding: current), existing.attempt >= attempt { return }
            switch try await ledger.records.compareAndSet(key, expected: current, new: record.encoded(), fence: nil) {
            case .swapped, .fenced: return
            case .mismatch(let now): current = now
            }
        }
    }

    /// The context the node's code (or, with a `failure`, its fallback) runs with.
    private func nodeContext(
        _ envelope: Envelope, plan: ExecutionPlan, node: Int, state: RunState, failure: NodeFailure?
    ) -> NodeContext {
        NodeContext(
            environment: state, nodeID: plan.ids[node], attempt: envelope.attempt, fencingToken: envelope.fencingToken,
            input: envelope.payload, params: plan.params[node],
            context: RunContext(
                state: state, key: RunState.writeKey(node: node, attempt: envelope.attempt, fallback: failure != nil)),
            failure: failure)
    }
}
