import Foundation
import Logging

/// Loops, sub-workflows, batches, waits and sleeps on the fleet (design rule 12).
///
/// A control node's job starts what it waits for (child runs, which are runs of their own on
/// the same fleet, or a durable timer), records its attempt (``ControlRecord``) and is acked:
/// no worker is held while it waits. What it waits for sends a *resume* message for the node
/// (a child run when it ends, ``DistributedRuntime/signal(runID:nodeID:action:payload:)``, the
/// timer when it fires), and the worker that takes it continues the node: starts the next
/// pass or item, or records the node's result (set-if-absent and fenced, like any node's) and
/// advances the run. Every step is idempotent: child runs have ids derived from the node, its
/// attempt and the pass or item (``ChildRunID``), so a redelivered job or resume starts nothing
/// twice, and a resume of a superseded attempt is fenced off.
final class ControlNodes: Sendable {
    let ledger: RunLedger
    let finisher: RunFinisher
    let publisher: JobPublisher
    let starter: RunStarter
    let catalog: BlueprintCatalog
    let options: FleetOptions
    let logger: Logger
    /// Called when this process schedules a timer, so that its timer loop can wake early.
    let timerScheduled: @Sendable (Duration) -> Void

    init(
        ledger: RunLedger, finisher: RunFinisher, publisher: JobPublisher, starter: RunStarter, catalog: BlueprintCatalog,
        options: FleetOptions, logger: Logger, timerScheduled: @escaping @Sendable (Duration) -> Void
    ) {
        self.ledger = ledger
        self.finisher = finisher
        self.publisher = publisher
        self.starter = starter
        self.catalog = catalog
        self.options = options
        self.logger = logger
        self.timerScheduled = timerScheduled
    }

    /// What a control node's job or resume did.
    enum ControlStep {
        /// The node ended: record this.
        case finished(NodeResultRecord)
        /// The node waits for children, a signal or a timer.
        case suspended(String)
        /// The attempt failed: retry, fall back or fail, as for any node.
        case failed(NodeFailure)
        /// The message can never be acted on: dead-letter it with this reason.
        case rejected(String)

        /// Whether the attempt ended (finished or failed).
        var ends: Bool {
            switch self {
            case .finished, .failed: return true
            case .suspended, .rejected: return false
            }
        }
    }

    /// What a resume message says happened. Its payload, as JSON.
    enum ResumeEvent {
        /// Child run `index` (a pass, an item; 0 for a sub-workflow) ended.
        case child(index: Int)
        /// A signal with an action and a payload.
        case signal(action: String, payload: JSONValue)
        /// The wait's timeout passed, or the sleep ended.
        case timer

        var payload: JSONValue {
            switch self {
            case .child(let index): return ["event": "child", "index": .int(Int64(index))]
            case .signal(let action, let payload): return ["event": "signal", "action": .string(action), "payload": payload]
            case .timer: return ["event": "timer"]
            }
        }

        init(_ payload: JSONValue) throws(WeftError) {
            switch payload["event"]?.stringValue {
            case "child":
                guard let index = payload["index"]?.intValue, index >= 0 else {
                    throw WeftError(.malformedMessage, "Malformed resume message: a child event without an index")
                }
                self = .child(index: index)
            case "signal":
                guard let action = payload["action"]?.stringValue else {
                    throw WeftError(.malformedMessage, "Malformed resume message: a signal without an action")
                }
                self = .signal(action: action, payload: payload["payload"] ?? .null)
            case "timer":
                self = .timer
            default:
                throw WeftError(.malformedMessage, "Malformed resume message: unknown event \(payload["event"] ?? .null)")
            }
        }
    }

    // MARK: Starting

