/// What a worker did with one delivery: the answer of ``Worker/process(_:)``.
package enum DeliveryOutcome: Sendable, Hashable {
    /// The job's effects are recorded and its successors published; the delivery was acked.
    case completed
    /// The node is a loop, sub-workflow, batch, wait or sleep: its attempt started what it
    /// waits for (child runs, a timer) and is suspended until a resume message; acked.
    case suspended(reason: String)
    /// A failed attempt was recorded and its retry scheduled as a durable timer; acked.
    case retryScheduled(attempt: Int, after: Duration)
    /// The job had nothing left to do (its run is over, or it is a stale attempt); acked.
    case dropped(reason: String)
    /// The worker lacks the blueprint version the run is pinned to; the job was handed back
    /// (through a durable timer) for a worker that has it. Acked.
    case left(reason: String)
    /// The job can never run (malformed, a newer format, an unknown node or run); it was moved
    /// to the dead-letter queue with this reason.
    case deadLettered(reason: String)
    /// The job crashed its workers too often; it was moved to the dead-letter queue with this
    /// signature and the run marked. Re-drive it with ``DistributedRuntime/redriveQuarantined(limit:)``.
    case quarantined(signature: String)
    /// A backend failed (a store or the transport); the delivery was put back to be tried again.
    case requeued(reason: String)
    /// A ``FaultInjector`` crashed the worker at this step: the delivery was left unsettled, as
    /// a dying process leaves it.
    case crashed(at: WorkerStep)

    /// Whether the delivery was acked.
    package var isAcked: Bool {
        switch self {
        case .completed, .suspended, .retryScheduled, .dropped, .left: return true
        case .deadLettered, .quarantined, .requeued, .crashed: return false
        }
    }
}

/// The steps of handling a job (design §4), where a ``FaultInjector`` may crash a worker.
package enum WorkerStep: String, Sendable, Hashable, CaseIterable {
    /// The delivery was decoded; nothing was done yet.
    case received
    /// The node ran; nothing was recorded.
    case executed
    /// The result was recorded; no join arrival was recorded and nothing was published.
    case recorded
    /// Join arrivals were recorded; the ready successors are not yet published.
    case arrived
    /// Successors were published; the delivery is not yet acked.
    case published
}

/// Crashes a worker between two steps of handling a job, for fault-injection tests such as
/// the seeded fault simulator. Throwing from ``checkpoint(_:envelope:)`` makes the worker stop
/// where it is and leave the delivery unsettled.
package protocol FaultInjector: Sendable {
    /// Called at each step; throw to crash.
    func checkpoint(_ step: WorkerStep, envelope: Envelope) async throws
}

/// The error a ``FaultInjector`` throws to crash a worker.
package struct SimulatedCrash: Error, Sendable, Hashable {
    /// Where the worker crashed.
    package var step: WorkerStep

    /// Creates a crash at `step`.
    package init(step: WorkerStep) { self.step = step }
}
