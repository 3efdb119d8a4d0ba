import Foundation
import Logging

/// Ends distributed runs: sets a run's terminal status once (compare-and-set from absent) with
/// what its end leaves behind, in one batch where it can; tells a parent run (durably) and the
/// client that started the run (several runs a message under load); cancels a failed run's
/// children. Safe to repeat: a redelivered job that ends a run again changes nothing and
/// announces at most once more.
final class RunFinisher: Sendable {
    let ledger: RunLedger
    let transport: any QueueTransport
    /// How long a finished run's records are kept (`nil`: for ever).
    let retention: Duration?
    let logger: Logger
    /// Tells clients that their runs ended, several runs a message under load.
    let replies: AnnouncementBatcher

    init(ledger: RunLedger, transport: any QueueTransport, retention: Duration?, logger: Logger) {
        self.ledger = ledger
        self.transport = transport
        self.retention = retention
        self.logger = logger
        self.replies = AnnouncementBatcher { envelope, queue in
            // Not durable: if a broker restart loses it, the waiting client reads the store on
            // its next look (DistributedRuntime's periodic check).
            try await transport.publish(QueueMessage(body: envelope.encoded(), isDurable: false), to: queue)
        }
    }

    /// Sets the run's terminal status, unless it has one, and announces the end to the client
    /// that started the run. Safe to repeat: a redelivered job that ends a run again changes
    /// nothing and announces at most once more.
    ///
    /// Runs in a task of its own, whatever becomes of the caller's: the job that ends a run is
    /// one that the worker cancels as soon as it sees the run ended, and a store may refuse work
    /// to a cancelled task (or report a write it committed as cancelled). Cut short between the
    /// status and the parent's resume, the end would leave a parent waiting for the reconciler.
    @discardableResult
    func finish(_ runID: String, _ terminal: TerminalRecord) async throws -> TerminalRecord {
        try await Task { try await self.end(runID, terminal) }.value
    }

    /// The steps of ``finish(_:_:)``.
    private func end(_ runID: String, _ terminal: TerminalRecord) async throws -> TerminalRecord {
        var terminal = terminal
        terminal.finishedAt = Date().timeIntervalSince1970
        let meta = try await ledger.recentMeta(runID)
        var end = runEnd(runID, terminal: terminal, meta: meta)
        if terminal.status == .completed, let meta, meta.parent == nil {
            // The common end: no parent to resume first, no children to cancel. The status and
            // what the end leaves behind go in one batch (one commit where the store can), then
            // the client hears. A worker dying between the two leaves the client to read the
            // store on its next look, as a lost announcement does.
            end.marker = meta.replyTo == nil ? nil : RunKeys.announced(runID)
            var batch = StoreBatch()
            let swapped = end.addFinish(to: &batch)
            switch try await ledger.records.apply(batch)[swapped] {
            case .swapped?:
                try await finished(runID, terminal, meta: meta, announcing: end.marker != nil)
                return terminal
            case .mismatch(let current)?:
                let final = try current.map { try TerminalRecord(decoding: $0) } ?? terminal
                return try await ended(runID, final, meta: meta, first: false, end: end)
            case .fenced?, nil:
                return try await ended(runID, terminal, meta: meta, first: false, end: end)
            }
        }
        let final: TerminalRecord
        // Whether this call ended the run: then no announcement can have been made yet.
        var first = false
        switch try await ledger.records.compareAndSet(RunKeys.status(runID), expected: nil, new: end.terminal, fence: nil) {
        case .swapped:
            final = terminal
            first = true
            logger.debug(
                "run finished", metadata: ["weft.run": "\(runID)", "weft.status": "\(terminal.status.rawValue)"])
        case .mismatch(let current):
            final = try current.map { try TerminalRecord(decoding: $0) } ?? terminal
        case .fenced:
            final = terminal
        }
        return try await ended(runID, final, meta: meta, first: first, end: end)
    }