    /// Starts attempt `job.attempt` of control node `node`.
    func startControl(
        _ control: ControlNode, job first: Envelope, plan fleetPlan: FleetPlan, node: Int, context: StaticContextReader
    ) async throws -> ControlStep {
        var job = first
        let plan = fleetPlan.plan
        let run = job.runID
        let input = job.payload
        let params = plan.params[node]
        if let failure = ChildRunID.nestingFailure(of: control, parent: run, node: plan.ids[node], attempt: job.attempt) {
            return .failed(failure)
        }
        var count = 0
        var items: [JSONValue] = []
        if case .batch(let batch) = control {
            do { items = try batch.elements(input: input, params: params, context: context) } catch {
                return .failed(error)
            }
            count = items.count
        }
        var kept: JSONValue? = nil
        if case .batch(let batch) = control, batch.items.readsContext { kept = .array(items) }
        var record = ControlRecord(input: input, fencingToken: job.fencingToken, count: count, items: kept)
        record.startedAt = Date().timeIntervalSince1970
        if case .exists(let bytes) = try await ledger.records.setIfAbsent(
            RunKeys.control(run, node, attempt: job.attempt), record.encoded(), fence: nil)
        {
            // A redelivery or a re-publication of a started attempt: it continues with the
            // attempt's token, which the children's notices carry.
            job.fencingToken = try ControlRecord(decoding: bytes).fencingToken
        }
        switch control {
        case .subworkflow(let subworkflow):
            let childInput = subworkflow.childInput(input: input, params: params, context: context)
            try await startChild(subworkflow.child, index: 0, input: childInput, job: job, plan: fleetPlan, node: node)
            return .suspended("waiting for sub-workflow \"\(subworkflow.child.id)\"")

        case .loop(let loop):
            return try await loopStep(
                loop, passesDone: 0, state: input, job: job, plan: fleetPlan, node: node, context: context)

        case .batch(let batch):
            guard !items.isEmpty else { return .finished(try await completed(.array([]), job: job, plan: fleetPlan, node: node)) }
            for index in 1...min(batch.concurrency, items.count) {
                try await startChild(batch.worker, index: index, input: items[index - 1], job: job, plan: fleetPlan, node: node)
            }
            return .suspended("waiting for \(items.count) batch items")

        case .wait(let wait):
            if let timeout = wait.timeout {
                try await scheduleResume(.timer, after: timeout, job: job, plan: fleetPlan, node: node)
            }
            try await ledger.records.recordProgress(run: run, quietFor: wait.timeout ?? .seconds(3600))
            return .suspended("waiting for a signal")

        case .sleep(let sleep):
            try await scheduleResume(.timer, after: sleep.duration, job: job, plan: fleetPlan, node: node)
            try await ledger.records.recordProgress(run: run, quietFor: sleep.duration)
            return .suspended("sleeping for \(sleep.duration)")
        }
    }

    // MARK: Resuming

    /// Continues a control node on a resume message.
    func resumeControl(
        _ control: ControlNode, resume: Envelope, plan fleetPlan: FleetPlan, node: Int, context: StaticContextReader
    ) async throws -> ControlStep {
        let plan = fleetPlan.plan
        let run = resume.runID
        let event: ResumeEvent
        do { event = try ResumeEvent(resume.payload) } catch { return .rejected(error.message) }
        guard let bytes = try await ledger.records.value(at: RunKeys.control(run, node, attempt: resume.attempt)) else {
            return .suspended("a resume for an attempt that never started")
        }
        let record = try ControlRecord(decoding: bytes)
        guard record.fencingToken == resume.fencingToken, try await currentAttempt(run: run, node: node) == resume.attempt
        else {
            return .suspended("a resume of a superseded attempt was ignored")
        }
        // The node's own attempt, as its job would be: what a retry or a fallback starts from.
        var job = resume
        job.kind = .job
        job.payload = record.input
        let params = plan.params[node]
        switch (control, event) {
        case (.subworkflow(let subworkflow), .child(0)):
            guard let child = try await childOutcome(subworkflow.child, index: 0, job: job) else {
                return .suspended("the sub-workflow has not ended")
            }
            let output: JSONValue
            do { output = try subworkflow.result(of: child, input: record.input, params: params, context: context) } catch {
                return .failed(error)
            }
            return .finished(try await completed(output, job: job, plan: fleetPlan, node: node))

        case (.loop(let loop), .child(let pass)) where pass >= 1:
            guard let outcome = try await childOutcome(loop.body, index: pass, job: job) else {
                return .suspended("pass \(pass) has not ended")
            }
            guard outcome.status == .completed else { return .failed(outcome.nodeFailure(of: "pass \(pass) of loop \"\(plan.ids[node])\"")) }
            if let exit = outcome.breakOutput {
                return .finished(try await completed(exit, job: job, plan: fleetPlan, node: node))
            }
            return try await loopStep(
                loop, passesDone: pass, state: outcome.output ?? .null, job: job, plan: fleetPlan, node: node, context: context)

        case (.batch(let batch), .child(let index)) where index >= 1 && index <= record.count:
            guard let outcome = try await childOutcome(batch.worker, index: index, job: job) else {
                return .suspended("item \(index) has not ended")
            }
            if outcome.status != .completed && batch.onFailure == .failFast {
                try await cancelChildren(of: job, plan: fleetPlan, node: node, count: record.count)
                return .failed(outcome.nodeFailure(of: "batch item \(index - 1)"))
            }
            let ended = TerminalRecord(status: outcome.status, output: outcome.output, failure: outcome.failure)
            _ = try await ledger.records.setIfAbsent(
                RunKeys.batchItem(run, node, attempt: job.attempt, index: index), ended.encoded(), fence: nil)
            let done = try await ledger.records.addToSet(
                RunKeys.batchDone(run, node, attempt: job.attempt), member: String(index))
            let next = index + batch.concurrency
            if next <= record.count {
                let items = try record.items?.arrayValue ?? batch.elements(input: record.input, params: params, context: context)
                guard items.count == record.count else {
                    throw WeftError(.malformedMessage, "The items of batch \"\(plan.ids[node])\" changed since it started")
                }
                try await startChild(batch.worker, index: next, input: items[next - 1], job: job, plan: fleetPlan, node: node)
            }
            guard done == record.count else {
                try await ledger.records.recordProgress(run: run, quietFor: .zero)
                return .suspended("\(done) of \(record.count) batch items ended")
            }
            var outcomes: [ChildOutcome] = []
            outcomes.reserveCapacity(record.count)
            let ids = (1...record.count).map { childID(job, node: plan.ids[node], index: $0) }
            let terminals = try await ledger.records.values(
                at: (1...record.count).map { RunKeys.batchItem(run, node, attempt: job.attempt, index: $0) })
            for (position, bytes) in terminals.enumerated() {
                guard let bytes else { return .suspended("batch item \(position + 1) has no end recorded yet") }
                let terminal = try TerminalRecord(decoding: bytes)
                outcomes.append(ChildOutcome(
                    runID: ids[position], status: terminal.status, output: terminal.output, failure: terminal.failure))
            }
            let output: JSONValue
            do { output = try batch.gather(outcomes) } catch { return .failed(error) }
            return .finished(try await completed(output, job: job, plan: fleetPlan, node: node))

        case (.wait(let wait), .signal(let action, let payload)):
            guard wait.actions.isEmpty || wait.actions.contains(action) else {
                return .suspended("a signal with undeclared action \"\(action)\" was ignored")
            }
            return .finished(try await completed(payload, action: action, job: job, plan: fleetPlan, node: node))

        case (.wait(let wait), .timer):
            return .finished(try await completed(record.input, action: wait.timeoutAction, job: job, plan: fleetPlan, node: node))

        case (.sleep, .timer):
            return .finished(try await completed(record.input, job: job, plan: fleetPlan, node: node))

        default:
            return .rejected("Malformed resume message: \(resume.payload) does not resume node \"\(plan.ids[node])\"")
        }
    }

