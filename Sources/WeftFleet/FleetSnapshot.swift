import Foundation
import Synchronization
import WeftAMQP
import WeftLMDB

/// What `weft top` shows at one moment: the queues, the workers, the foreman, throughput and
/// recent failures.
public struct FleetSnapshot: Sendable {
    /// One job queue.
    public struct Queue: Sendable, Hashable {
        public var name: String
        /// Messages waiting; `nil` when the queue does not exist.
        public var ready: Int?
        public var consumers: Int
        /// Messages in its dead-letter queue.
        public var deadLetters: Int
        /// Change of `ready` per second since the last snapshot.
        public var rate: Double?
    }

    /// When it was taken.
    public var takenAt: Date
    public var queues: [Queue]
    public var workers: [WorkerReport]
    public var foreman: ForemanReport?
    /// Runs that have not ended (in the store's progress index).
    public var runsInFlight: Int?
    /// Jobs completed, retries scheduled and attempts failed per second, since the last snapshot.
    public var jobsPerSecond: Double?
    public var retriesPerSecond: Double?
    public var failuresPerSecond: Double?
    /// The latest failed attempts of every worker, newest last.
    public var failures: [WorkerReport.Failure]
    /// Problems reaching the broker or the store, shown instead of their figures.
    public var problems: [String]
}

/// Takes snapshots of a fleet, keeping the previous one for rates.
public final class FleetSampler: Sendable {
    private let configuration: FleetConfiguration
    private let transport: AMQPTransport?
    private let store: FleetStateStore?
    private let previous = Mutex<FleetSnapshot?>(nil)

    /// A sampler over the fleet's broker (`transport`) and store (`store`), either of which may
    /// be missing (it is then reported as a problem).
    public init(configuration: FleetConfiguration, transport: AMQPTransport?, store: FleetStateStore?) {
        self.configuration = configuration
        self.transport = transport
        self.store = store
    }

    /// A snapshot now.
    public func sample() async -> FleetSnapshot {
        let directory = FleetStatusDirectory(path: configuration.statusDirectory)
        let workers = directory.workers()
        let foreman = directory.foreman()
        var problems: [String] = []
        if transport == nil { problems.append("broker: not connected") }
        if store == nil { problems.append("store: not open") }
        var names = Set(workers.flatMap(\.queues))
        names.formUnion((configuration.queues ?? [""]).map { configuration.fleetOptions.jobQueue(label: $0) })
        let last = previous.withLock { $0 }
        let now = Date()
        let elapsed = last.map { now.timeIntervalSince($0.takenAt) } ?? 0
        var queues: [FleetSnapshot.Queue] = []
        for name in names.sorted() {
            var queue = FleetSnapshot.Queue(name: name, ready: nil, consumers: 0, deadLetters: 0, rate: nil)
            if let transport {
                if let info = try? await transport.queueInfo(name) {
                    queue.ready = info.messages
                    queue.consumers = info.consumers
                }
                queue.deadLetters = (try? await transport.queueInfo(name + ".dead-letter").messages) ?? 0
            }
            if elapsed > 0, let ready = queue.ready, let before = last?.queues.first(where: { $0.name == name })?.ready {
                queue.rate = Double(ready - before) / elapsed
            }
            queues.append(queue)
        }
        var runsInFlight: Int?
        if let store {
            do { runsInFlight = try await store.unfinishedRunCount() } catch { problems.append("store: \(error)") }
        }
        var snapshot = FleetSnapshot(
            takenAt: now, queues: queues, workers: workers, foreman: foreman, runsInFlight: runsInFlight,
            failures: Array(workers.flatMap(\.failures).sorted { $0.at < $1.at }.suffix(5)), problems: problems)
        if let last, elapsed > 0 {
            func rate(_ key: String) -> Double {
                // Per worker, so that a restarted worker (its counts back at zero) adds no negative rate.
                let delta = workers.reduce(0) { sum, worker in
                    let before = last.workers.first { $0.pid == worker.pid }?.counts[key] ?? 0
                    return sum + max(0, (worker.counts[key] ?? 0) - before)
                }
                return Double(delta) / elapsed
            }
            snapshot.jobsPerSecond = rate("completed")
            snapshot.retriesPerSecond = rate("retries")
            snapshot.failuresPerSecond = rate("failures")
        }
        previous.withLock { $0 = snapshot }
        return snapshot
    }
}
