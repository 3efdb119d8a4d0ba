import Synchronization

/// A worker's counts of outcomes, one atomic each, so that counting takes no lock.
final class WorkerCounters: Sendable {
    private let completed = Atomic<Int>(0)
    private let retriesScheduled = Atomic<Int>(0)
    private let dropped = Atomic<Int>(0)
    private let left = Atomic<Int>(0)
    private let deadLettered = Atomic<Int>(0)
    private let quarantined = Atomic<Int>(0)
    private let requeued = Atomic<Int>(0)
    private let crashed = Atomic<Int>(0)

    func count(_ outcome: DeliveryOutcome) {
        switch outcome {
        case .completed, .suspended: completed.add(1, ordering: .relaxed)
        case .retryScheduled: retriesScheduled.add(1, ordering: .relaxed)
        case .dropped: dropped.add(1, ordering: .relaxed)
        case .left: left.add(1, ordering: .relaxed)
        case .deadLettered: deadLettered.add(1, ordering: .relaxed)
        case .quarantined: quarantined.add(1, ordering: .relaxed)
        case .requeued: requeued.add(1, ordering: .relaxed)
        case .crashed: crashed.add(1, ordering: .relaxed)
        }
    }

    var snapshot: Worker.Statistics {
        var statistics = Worker.Statistics()
        statistics.completed = completed.load(ordering: .relaxed)
        statistics.retriesScheduled = retriesScheduled.load(ordering: .relaxed)
        statistics.dropped = dropped.load(ordering: .relaxed)
        statistics.left = left.load(ordering: .relaxed)
        statistics.deadLettered = deadLettered.load(ordering: .relaxed)
        statistics.quarantined = quarantined.load(ordering: .relaxed)
        statistics.requeued = requeued.load(ordering: .relaxed)
        statistics.crashed = crashed.load(ordering: .relaxed)
        return statistics
    }
}
