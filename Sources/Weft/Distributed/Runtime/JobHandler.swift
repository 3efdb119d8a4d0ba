import Foundation
import Logging

/// Handles the deliveries of the job queues, one job's path in one direction: admit, read,
/// claim, run, write, advance (see ``handle(_:inline:started:continued:)``). A job is a claim
/// checked against the run's records (design §4): it runs only when they make its node ready,
/// and its result is recorded once, before anything it leads to is published.
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
                read: nil, plan: nil)
            guard successor != nil else { return outcome }
        } catch {
            return await outcome(of: error, envelope: envelope, retries: delivery.retries)
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
                    read: next.read, plan: next.plan)
            } catch let crash as SimulatedCrash {
                // The delivery stays unsettled; its redelivery replays the chain from the ledger.records.
                return .crashed(at: crash.step)
            } catch {
                let failed = await self.outcome(of: error, envelope: job, retries: 0)
                continued(failed)
                // A job of a run that ended is done with; any other goes back on its queue.
                if case .dropped = failed { return .completed }
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

    /// The outcome of a job whose handling threw `error`, its delivery put back `retries` times
    /// before: dead-lettered when retrying cannot fix the error or it failed too often, else put
    /// back.
    private func outcome(of error: any Error, envelope: Envelope, retries: Int) async -> DeliveryOutcome {
        if let crash = error as? SimulatedCrash { return .crashed(at: crash.step) }
        if Task.isCancelled, let terminal = await terminalOutsideCancellation(envelope.runID) {
            // The worker cancels the job in hand when its run ends elsewhere: what failed was
            // cut short on purpose, and the job has nothing left to do. (A job cancelled for
            // another reason, the worker stopping, goes back on its queue below.)
            logger.debug(
                "a job ended with its run", metadata: ["weft.run": "\(envelope.runID)", "weft.node": "\(envelope.nodeID)"])
            return .dropped(reason: "the run ended (\(terminal.status.rawValue)) while the job was handled")
        }
        if let error = error as? WeftError, error.code == .malformedMessage || error.code == .unsupportedVersion {
            // A stored record this worker cannot read: the job cannot progress here.
            logger.error(
                "dead-lettering a job whose run records cannot be read",
                metadata: ["weft.run": "\(envelope.runID)", "weft.error": "\(error)"])
            return .deadLettered(reason: "\(error)")
        }
        if (error as? any BackendFailure)?.isPermanent == true || (error as? WeftError)?.isPermanent == true {
            logger.error(
                "dead-lettering a job whose backend failure retrying cannot fix",
                metadata: ["weft.run": "\(envelope.runID)", "weft.node": "\(envelope.nodeID)", "weft.error": "\(error)"])
            return await deadLetterForGood(envelope, reason: "a backend refused the job's work, which retrying cannot fix: \(error)")
        }
        if retries + 1 >= options.maxBackendRetries {
            logger.error(
                "dead-lettering a job whose backend failed too often",
                metadata: ["weft.run": "\(envelope.runID)", "weft.node": "\(envelope.nodeID)", "weft.error": "\(error)"])
            return await deadLetterForGood(
                envelope,
                reason: "a backend failed \(retries + 1) times on this job (maxBackendRetries \(options.maxBackendRetries)); "
                    + "last: \(error)")
        }
        logger.warning(
            "a backend failed; the job goes back on its queue",
            metadata: ["weft.run": "\(envelope.runID)", "weft.node": "\(envelope.nodeID)", "weft.error": "\(error)"])
        return .requeued(reason: "\(error)")
    }

    /// Dead-letters a job of a run that nothing will run again, and fails the run with the reason
    /// (`job_dead_lettered`): else it would stay running for ever. Best effort, in a task of its
    /// own: when the store refuses this too, the run is failed by the next job of it that fails
    /// so, or by an operator.
    private func deadLetterForGood(_ envelope: Envelope, reason: String) async -> DeliveryOutcome {
        let (ledger, finisher, logger) = (self.ledger, self.finisher, self.logger)
        let run = envelope.runID
        let failure = RunFailure(
            nodeID: envelope.nodeID, attempt: envelope.attempt,
            cause: NodeFailure(
                message: "the job of node \"\(envelope.nodeID)\" was dead-lettered: \(reason)", errorType: "WeftError",
                code: WeftError.Code.jobDeadLettered.rawValue, isRetryable: false))
        await Task {
            do {
                guard let stored = try await StoredRun.read(run, from: ledger.records), stored.status == nil else { return }
                try await finisher.finish(run, TerminalRecord(status: .failed, output: nil, failure: failure))
            } catch {
                logger.error(
                    "could not fail the run of a dead-lettered job", metadata: ["weft.run": "\(run)", "weft.error": "\(error)"])
            }
        }.value
        return .deadLettered(reason: reason)
    }

    /// The run's terminal record, read in a task of its own: the calling task is cancelled, and
    /// a store may refuse to work for a cancelled task. `nil` when the run goes on or the read
    /// failed.
    private func terminalOutsideCancellation(_ run: String) async -> TerminalRecord? {
        let ledger = self.ledger
        return try? await Task { try await ledger.terminal(run) }.value
    }

    /// A successor a worker runs inline, with its first read when the write of its
    /// predecessor's record made it (see ``addFirstReads(to:run:node:iteration:withMeta:when:)``).
    struct InlineJob {
        var envelope: Envelope
        var read: [[UInt8]?]?
        /// The blueprint's plan, the predecessor's: no second look-up in the catalog.
        var plan: FleetPlan
    }

    /// Adds to `batch` what a job reads first, in this order: the run's status, the node's
    /// record, whether the run has context and, `withMeta`, the run's record; each read
    /// attempted when `conditions` hold.
    func addFirstReads(
        to batch: inout StoreBatch, run: String, node: Int, iteration: Int, withMeta: Bool, when conditions: StoreBatch.Conditions
    ) {
        batch.read(RunKeys.status(run), when: conditions)
        batch.read(RunKeys.result(run, node, iteration), when: conditions)
        batch.read(RunKeys.hasContext(run), when: conditions)
        if withMeta { batch.read(RunKeys.meta(run), when: conditions) }
    }

    /// A job admitted to the handler: a job or resume of a node of a blueprint this worker has.
    struct Job {
        let envelope: Envelope
        let plan: FleetPlan
        let node: Int
        /// Whether the job is a claim to check against the run's records (a delivered job, not
        /// one run inline nor a control node's resume).
        let checksReadiness: Bool
        /// The envelope's run and iteration, kept apart: read through the envelope, each
        /// reading copied the whole envelope.
        let run: String
        let iteration: Int

        init(envelope: Envelope, plan: FleetPlan, node: Int, checksReadiness: Bool) {
            self.envelope = envelope
            self.plan = plan
            self.node = node
            self.checksReadiness = checksReadiness
            self.run = envelope.runID
            self.iteration = envelope.iteration
        }
    }

    /// What a job's first read found, in a run that is still going.
    struct FirstRead {
        let meta: RunMeta
        /// The node's record, when an earlier delivery made it.
        let recorded: NodeResultRecord?
        let hasContext: Bool
        /// The record of the node's one predecessor, read with the rest, for the readiness check.
        let predecessor: [[UInt8]?]?
    }

    /// What a step of a job's path gives: its result, or how the job ends here. One concrete
    /// type per step, so that no generic metadata is looked up on the hot path.
    enum Admission {
        case admitted(Job)
        case settled(DeliveryOutcome)
    }

    enum Reading {
        case read(FirstRead)
        case settled(DeliveryOutcome)
    }

    enum Running {
        case ran(NodeResultRecord)
        case settled(DeliveryOutcome)
    }

    /// What the write made besides the record: the set additions made with it (`nil`: none, or
    /// another delivery's record stands) and the inline successor's first read.
    struct Written {
        var added: Added?
        var inlineRead: InlineRead?
    }

    /// The set additions a node's record was written with, and the sizes they left.
    struct Added {
        var batch: RunAdvancer.ArrivalBatch
        var sizes: [Int]
    }

    /// The first read of the successor run inline, made with its predecessor's record.
    struct InlineRead {
        var node: Int
        var values: [[UInt8]?]
    }

    /// A run's end added to a last node's batch: the status's compare-and-set, the terminal
    /// record, and whether the client is to hear.
    struct Ending {
        var swapped: StoreBatch.Label<CompareAndSetOutcome>
        var terminal: TerminalRecord
        var announcing: Bool
    }

    enum Writing {
        case written(Written)
        case settled(DeliveryOutcome)
    }

    /// Handles one job, in order: admit it, read the run's records, check that they make its
    /// node ready and raise its fence, run the attempt, record its result (with what follows
    /// from it), and advance the run. `delivery` is `nil` for a job run inline, `depth`
    /// successors into the delivery; a single ready successor that `inline` allows, decided once
    /// the node has run (the worker may have begun to stop meanwhile), is returned instead of
    /// published. `read` is the job's first read when its predecessor's write made it.
    private func handle(
        _ envelope: Envelope, delivery: QueueDelivery?, queue: String, deliveryCount: Int, now: ContinuousClock.Instant,
        inline: InlineSuccessors?, depth: Int, read: [[UInt8]?]?, plan known: FleetPlan?
    ) async throws -> (DeliveryOutcome, InlineJob?) {
        var keep: Set<String>? {
            guard let inline, inline.allows(depth: depth, deliveryCount: deliveryCount) else { return nil }
            return inline.queues
        }
        let job: Job
        switch try await admit(envelope, delivery: delivery, queue: queue, plan: known) {
        case .admitted(let admitted): job = admitted
        case .settled(let outcome): return (outcome, nil)
        }
        if let faults { try await faults.checkpoint(.received, envelope: envelope) }
        let first: FirstRead
        switch try await firstRead(job, now: now, read: read) {
        case .read(let found): first = found
        case .settled(let outcome): return (outcome, nil)
        }
        let lost = deliveryCount - 1
        if lost >= options.maxLostDeliveries {
            return (try await quarantine(envelope, node: job.node, lost: lost, queue: queue, countedBy: delivery?.countSource ?? .transport), nil)
        }
        let report = RunEventReport.forRun(job.run, meta: first.meta)
        var record: NodeResultRecord
        if let recorded = first.recorded {
            // A redelivery, or a duplicate: continue from what was recorded. A skipped node has
            // nothing to continue: no job of it was ever published.
            if recorded.status == .skipped {
                return (.dropped(reason: "node \"\(envelope.nodeID)\" was skipped (its incoming edges were all skipped)"), nil)
            }
            record = recorded
        } else {
            if let refusal = try await claim(job, first) { return (refusal, nil) }
            switch try await run(job, first, report: report) {
            case .ran(let produced): record = produced
            case .settled(let outcome): return (outcome, nil)
            }
            let keeping = keep
            let written: Written
            switch try await write(&record, of: job, first, now: now, keep: keeping, report: report) {
            case .written(let made): written = made
            case .settled(let outcome): return (outcome, nil)
            }
            if let faults { try await faults.checkpoint(.recorded, envelope: envelope) }
            if let added = written.added {
                let kept = try await advancer.advance(
                    run: job.run, plan: job.plan, meta: first.meta, node: job.node, iteration: job.iteration, record: record,
                    envelope: envelope, now: now, added: (added.batch, added.sizes), keep: keeping, report: report)
                return (.completed, kept.map { successor in
                    let read = written.inlineRead.flatMap { job.plan.plan.ids[$0.node] == successor.nodeID ? $0.values : nil }
                    return InlineJob(envelope: successor, read: read, plan: job.plan)
                })
            }
        }
        let kept = try await advancer.advance(
            run: job.run, plan: job.plan, meta: first.meta, node: job.node, iteration: job.iteration, record: record,
            envelope: envelope, now: now, keep: keep, report: report)
        return (.completed, kept.map { InlineJob(envelope: $0, read: nil, plan: job.plan) })
    }

    // MARK: The steps of a job's path

    /// Admits a message of the job queues as a job of a node this worker can run, or says how
    /// to settle it: a job for a blueprint this worker lacks is left for another (rule 13);
    /// one that Weft cannot have published is dead-lettered with its reason.
    @inline(__always) private func admit(_ envelope: Envelope, delivery: QueueDelivery?, queue: String, plan known: FleetPlan?) async throws
        -> Admission
    {
        guard envelope.kind == .job || envelope.kind == .resume else {
            return .settled(.deadLettered(reason: "a \(envelope.kind) message does not belong on job queue \(queue)"))
        }
        let reusable = known.flatMap { known in
            known.plan.blueprint.id == envelope.blueprintID && known.plan.blueprint.version == envelope.blueprintVersion ? known : nil
        }
        guard let plan = reusable ?? catalog.plan(id: envelope.blueprintID, version: envelope.blueprintVersion) else {
            return .settled(try await leave(envelope, delivery: delivery, queue: queue))
        }
        guard let node = plan.plan.indexByID[envelope.nodeID] else {
            return .settled(.deadLettered(
                reason: "blueprint \"\(envelope.blueprintID)\" v\(envelope.blueprintVersion) has no node \"\(envelope.nodeID)\""))
        }
        guard envelope.attempt >= 1 else { return .settled(.deadLettered(reason: "attempt \(envelope.attempt) is not valid")) }
        if envelope.kind == .resume && !plan.plan.shapes[node].isControl {
            return .settled(.deadLettered(
                reason: "node \"\(envelope.nodeID)\" is not a loop, sub-workflow, batch, wait or sleep; it takes no resume"))
        }
        if let reason = Self.implausibility(of: envelope, plan: plan.plan, node: node) {
            logger.warning(
                "dead-lettering an implausible job", metadata: ["weft.run": "\(envelope.runID)", "weft.reason": "\(reason)"])
            return .settled(.deadLettered(reason: reason))
        }
        return .admitted(Job(envelope: envelope, plan: plan, node: node, checksReadiness: delivery != nil && envelope.kind == .job))
    }

    /// The job's first read, one store read: the run's status, the node's record, whether the
    /// run has context, the run's record (unless this process read it lately) and, for a claim
    /// to check, the record of the node's one predecessor. `read` is that read when the write of
    /// the predecessor's record made it. Settles a job of a run that ended, is unknown, or is
    /// pinned to another blueprint.
    @inline(__always) private func firstRead(_ job: Job, now: ContinuousClock.Instant, read: [[UInt8]?]?) async throws -> Reading {
        let run = job.run
        let cached = ledger.freshMeta(run, now: now)
        let current: [[UInt8]?]
        let incoming = job.plan.plan.adjacency.incoming(job.node)
        var predecessor: [[UInt8]?]?
        if let read, read.count == 4 || (read.count == 3 && cached != nil) {
            current = read
        } else {
            var batch = StoreBatch(capacity: 5)
            addFirstReads(to: &batch, run: run, node: job.node, iteration: job.iteration, withMeta: cached == nil, when: .always)
            let count = batch.count
            if job.checksReadiness && incoming.count == 1 {
                let source = Int(job.plan.plan.ends[incoming[incoming.startIndex]].source)
                batch.read(RunKeys.result(run, source, job.iteration))
            }
            let results = try await ledger.records.apply(batch)
            current = (0..<count).map { results[StoreBatch.Label<[UInt8]?>(step: $0)] }
            if batch.count > count { predecessor = [results[StoreBatch.Label<[UInt8]?>(step: count)]] }
        }
        if let bytes = current[0] {
            return .settled(.dropped(reason: "the run is already \(try TerminalRecord(decoding: bytes).status.rawValue)"))
        }
        guard let meta = try cached ?? current[3].map({ try ledger.cachedMeta(run, bytes: $0, now: now) }) else {
            return .settled(.deadLettered(reason: "no run \"\(run)\" is known to the store"))
        }
        let envelope = job.envelope
        guard meta.blueprintID == envelope.blueprintID, meta.blueprintVersion == envelope.blueprintVersion else {
            return .settled(.deadLettered(
                reason: "the job names blueprint \"\(envelope.blueprintID)\" v\(envelope.blueprintVersion) but run \"\(run)\" "
                    + "is pinned to \"\(meta.blueprintID)\" v\(meta.blueprintVersion)"))
        }
        return .read(FirstRead(
            meta: meta, recorded: try current[1].map { try NodeResultRecord(decoding: $0) }, hasContext: current[2] != nil,
            predecessor: predecessor))
    }

    /// Checks a job that has no record yet against the run's records (its node is ready) and,
    /// for a retry or a re-publication, raises the node's fence before it runs, so that an
    /// older attempt still running somewhere can no longer commit. Returns how to settle a job
    /// that may not run.
    @inline(__always) private func claim(_ job: Job, _ first: FirstRead) async throws -> DeliveryOutcome? {
        let envelope = job.envelope
        if job.checksReadiness, let reason = try await unreadiness(
            run: job.run, plan: job.plan.plan, node: job.node, iteration: job.iteration, sources: first.predecessor)
        {
            logger.warning(
                "dead-lettering a job whose node the run's records do not make ready",
                metadata: ["weft.run": "\(job.run)", "weft.node": "\(envelope.nodeID)", "weft.reason": "\(reason)"])
            return .deadLettered(reason: reason)
        }
        if envelope.fencingToken > RunKeys.token(attempt: 1) && envelope.kind == .job {
            let marker = StoreKey(run: job.run, name: "x\(job.node).\(job.iteration).\(envelope.fencingToken)")
            let fence = Fence(key: RunKeys.fence(job.run, job.node, job.iteration), token: envelope.fencingToken)
            if try await ledger.records.setIfAbsent(marker, [], fence: fence) == .fenced {
                return .dropped(reason: "attempt \(envelope.attempt) was superseded by a newer one")
            }
        }
        return nil
    }

    /// Runs the job's attempt and returns the record it produced, or how to settle a job whose
    /// attempt ended otherwise (a retry scheduled, a control node suspended, the run ended while
    /// it ran).
    @inline(__always) private func run(_ job: Job, _ first: FirstRead, report: RunEventReport?) async throws -> Running {
        let envelope = job.envelope
        if let report, envelope.kind == .job {
            report.note(.nodeStarted(nodeID: envelope.nodeID, attempt: envelope.attempt))
            await publisher.send(report)
        }
        let record: NodeResultRecord
        switch try await attempts.execute(
            envelope, plan: job.plan, node: job.node, meta: first.meta, hasContext: first.hasContext, report: report)
        {
        case .finished(let produced): record = produced
        case .outcome(let outcome):
            await publisher.send(report)
            return .settled(outcome)
        }
        if let faults { try await faults.checkpoint(.executed, envelope: envelope) }
        // A failure may come from the run ending elsewhere (its attempt was cancelled): then
        // the job ends here. A success is recorded even so: what it publishes is dropped on
        // delivery, and the run's status cannot change again.
        if record.status == .failed || Task.isCancelled, let terminal = try await ledger.terminal(job.run) {
            return .settled(.dropped(reason: "the run ended (\(terminal.status.rawValue)) while the node ran"))
        }
        return .ran(record)
    }

    /// Writes the node's record (failed, for good, when it is larger than the fleet allows: its
    /// successors' jobs would carry its output), in one batch with what follows from it when it is stored: its
    /// set additions (finished, terminal, join arrivals) unless it has context writes (those
    /// must be applied between the two, so that no successor runs before it can see them), and
    /// either the run's end (a run's last node, taking effect when the additions show that the
    /// node completes the run) or the first read of the successor this worker will run inline.
    /// Leaves in `record` the record that stands (this one, or an earlier delivery's) and returns
    /// the additions made and the inline successor's read; settles a job that was fenced off or
    /// ended the run.
    @inline(__always) private func write(
        _ record: inout NodeResultRecord, of job: Job, _ first: FirstRead, now: ContinuousClock.Instant, keep: Set<String>?,
        report: RunEventReport?
    ) async throws -> Writing {
        let (run, node, iteration, envelope) = (job.run, job.node, job.iteration, job.envelope)
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
        // A resume was checked against its attempt's record (``ControlNodes/resumeControl``):
        // the attempt's first job may have been fenced off by a re-publication since, which
        // changes nothing for the children it started.
        let fence = envelope.kind == .resume ? nil : Fence(key: RunKeys.fence(run, node, iteration), token: envelope.fencingToken)
        let batch = record.status == .completed && record.patch.isEmpty
            ? advancer.arrivalBatch(run: run, plan: job.plan, node: node, iteration: iteration, record: record) : nil
        let follower = batch == nil ? nil : inlineFollower(plan: job.plan, node: node, record: record, keep: keep)
        // The record, its additions, then four reads or the run's end (at most five operations).
        // Built in place: the additions and the reads are consecutive steps, named by their
        // first index, with no array of labels or keys on the way.
        let additions = batch?.additions ?? []
        var write = StoreBatch(capacity: 6 + additions.count)
        let stored = write.setIfAbsent(RunKeys.result(run, node, iteration), encoded, fence: fence)
        let added = write.count
        for addition in additions { write.addToSet(addition.key, member: addition.member, when: .stored(stored)) }
        var ending: Ending?
        let reads = write.count
        if let follower {
            // The run's record is in this process's cache since this job's first read: the
            // successor's first read needs no copy of it (and reads it again if it was evicted).
            addFirstReads(to: &write, run: run, node: follower, iteration: iteration, withMeta: false, when: .stored(stored))
        } else if let batch {
            ending = addLastNodeEnd(
                to: &write, stored: stored, added: added, run: run, plan: job.plan, meta: first.meta, node: node, record: record,
                batch: batch)
        }
        let readCount = write.count - reads
        let results = try await ledger.records.apply(write)
        switch results[stored] ?? .fenced {
        case .stored:
            if let ending, results[ending.swapped] == .swapped {
                if let faults { try await faults.checkpoint(.recorded, envelope: envelope) }
                await publisher.send(report)
                try await finisher.finished(run, ending.terminal, meta: first.meta, announcing: ending.announcing)
                return .settled(.completed)
            }
            return .written(Written(
                added: batch.map { Added(batch: $0, sizes: (added..<added + additions.count).map { results[StoreBatch.Label<Int>(step: $0)] ?? 0 }) },
                inlineRead: follower.map { InlineRead(node: $0, values: (reads..<reads + readCount).map { results[StoreBatch.Label<[UInt8]?>(step: $0)] }) }))
        case .exists(let bytes):
            // Another delivery recorded first: its result stands, and routes. What this
            // attempt noted did not happen.
            report?.discard()
            record = try NodeResultRecord(decoding: bytes)
            return .written(Written(added: nil, inlineRead: nil))
        case .fenced:
            return .settled(.dropped(reason: "attempt \(envelope.attempt) was superseded by a newer one"))
        }
    }

    /// Adds to `write`, the batch of `node`'s record, the run's end, when the record may complete
    /// the run in the common way: the node has no outgoing edge (its output is the run's when
    /// it is the only terminal node), no context writes, and the run no parent. The end takes
    /// effect when the record was stored (`stored`) and its additions (`added`) leave every node
    /// done and it the only terminal node, as ``RunAdvancer/ArrivalBatch/completesAlone(_:nodeCount:)``
    /// decides; `added` is the index of the first addition. Returns the label of the status's compare-and-set, the terminal record and
    /// whether the client is to hear; `nil` when the record cannot end the run.
    ///
    /// Synchronous on purpose: the `RunEnd` never lives in the async frame of ``write``. With it
    /// bound there (`if let last = …` across the batch's `await`), Swift 6.3.1's release build
    /// released its terminal bytes once too often, and the store kept a freed buffer as the
    /// run's status (found by AddressSanitizer on `distributed-probe`; debug builds were fine).
    private func addLastNodeEnd(
        to write: inout StoreBatch, stored: StoreBatch.Label<SetIfAbsentOutcome>, added: Int, run: String,
        plan: FleetPlan, meta: RunMeta, node: Int, record: NodeResultRecord, batch: RunAdvancer.ArrivalBatch
    ) -> Ending? {
        guard record.status == .completed, record.patch.isEmpty, meta.parent == nil, plan.plan.adjacency.outgoing(node).isEmpty,
            batch.joinCount == 0, let terminals = batch.terminalsIndex
        else { return nil }
        var terminal = TerminalRecord(RunRules.completed(plan: plan.plan, terminals: [(node, record.output ?? .null)]))
        terminal.finishedAt = Date().timeIntervalSince1970
        var end = finisher.runEnd(run, terminal: terminal, meta: meta)
        end.marker = meta.replyTo == nil ? nil : RunKeys.announced(run)
        let due: StoreBatch.Conditions = [
            .stored(stored), .size(step: added + batch.finishedIndex, equals: plan.plan.nodeCount),
            .size(step: added + terminals, equals: 1),
        ]
        return Ending(swapped: end.addFinish(to: &write, when: due), terminal: terminal, announcing: end.marker != nil)
    }
}
