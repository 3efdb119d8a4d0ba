import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import Weft

/// A ``Worker`` as a service: it runs until graceful shutdown (SIGTERM, SIGINT), then drains:
/// takes no new jobs, lets the jobs in hand finish for up to `drainTimeout`, and hands back
/// those that did not (unacknowledged: the broker delivers them again, to another worker). It
/// acks nothing it did not finish. Every second it writes its report to the fleet's status
/// directory and its counts to swift-metrics.
public struct WorkerService: Service {
    /// The worker.
    public let worker: Worker
    /// How long the jobs in hand may take once draining starts.
    public let drainTimeout: Duration
    /// Where its report goes; `nil`: nowhere.
    public let statusDirectory: FleetStatusDirectory?
    /// The failed attempts its report lists (those ``WorkerInstrumentation`` notes).
    public let failures: RecentFailures?
    /// Called once each time the worker has been idle (no job in hand, none finished) for
    /// `idleTrimAfter`, to give memory back: ``WorkerProgram`` returns freed heap to the
    /// system and drops its mappings of the store's pages. `nil`: nothing.
    public let idleTrim: (@Sendable () async -> Void)?
    /// How long the worker must be idle before ``idleTrim`` runs. Default 5 s.
    public let idleTrimAfter: Duration
    private let logger: Logger

    /// Creates the service.
    public init(
        worker: Worker, drainTimeout: Duration, statusDirectory: FleetStatusDirectory?, failures: RecentFailures? = nil,
        idleTrim: (@Sendable () async -> Void)? = nil, idleTrimAfter: Duration = .seconds(5), logger: Logger
    ) {
        self.worker = worker
        self.idleTrim = idleTrim
        self.idleTrimAfter = idleTrimAfter
        self.failures = failures
        self.drainTimeout = drainTimeout
        self.statusDirectory = statusDirectory
        self.logger = logger
    }

    private enum Ending: Sendable {
        case stopped(Error?)
        case drainTimedOut
    }

    public func run() async throws {
        let worker = self.worker
        let logger = self.logger
        let statusDirectory = self.statusDirectory
        let failures = self.failures
        let state = WorkerState()
        let startedAt = Date().timeIntervalSince1970
        let reportName = "worker-\(getpid()).json"
        let idleTrim = self.idleTrim
        let idleTrimAfter = self.idleTrimAfter
        let reporter = Task {
            var previous = Worker.Statistics()
            let metrics = WorkerMetricsReporter(worker: worker)
            var idleSince: ContinuousClock.Instant? = nil
            var trimmed = false
            while !Task.isCancelled {
                let before = previous
                previous = metrics.report(previous: previous)
                if let idleTrim {
                    let now = ContinuousClock.now
                    if previous != before || !worker.jobsInHand.isEmpty {
                        idleSince = nil
                        trimmed = false
                    } else if let since = idleSince {
                        if !trimmed && since.duration(to: now) >= idleTrimAfter {
                            let before = FleetStatusDirectory.residentBytes()
                            await idleTrim()
                            trimmed = true
                            logger.debug(
                                "idle: gave memory back",
                                metadata: [
                                    "weft.resident_before": "\(before)", "weft.resident_after": "\(FleetStatusDirectory.residentBytes())",
                                ])
                        }
                    } else {
                        idleSince = now
                    }
                }
                if let statusDirectory {
                    let report = WorkerReport(
                        pid: getpid(), state: state.value, startedAt: startedAt, updatedAt: Date().timeIntervalSince1970,
                        queues: worker.queues, concurrency: worker.configuration.concurrency,
                        jobs: worker.jobsInHand.map {
                            WorkerReport.Job(run: $0.runID, node: $0.nodeID, attempt: $0.attempt, seconds: $0.elapsed.seconds)
                        },
                        counts: previous.named.merging(["failures": failures?.total ?? 0]) { $1 }, residentBytes: FleetStatusDirectory.residentBytes(), anonymousBytes: FleetStatusDirectory.anonymousBytes(),
                        failures: failures?.all ?? [])
                    do { try statusDirectory.write(report, as: reportName) } catch {
                        logger.warning("could not write the worker's report", metadata: ["weft.error": "\(error)"])
                    }
                }
                try? await Task.sleep(for: .seconds(1))
            }
        }
        defer {
            reporter.cancel()
            statusDirectory?.remove(reportName)
        }
        // Unstructured, so that a drain that times out leaves the jobs in hand running (never
        // cancelled half-way into a recorded failure) until the process exits.
        let running = Task { try await worker.run() }
        state.value = "running"
        let drainTimeout = self.drainTimeout
        let ending = await withTaskGroup(of: Ending?.self) { group in
            group.addTask {
                do {
                    try await running.value
                    return .stopped(nil)
                } catch {
                    return .stopped(error)
                }
            }
            group.addTask {
                do { try await gracefulShutdown() } catch { return nil }
                state.value = "draining"
                let inHand = worker.jobsInHand.count
                logger.info("draining: taking no new jobs", metadata: ["weft.jobs_in_hand": "\(inHand)"])
                await worker.shutdown()
                do { try await Task.sleep(for: drainTimeout) } catch { return nil }
                return .drainTimedOut
            }
            var ending: Ending?
            while ending == nil, let next = await group.next() { ending = next }
            group.cancelAll()
            return ending ?? .stopped(nil)
        }
        let counts = worker.statistics.named.reduce(into: Logger.Metadata()) { $0["weft.\($1.key)"] = "\($1.value)" }
        switch ending {
        case .stopped(nil):
            logger.info("worker drained: every job in hand finished", metadata: counts)
        case .stopped(let error?):
            throw error
        case .drainTimedOut:
            let jobs = worker.jobsInHand
            logger.warning(
                "drain timed out; handing back the jobs in hand unacknowledged",
                metadata: counts.merging([
                    "weft.timeout": "\(drainTimeout)", "weft.jobs_in_hand": "\(jobs.count)",
                    "weft.runs": "\(jobs.map(\.runID).joined(separator: ","))",
                ]) { $1 })
        }
    }
}

/// The state a worker reports, shared by its loops.
private final class WorkerState: Sendable {
    private let state = Mutex("starting")

    var value: String {
        get { state.withLock { $0 } }
        set { state.withLock { $0 = newValue } }
    }
}

extension Duration {
    /// The duration in seconds.
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
