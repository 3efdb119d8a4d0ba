import Synchronization

/// The events of one job of a run whose client asked for them (``DistributedRuntime/events()``):
/// noted while the job is handled and sent to the client's reply queue, several to a message,
/// before anything that follows from them is published, so the client sees a run's events in
/// the order the embedded runtime emits them. Not durable: a broker restart may lose some.
final class RunEventReport: Sendable {
    let run: String
    /// The client's reply queue.
    let queue: String
    private let pending = Mutex<[RunEvent.Kind]>([])

    init(run: String, queue: String) {
        self.run = run
        self.queue = queue
    }

    /// The report for a job of the run `meta` describes, if its client asked for events.
    static func forRun(_ run: String, meta: RunMeta) -> RunEventReport? {
        guard meta.reportsEvents, let queue = meta.replyTo else { return nil }
        return RunEventReport(run: run, queue: queue)
    }

    func note(_ kind: RunEvent.Kind) {
        pending.withLock { $0.append(kind) }
    }

    /// Forgets what was noted: it did not happen (another delivery's result stands).
    func discard() {
        pending.withLock { $0.removeAll() }
    }

    /// The message carrying the events noted since the last one, if any.
    func takeMessage() -> QueueMessage? {
        let kinds = pending.withLock { pending in
            defer { pending.removeAll() }
            return pending
        }
        guard !kinds.isEmpty else { return nil }
        let envelope = Envelope(
            kind: .event, runID: run, blueprintID: "", blueprintVersion: "", payload: .array(kinds.map(\.wireValue)))
        return QueueMessage(body: envelope.encoded(), isDurable: false)
    }
}