    /// The writes of the run's end with `terminal`: the deadline timer to retire (when the run
    /// may have one) and the expiry timer to schedule (when finished runs are kept for a while);
    /// no marker (the caller decides).
    func runEnd(_ runID: String, terminal: TerminalRecord, meta: RunMeta?) -> RunEnd {
        RunEnd(
            run: runID, terminal: terminal.encoded(), marker: nil,
            cancelling: meta?.deadline != nil || meta == nil ? RunKeys.deadlineTimer(runID) : nil,
            expiry: retention.map {
                RunEnd.Expiry(key: RunKeys.expiryTimer(runID), after: $0, payload: TimerAction.expire.encoded())
            })
    }

    /// After this worker ended a run in the common way (no parent, status and end records
    /// written together): the client hears, when `announcing`.
    func finished(_ runID: String, _ terminal: TerminalRecord, meta: RunMeta, announcing: Bool) async throws {
        logger.debug("run finished", metadata: ["weft.run": "\(runID)", "weft.status": "\(terminal.status.rawValue)"])
        try await reply(runID, meta: meta, when: announcing)
    }

    /// What follows a run's terminal status: a parent hears first (durably); then the
    /// bookkeeping writes, issued together so that a group-committing store makes them one
    /// commit, while the starting client hears (its announcement is not durable: a client that
    /// misses one reads the store on its next look). The run leaves the progress index only
    /// with them: a worker dying before the parent is told leaves the run to the reconciler.
    private func ended(_ runID: String, _ final: TerminalRecord, meta: RunMeta?, first: Bool, end: RunEnd) async throws
        -> TerminalRecord
    {
        let marker = try await announceToParent(runID, meta: meta, first: first)
        async let replied: Void = reply(runID, meta: meta, when: marker != nil)
        if final.status != .completed {
            // Sub-workflows, loop passes and batch items still running end with their parent.
            try await cancelChildren(of: runID)
        }
        var end = end
        end.marker = marker
        var batch = StoreBatch()
        end.addRecords(to: &batch)
        _ = try await ledger.records.apply(batch)
        try await replied
        return final
    }

    /// Decides whether the run's end is still to be announced, once (at least once if a worker
    /// dies here), and tells a parent run; returns the key that notes the announcement, for the
    /// caller to write, or `nil` when there is nothing to announce. `first` says that the
    /// caller ended the run just now, so that no announcement can have been noted yet.
    private func announceToParent(_ runID: String, meta: RunMeta?, first: Bool) async throws -> StoreKey? {
        guard let meta, meta.replyTo != nil || meta.parent != nil else { return nil }
        let announced = RunKeys.announced(runID)
        if !first {
            guard try await ledger.records.value(at: announced) == nil else { return nil }
        }
        if let parent = meta.parent {
            // A child run: resume the parent's node (durably: nothing else would).
            try await transport.publish(QueueMessage(body: parent.envelope, priority: parent.priority), to: parent.queue)
        }
        return announced
    }

    /// Tells the client that started the run that it ended, when `announcing`.
    private func reply(_ runID: String, meta: RunMeta?, when announcing: Bool) async throws {
        guard announcing, let meta, let replyTo = meta.replyTo else { return }
        do {
            try await replies.announce(
                AnnouncementBatcher.Ended(run: runID, blueprintID: meta.blueprintID, blueprintVersion: meta.blueprintVersion),
                to: replyTo)
        } catch let error as WeftError where error.code == .unknownQueue {
            // The client is gone; its result stays readable in the store.
            logger.debug("the client that started the run is gone", metadata: ["weft.run": "\(runID)"])
        }
    }

    /// Cancels a run: nothing new starts; attempts still running end without effect.
    func cancel(_ runID: String) async throws -> TerminalRecord {
        guard try await ledger.meta(runID) != nil else {
            throw WeftError(.unknownRun, "No run \"\(runID)\" is known to the store")
        }
        return try await finish(runID, TerminalRecord(RunRules.cancelled))
    }

    /// Cancels every child run of `run` that is still running (its parent ended without them).
    func cancelChildren(of run: String) async throws {
        for child in try await ledger.records.members(of: RunKeys.children(run)) where try await ledger.terminal(child) == nil {
            _ = try await finish(child, TerminalRecord(RunRules.cancelled))
        }
    }
}
