import Logging
import Synchronization
import Weft
import WeftTesting

/// A fleet driven by hand: in-memory backends on a manual clock, a client, and workers whose
/// loops do not run; the test takes each delivery and hands it to a worker, fires timers and
/// reconciles when it chooses. Nothing depends on timing. Workers run one job per delivery
/// unless `inline` lets them run successors themselves (``Worker/Configuration/maxInlineSuccessors``).
struct ManualFleet {
    let clock = ManualClock()
    let transport = InMemoryQueueTransport()
    let backends: WeftBackends
    let client: DistributedRuntime
    let workers: [Worker]
    let fleet: FleetOptions

    init(
        _ workflows: [Workflow], workers count: Int = 1, fleet: FleetOptions = FleetOptions(), inline: Int = 0,
        faults: [Int: any FaultInjector] = [:],
        coordinationStore wrap: (InMemoryCoordinationStore) -> any CoordinationStore = { $0 }
    ) throws {
        let backends = WeftBackends(
            transport: transport, contextStore: InMemoryContextStore(),
            coordinationStore: wrap(InMemoryCoordinationStore(clock: StoreClock(clock))))
        self.backends = backends
        var registry = NodeRegistry()
        for workflow in workflows { registry.merge(workflow.registry) }
        var configuration = Worker.Configuration(
            fleet: fleet, concurrency: 1, clock: self.clock, reconcileInterval: nil, cancellationCheckInterval: nil,
            logger: quiet)
        configuration.maxInlineSuccessors = inline
        workers = try (0..<count).map { index in
            var configuration = configuration
            configuration.faults = faults[index]
            return try Worker(
                registry: registry, blueprints: workflows.map(\.blueprint), backends: backends, configuration: configuration)
        }
        client = try DistributedRuntime(
            registry: registry, backends: backends,
            configuration: DistributedRuntime.Configuration(fleet: fleet, clientID: "test", logger: quiet))
        self.fleet = fleet
    }

    var jobs: String { fleet.jobQueue(label: nil) }

    /// The next delivery of `queue`, if one waits.
    func take(from queue: String? = nil) async throws -> QueueDelivery? {
        let queue = queue ?? jobs
        try await transport.declare(queue)
        guard try await transport.depth(of: queue) > 0 else { return nil }
        let consumer = try await transport.consume(queue, prefetch: 1)
        var iterator = consumer.makeAsyncIterator()
        let delivery = try await iterator.next()
        await consumer.stop()
        return delivery
    }

    /// Hands the next delivery to worker `worker`; `nil` when none waits.
    @discardableResult
    func step(worker: Int = 0, queue: String? = nil) async throws -> DeliveryOutcome? {
        guard let delivery = try await take(from: queue) else { return nil }
        return await workers[worker].process(delivery)
    }

    /// Steps until no delivery waits; returns the outcomes.
    @discardableResult
    func drain(worker: Int = 0, queue: String? = nil) async throws -> [DeliveryOutcome] {
        var outcomes: [DeliveryOutcome] = []
        while let outcome = try await step(worker: worker, queue: queue) { outcomes.append(outcome) }
        return outcomes
    }

    func publish(_ bytes: [UInt8], to queue: String? = nil) async throws {
        try await transport.declare(queue ?? jobs)
        try await transport.publish(QueueMessage(body: bytes), to: queue ?? jobs)
    }

    func shutdown() async {
        await client.shutdown()
        await transport.shutdown()
    }
}

/// A logger that stays quiet below errors.
let quiet: Logger = {
    var logger = Logger(label: "weft.test")
    logger.logLevel = .error
    return logger
}()

/// An in-memory coordination store that runs `check` before every operation (with the batch,
/// for a batch): a store that refuses some work, for tests of how workers treat a store's
/// failures.
final class InterceptingStore: CoordinationStore {
    let base: InMemoryCoordinationStore
    private let check: @Sendable (StoreBatch?) throws -> Void

    init(_ base: InMemoryCoordinationStore, check: @escaping @Sendable (StoreBatch?) throws -> Void) {
        self.base = base
        self.check = check
    }

    func value(at key: StoreKey) async throws -> [UInt8]? {
        try check(nil)
        return try await base.value(at: key)
    }
    func compareAndSet(_ key: StoreKey, expected: [UInt8]?, new: [UInt8], fence: Fence?) async throws -> CompareAndSetOutcome {
        try check(nil)
        return try await base.compareAndSet(key, expected: expected, new: new, fence: fence)
    }
    func addToSet(_ key: StoreKey, member: String) async throws -> Int {
        try check(nil)
        return try await base.addToSet(key, member: member)
    }
    func members(of key: StoreKey) async throws -> [String] {
        try check(nil)
        return try await base.members(of: key)
    }
    func increment(_ key: StoreKey, by delta: Int64) async throws -> Int64 {
        try check(nil)
        return try await base.increment(key, by: delta)
    }
    func scheduleTimer(_ key: StoreKey, after delay: Duration, payload: [UInt8]) async throws -> Bool {
        try check(nil)
        return try await base.scheduleTimer(key, after: delay, payload: payload)
    }
    func claimDueTimers(limit: Int, claimFor: Duration) async throws -> TimerClaim {
        try check(nil)
        return try await base.claimDueTimers(limit: limit, claimFor: claimFor)
    }
    func retireTimer(_ key: StoreKey) async throws {
        try check(nil)
        try await base.retireTimer(key)
    }
    func recordProgress(run: String, quietFor: Duration) async throws {
        try check(nil)
        try await base.recordProgress(run: run, quietFor: quietFor)
    }
    func runsWithoutProgress(for age: Duration, limit: Int) async throws -> [String] {
        try check(nil)
        return try await base.runsWithoutProgress(for: age, limit: limit)
    }
    func forgetProgress(run: String) async throws {
        try check(nil)
        try await base.forgetProgress(run: run)
    }
    func deleteRun(_ run: String) async throws {
        try check(nil)
        try await base.deleteRun(run)
    }
    func apply(_ batch: StoreBatch) async throws -> StoreBatch.Results {
        try check(batch)
        return try await base.apply(batch)
    }
}

/// An in-memory coordination store that throws `CancellationError` to a cancelled task, before
/// doing anything, as a store whose connection pool drops a cancelled request does.
func CancellationRefusingStore(_ base: InMemoryCoordinationStore) -> InterceptingStore {
    InterceptingStore(base) { _ in try Task.checkCancellation() }
}

/// An in-memory store whose batches that write throw the error set with ``refuseWrites(with:)``:
/// a store refusing a job's record.
final class WriteRefusingStore: Sendable {
    private final class Refusal: Sendable {
        let error = Mutex<(any Error & Sendable)?>(nil)
    }

    private let refusal = Refusal()
    let store: InterceptingStore

    init(_ base: InMemoryCoordinationStore) {
        let refusal = self.refusal
        store = InterceptingStore(base) { batch in
            if let batch, !batch.isReadOnly, let error = refusal.error.withLock({ $0 }) { throw error }
        }
    }

    /// Makes every batch that writes throw `error` (`nil`: none).
    func refuseWrites(with error: (any Error & Sendable)?) { refusal.error.withLock { $0 = error } }
}
