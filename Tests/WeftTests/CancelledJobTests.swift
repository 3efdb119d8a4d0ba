import Testing
import Weft
import WeftTesting

/// A job the worker cancels because its run ended must end there (dropped, acked), even on a
/// store that refuses to work for a cancelled task (as PostgreSQL's connection pool does): it is
/// no backend failure, and putting it back on its queue only makes another worker drop it.
@Suite("Jobs cancelled with their run")
struct CancelledJobTests {
    @Test("A job cancelled because its run ended is dropped, not requeued, when the store refuses a cancelled task")
    func droppedOnACancellationRefusingStore() async throws {
        let started = Gate()
        let stopped = Gate()
        let slow = DistributedRuntimeTests.cancellable("slow-refusing", started: started, stopped: stopped)
        var configuration = Worker.Configuration(cancellationCheckInterval: .milliseconds(20), logger: quiet)
        configuration.concurrency = 1
        let backends = WeftBackends(
            transport: InMemoryQueueTransport(), contextStore: InMemoryContextStore(),
            coordinationStore: CancellationRefusingStore(InMemoryCoordinationStore()))
        let fleet = try await InProcessFleet.start(
            registry: slow.registry, blueprints: [slow.blueprint], workers: 1, backends: backends, worker: configuration,
            client: DistributedRuntime.Configuration(logger: quiet))
        let handle = try await fleet.client.start(slow.blueprint)
        await started.wait()
        try await handle.cancel()
        await stopped.wait()
        #expect(try await handle.result().status == .cancelled)
        await fleet.shutdown()
        let statistics = fleet.workers[0].statistics
        #expect(statistics.dropped == 1)
        #expect(statistics.requeued == 0)
    }
}

/// An in-memory coordination store that throws `CancellationError` to a cancelled task, before
/// doing anything, as a store whose connection pool drops a cancelled request does.
private struct CancellationRefusingStore: CoordinationStore {
    let base: InMemoryCoordinationStore

    init(_ base: InMemoryCoordinationStore) { self.base = base }

    func value(at key: StoreKey) async throws -> [UInt8]? {
        try Task.checkCancellation()
        return try await base.value(at: key)
    }

    func compareAndSet(_ key: StoreKey, expected: [UInt8]?, new: [UInt8], fence: Fence?) async throws -> CompareAndSetOutcome {
        try Task.checkCancellation()
        return try await base.compareAndSet(key, expected: expected, new: new, fence: fence)
    }

    func addToSet(_ key: StoreKey, member: String) async throws -> Int {
        try Task.checkCancellation()
        return try await base.addToSet(key, member: member)
    }

    func members(of key: StoreKey) async throws -> [String] {
        try Task.checkCancellation()
        return try await base.members(of: key)
    }

    func increment(_ key: StoreKey, by delta: Int64) async throws -> Int64 {
        try Task.checkCancellation()
        return try await base.increment(key, by: delta)
    }

    func scheduleTimer(_ key: StoreKey, after delay: Duration, payload: [UInt8]) async throws -> Bool {
        try Task.checkCancellation()
        return try await base.scheduleTimer(key, after: delay, payload: payload)
    }

    func claimDueTimers(limit: Int, claimFor: Duration) async throws -> TimerClaim {
        try Task.checkCancellation()
        return try await base.claimDueTimers(limit: limit, claimFor: claimFor)
    }

    func retireTimer(_ key: StoreKey) async throws {
        try Task.checkCancellation()
        try await base.retireTimer(key)
    }

    func recordProgress(run: String, quietFor: Duration) async throws {
        try Task.checkCancellation()
        try await base.recordProgress(run: run, quietFor: quietFor)
    }

    func runsWithoutProgress(for age: Duration, limit: Int) async throws -> [String] {
        try Task.checkCancellation()
        return try await base.runsWithoutProgress(for: age, limit: limit)
    }

    func forgetProgress(run: String) async throws {
        try Task.checkCancellation()
        try await base.forgetProgress(run: run)
    }

    func deleteRun(_ run: String) async throws {
        try Task.checkCancellation()
        try await base.deleteRun(run)
    }

    func apply(_ batch: StoreBatch) async throws -> StoreBatch.Results {
        try Task.checkCancellation()
        return try await base.apply(batch)
    }
}