    // MARK: Steps

    /// Runs the loop's next pass, or ends it.
    private func loopStep(
        _ loop: LoopControl, passesDone: Int, state: JSONValue, job: Envelope, plan fleetPlan: FleetPlan, node: Int,
        context: StaticContextReader
    ) async throws -> ControlStep {
        let plan = fleetPlan.plan
        let next = passesDone + 1
        // Once a pass exists, it was decided: a redelivery follows it rather than deciding again.
        if try await ledger.records.value(at: RunKeys.meta(childID(job, node: plan.ids[node], index: next))) == nil {
            let another: Bool
            do {
                another = try loop.runsAnotherPass(
                    passesDone: passesDone, state: state, input: job.payload, params: plan.params[node], context: context)
            } catch {
                return .failed(error)
            }
            guard another else { return .finished(try await completed(state, job: job, plan: fleetPlan, node: node)) }
        }
        try await startChild(loop.body, index: next, input: state, job: job, plan: fleetPlan, node: node)
        try await ledger.records.recordProgress(run: job.runID, quietFor: .zero)
        return .suspended("waiting for pass \(next)")
    }

    /// A completed record for the control node, routed as any node's result.
    private func completed(
        _ output: JSONValue, action: String? = nil, job: Envelope, plan: FleetPlan, node: Int
    ) async throws -> NodeResultRecord {
        guard let meta = try await ledger.meta(job.runID) else {
            throw WeftError(.unknownRun, "No run \"\(job.runID)\" is known to the store")
        }
        let snapshot = try await ledger.records.value(at: RunKeys.hasContext(job.runID)) != nil
            ? try await ledger.contexts.snapshot(run: job.runID) : [:]
        return try await NodeResultRecord.completed(
            ledger: ledger, plan: plan, run: job.runID, node: node, meta: meta, snapshot: snapshot, attempt: job.attempt,
            output: NodeOutput(output, action: action), patch: ContextPatch(), duration: .zero, usedFallback: false)
    }

    // MARK: Children

    func childID(_ job: Envelope, node: String, index: Int) -> String {
        ChildRunID.make(parent: job.runID, node: node, attempt: job.attempt, index: index)
    }

