import Foundation
import Metrics
import Synchronization
import Tracing
import Weft

/// Middleware that measures every node attempt (`weft_node_duration_seconds`, by node) and
/// traces it as a span (`weft.node <id>`, with the run, node and attempt as attributes, so a
/// tracing backend groups a run's attempts).
public struct WorkerInstrumentation: NodeMiddleware {
    /// Where failed attempts are noted, for the worker's report.
    public let failures: RecentFailures

    /// Creates the middleware; it reports to the bootstrapped metrics and tracing systems.
    public init(failures: RecentFailures = RecentFailures()) {
        self.failures = failures
    }

    public func intercept(_ context: NodeContext, next: NodeMiddlewareNext) async throws -> NodeOutput {
        let start = ContinuousClock.now
        defer {
            Timer(label: "weft_node_duration_seconds", dimensions: [("node", context.nodeID)])
                .recordInterval(since: start)
        }
        do {
            return try await withSpan("weft.node \(context.nodeID)", ofKind: .consumer) { span in
                span.attributes["weft.run"] = context.runID
                span.attributes["weft.node"] = context.nodeID
                span.attributes["weft.attempt"] = context.attempt
                return try await next(context)
            }
        } catch {
            Counter(label: "weft_node_failures_total", dimensions: [("node", context.nodeID)]).increment()
            failures.note(
                WorkerReport.Failure(
                    at: Date().timeIntervalSince1970, run: context.runID, node: context.nodeID, attempt: context.attempt,
                    error: (error as? NodeError)?.message ?? (error as? WeftError)?.message ?? "\(error)"))
            throw error
        }
    }
}

/// The latest failed attempts of a worker (at most 10), for its report.
public final class RecentFailures: Sendable {
    private let entries = Mutex<(latest: [WorkerReport.Failure], total: Int)>(([], 0))

    /// An empty log.
    public init() {}

    func note(_ failure: WorkerReport.Failure) {
        entries.withLock { entries in
            entries.total += 1
            entries.latest.append(failure)
            if entries.latest.count > 10 { entries.latest.removeFirst(entries.latest.count - 10) }
        }
    }

    /// The latest failures, oldest first.
    public var all: [WorkerReport.Failure] { entries.withLock { $0.latest } }

    /// How many failures were noted in all.
    public var total: Int { entries.withLock { $0.total } }
}

extension Timer {
    /// Records the time since `start`.
    func recordInterval(since start: ContinuousClock.Instant) {
        let elapsed = start.duration(to: .now)
        recordNanoseconds(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
    }
}

/// Reports a worker's counts and gauges to swift-metrics: `weft_jobs_total{outcome}`,
/// `weft_retries_total`, `weft_dead_letters_total`, `weft_jobs_in_hand`, `weft_worker_resident_bytes`.
/// Counts are read from the worker's statistics and the differences added, once a second.
struct WorkerMetricsReporter: Sendable {
    let worker: Worker

    func report(previous: Worker.Statistics) -> Worker.Statistics {
        let now = worker.statistics
        func add(_ label: String, _ dimensions: [(String, String)], _ new: Int, _ old: Int) {
            if new > old { Counter(label: label, dimensions: dimensions).increment(by: new - old) }
        }
        add("weft_jobs_total", [("outcome", "completed")], now.completed, previous.completed)
        add("weft_jobs_total", [("outcome", "retried")], now.retriesScheduled, previous.retriesScheduled)
        add("weft_jobs_total", [("outcome", "dropped")], now.dropped, previous.dropped)
        add("weft_jobs_total", [("outcome", "left")], now.left, previous.left)
        add("weft_jobs_total", [("outcome", "dead_lettered")], now.deadLettered, previous.deadLettered)
        add("weft_jobs_total", [("outcome", "quarantined")], now.quarantined, previous.quarantined)
        add("weft_jobs_total", [("outcome", "requeued")], now.requeued, previous.requeued)
        add("weft_retries_total", [], now.retriesScheduled, previous.retriesScheduled)
        add("weft_dead_letters_total", [], now.deadLettered + now.quarantined, previous.deadLettered + previous.quarantined)
        Gauge(label: "weft_jobs_in_hand").record(worker.jobsInHand.count)
        Gauge(label: "weft_worker_resident_bytes").record(FleetStatusDirectory.residentBytes())
        return now
    }
}

extension Worker.Statistics {
    /// The counts by name, as reports carry them.
    var named: [String: Int] {
        [
            "completed": completed, "retries": retriesScheduled, "dropped": dropped, "left": left, "deadLettered": deadLettered,
            "quarantined": quarantined, "requeued": requeued,
        ]
    }
}
