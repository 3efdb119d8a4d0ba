import Synchronization

/// Sends the announcements that runs ended to the clients' reply queues, gathered: while one
/// message is on its way to a reply queue, the ends that come meanwhile for the same queue wait
/// and go together in the next one (one ``Envelope/Kind/runFinished`` message naming them all).
///
/// Nothing waits for company: an announcement with no message in flight to its queue goes at
/// once, so a lone run's end is announced as soon as before. Under load, a client hears of many
/// runs per message, which spares the broker a publish, a delivery and an ack per run.
///
/// Each caller returns once the message naming its run was published (or throws its error).
final class AnnouncementBatcher: Sendable {
    /// The run an announcement names.
    struct Ended: Sendable {
        var run: String
        var blueprintID: String
        var blueprintVersion: String
    }

    /// A caller waiting for a message to name its run.
    private struct Waiting: Sendable {
        var ended: Ended
        var continuation: CheckedContinuation<Turn, any Error>
    }

    /// What a waiting caller is woken for.
    private enum Turn: Sendable {
        /// The message naming its run was published.
        case published
        /// It sends the next message for the queue: its own run and `others`, whose callers it
        /// wakes once that message is out.
        case send(others: [Waiting])
    }

    /// Per reply queue: whether a message is in flight, and the callers waiting for the next.
    private struct QueueState {
        var sending = false
        var waiting: [Waiting] = []
    }

    /// The most runs one message names; more wait for the next.
    static let maxRunsPerMessage = 256

    private let queues = Mutex<[String: QueueState]>([:])
    private let publish: @Sendable (Envelope, String) async throws -> Void

    /// Creates a batcher that sends with `publish(message, queue)`.
    init(publish: @escaping @Sendable (Envelope, String) async throws -> Void) {
        self.publish = publish
    }

    /// Announces that a run ended to `queue`; returns once a message naming it was published.
    func announce(_ ended: Ended, to queue: String) async throws {
        let idle = queues.withLock { queues in
            if queues[queue]?.sending == true { return false }
            queues[queue, default: QueueState()].sending = true
            return true
        }
        if idle { return try await send(ended, with: [], to: queue) }
        let turn = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Turn, any Error>) in
            // The message in flight may have gone meanwhile, leaving the queue idle.
            let idle = queues.withLock { queues in
                if queues[queue]?.sending == true {
                    queues[queue]!.waiting.append(Waiting(ended: ended, continuation: continuation))
                    return false
                }
                queues[queue, default: QueueState()].sending = true
                return true
            }
            if idle { continuation.resume(returning: .send(others: [])) }
        }
        if case .send(let others) = turn { try await send(ended, with: others, to: queue) }
    }

    /// How many callers wait for the next message to `queue` (for tests).
    func waitingCount(on queue: String) -> Int {
        queues.withLock { $0[queue]?.waiting.count ?? 0 }
    }

    /// Publishes one message naming `own` and the runs of `others`, wakes their callers, then
    /// hands the queue to the first caller waiting, with the next ones, or marks it idle.
    /// Throws what publishing threw.
    private func send(_ own: Ended, with others: [Waiting], to queue: String) async throws {
        var envelope = Envelope(
            kind: .runFinished, runID: own.run, blueprintID: own.blueprintID, blueprintVersion: own.blueprintVersion)
        if !others.isEmpty { envelope.payload = .array(others.map { .string($0.ended.run) }) }
        var failure: (any Error)?
        do {
            try await publish(envelope, queue)
        } catch {
            failure = error
        }
        for waiting in others {
            if let failure { waiting.continuation.resume(throwing: failure) } else { waiting.continuation.resume(returning: .published) }
        }
        let next = queues.withLock { queues -> (Waiting, [Waiting])? in
            guard var state = queues[queue], !state.waiting.isEmpty else {
                queues[queue] = nil
                return nil
            }
            let count = min(state.waiting.count, Self.maxRunsPerMessage)
            let taken = Array(state.waiting.prefix(count))
            state.waiting.removeFirst(count)
            queues[queue] = state
            return (taken[0], Array(taken.dropFirst()))
        }
        if let (first, rest) = next { first.continuation.resume(returning: .send(others: rest)) }
        if let failure { throw failure }
    }
}