    /// Starts child run `index` of the node's attempt (nothing when it exists), and resumes the
    /// node at once if it already ended.
    private func startChild(
        _ child: ChildBlueprint, index: Int, input: JSONValue, job: Envelope, plan fleetPlan: FleetPlan, node: Int
    ) async throws {
        let plan = fleetPlan.plan
        guard let childPlan = catalog.plan(of: child) else {
            throw WeftError(.unknownBlueprint, "Blueprint \"\(child.id)\" v\(child.version) is not registered")
        }
        let id = childID(job, node: plan.ids[node], index: index)
        let resume = resumeEnvelope(.child(index: index), job: job)
        let parent = ParentResume(queue: fleetPlan.queues[node], envelope: resume.encoded(), priority: fleetPlan.priorities[node])
        _ = try await ledger.records.addToSet(RunKeys.children(job.runID), member: id)
        let started = try await starter.start(plan: childPlan, input: input, runID: id, options: RunOptions(), replyTo: nil, parent: parent)
        if !started, let terminal = try await ledger.terminal(id) {
            // A redelivery: the child ended already; its own notice may be lost with the
            // first delivery's worker, so tell the node again (a duplicate is harmless).
            logger.debug(
                "a child run had ended already; resuming its parent",
                metadata: ["weft.run": "\(id)", "weft.status": "\(terminal.status.rawValue)"])
            try await publisher.transport.publish(
                QueueMessage(body: parent.envelope, priority: parent.priority), to: parent.queue)
        }
    }

    /// How child run `index` ended; `nil` while it runs.
    private func childOutcome(_ child: ChildBlueprint, index: Int, job: Envelope) async throws -> ChildOutcome? {
        guard let plan = catalog.plan(of: child)?.plan else {
            throw WeftError(.unknownBlueprint, "Blueprint \"\(child.id)\" v\(child.version) is not registered")
        }
        let id = childID(job, node: job.nodeID, index: index)
        guard let terminal = try await ledger.terminal(id) else { return nil }
        var outcome = ChildOutcome(runID: id, status: terminal.status, output: terminal.output, failure: terminal.failure)
        if terminal.status == .completed && !plan.breakNodes.isEmpty {
            let keys = plan.breakNodes.map { RunKeys.result(id, $0, 0) }
            for bytes in try await ledger.records.values(at: keys) {
                guard let bytes else { continue }
                let record = try NodeResultRecord(decoding: bytes)
                if record.status == .completed {
                    outcome.breakOutput = record.output ?? .null
                    break
                }
            }
        }
        return outcome
    }

    /// Cancels the batch items of the node's attempt that are still running.
    private func cancelChildren(of job: Envelope, plan: FleetPlan, node: Int, count: Int) async throws {
        for index in 1...max(1, count) {
            let id = childID(job, node: plan.plan.ids[node], index: index)
            guard try await ledger.records.value(at: RunKeys.meta(id)) != nil, try await ledger.terminal(id) == nil else { continue }
            _ = try await finisher.finish(id, TerminalRecord(RunRules.cancelled))
        }
    }

    /// For the reconciler: resumes the node again for each child that ended without its notice
    /// having been acted on (the notice was lost with a worker). Returns how many it sent.
    func repeatLostNotices(
        run: String, plan fleetPlan: FleetPlan, node: Int, control: ControlNode, attempt: Int, record: ControlRecord
    ) async throws -> Int {
        let job = Envelope(
            kind: .job, runID: run, blueprintID: fleetPlan.plan.blueprint.id, blueprintVersion: fleetPlan.plan.blueprint.version,
            nodeID: fleetPlan.plan.ids[node], attempt: attempt, fencingToken: record.fencingToken, payload: record.input)
        var indices: [Int] = []
        switch control {
        case .subworkflow:
            indices = [0]
        case .loop:
            // Only the latest pass can be waiting for its notice.
            var pass = 1
            while try await ledger.records.value(at: RunKeys.meta(childID(job, node: job.nodeID, index: pass + 1))) != nil { pass += 1 }
            indices = [pass]
        case .batch:
            guard record.count > 0 else { return 0 }
            let done = Set(try await ledger.records.members(of: RunKeys.batchDone(run, node, attempt: attempt)))
            indices = (1...record.count).filter { !done.contains(String($0)) }
        case .wait, .sleep:
            return 0
        }
        var sent = 0
        for index in indices where try await ledger.terminal(childID(job, node: job.nodeID, index: index)) != nil {
            try await publisher.transport.publish(
                QueueMessage(body: resumeEnvelope(.child(index: index), job: job).encoded(), priority: fleetPlan.priorities[node]),
                to: fleetPlan.queues[node])
            sent += 1
        }
        if sent > 0 {
            logger.info(
                "resumed a node whose child runs' notices were lost",
                metadata: ["weft.run": "\(run)", "weft.node": "\(job.nodeID)", "weft.count": "\(sent)"])
        }
        return sent
    }

