import Logging

struct TimerFirer: Sendable {
    let ledger: RunLedger
    let finisher: RunFinisher
    let transport: any QueueTransport
    let options: FleetOptions
    let logger: Logger

    /// Fires up to `limit` durable timers that are due (retries after their backoff, jobs
    /// left for other workers, run deadlines); returns how many fired and when the next is due.
    func fireDueTimers(limit: Int = 128) async throws -> (fired: Int, nextDue: Duration?) {
        let claim = try await ledger.records.claimDueTimers(limit: limit, claimFor: options.timerClaim)
        for timer in claim.timers { try await fire(timer) }
        return (claim.timers.count, claim.nextDue)
    }

    private func fire(_ timer: DueTimer) async throws {
        let run = timer.key.run
        let action: TimerAction
        do {
            action = try TimerAction(decoding: timer.payload)
        } catch {
            logger.error("discarding a timer that cannot be read", metadata: ["weft.timer": "\(timer.key)", "weft.error": "\(error)"])
            try await ledger.records.retireTimer(timer.key)
            return
        }
        switch action {
        case .publish(let queue, let envelope, let priority):
            if try await ledger.terminal(run) == nil {
                try await transport.publish(QueueMessage(body: envelope, priority: priority), to: queue)
            }
        case .deadline:
            if try await ledger.terminal(run) == nil, let meta = try await ledger.meta(run), let deadline = meta.deadline {
                logger.info("run passed its deadline", metadata: ["weft.run": "\(run)"])
                try await finisher.finish(run, TerminalRecord(RunRules.deadlinePassed(deadline)))
            }
        case .expire:
            // Retention: the run ended long ago. Its records go, this timer with them.
            try await ledger.contexts.deleteRun(run)
            try await ledger.records.deleteRun(run)
            logger.debug("deleted a finished run's records", metadata: ["weft.run": "\(run)"])
            return
        }
        try await ledger.records.retireTimer(timer.key)
    }
}