    // MARK: Signals

    /// Resumes a wait of `run` with a signal (see ``DistributedRuntime/signal(runID:nodeID:action:payload:)``).
    func signal(run: String, nodeID: String, action: String, payload: JSONValue) async throws {
        guard let meta = try await ledger.meta(run) else {
            throw WeftError(.unknownRun, "No run \"\(run)\" is known to the store")
        }
        if let terminal = try await ledger.terminal(run) {
            throw WeftError(
                .runFinished, "Run \"\(run)\" has ended (\(terminal.status.rawValue)); it takes no more signals")
        }
        guard let fleetPlan = catalog.plan(id: meta.blueprintID, version: meta.blueprintVersion) else {
            throw WeftError(.unknownBlueprint, "Blueprint \"\(meta.blueprintID)\" v\(meta.blueprintVersion) is not registered here")
        }
        let plan = fleetPlan.plan
        guard let node = plan.indexByID[nodeID] else {
            throw WeftError(.unknownNode, "Blueprint \"\(meta.blueprintID)\" has no node \"\(nodeID)\"")
        }
        guard case .wait(let wait) = plan.controls[node] else {
            throw WeftError(.notWaiting, "Node \"\(nodeID)\" of run \"\(run)\" is not a wait; it takes no signals")
        }
        guard wait.actions.isEmpty || wait.actions.contains(action) else {
            throw WeftError(
                .invalidSignal, "Node \"\(nodeID)\" waits for \(wait.actions.joined(separator: ", ")), not \"\(action)\"")
        }
        if try await ledger.records.value(at: RunKeys.result(run, node, 0)) != nil {
            throw WeftError(.notWaiting, "Node \"\(nodeID)\" of run \"\(run)\" was already resumed")
        }
        guard let (attempt, record) = try await currentControl(run: run, node: node) else {
            throw WeftError(.notWaiting, "Node \"\(nodeID)\" of run \"\(run)\" has not been reached yet")
        }
        let job = Envelope(
            kind: .job, runID: run, blueprintID: meta.blueprintID, blueprintVersion: meta.blueprintVersion, nodeID: nodeID,
            attempt: attempt, fencingToken: record.fencingToken, payload: record.input)
        let resume = resumeEnvelope(.signal(action: action, payload: payload), job: job)
        try await publisher.transport.publish(QueueMessage(body: resume.encoded(), priority: fleetPlan.priorities[node]), to: fleetPlan.queues[node])
        logger.info("signalled a waiting node", metadata: ["weft.run": "\(run)", "weft.node": "\(nodeID)", "weft.action": "\(action)"])
    }

    // MARK: Resume messages

    func resumeEnvelope(_ event: ResumeEvent, job: Envelope) -> Envelope {
        Envelope(
            kind: .resume, runID: job.runID, blueprintID: job.blueprintID, blueprintVersion: job.blueprintVersion,
            nodeID: job.nodeID, iteration: job.iteration, attempt: job.attempt, fencingToken: job.fencingToken,
            payload: event.payload)
    }

    /// A durable timer that resumes the node with `event`.
    private func scheduleResume(_ event: ResumeEvent, after delay: Duration, job: Envelope, plan: FleetPlan, node: Int) async throws {
        let action = TimerAction.publish(
            queue: plan.queues[node], envelope: resumeEnvelope(event, job: job).encoded(), priority: plan.priorities[node])
        _ = try await ledger.records.scheduleTimer(
            RunKeys.controlTimer(job.runID, node, attempt: job.attempt), after: delay, payload: action.encoded())
        timerScheduled(delay)
    }

    /// The current attempt of node `node`: the one after its last failed attempt.
    private func currentAttempt(run: String, node: Int) async throws -> Int {
        guard let bytes = try await ledger.records.value(at: RunKeys.lastFailure(run, node, 0)) else { return 1 }
        return try NodeResultRecord(decoding: bytes).attempt + 1
    }

    /// The current attempt of control node `node` and its record, if it has started.
    func currentControl(run: String, node: Int) async throws -> (attempt: Int, record: ControlRecord)? {
        let attempt = try await currentAttempt(run: run, node: node)
        guard let bytes = try await ledger.records.value(at: RunKeys.control(run, node, attempt: attempt)) else { return nil }
        return (attempt, try ControlRecord(decoding: bytes))
    }
}
