import Logging
import Testing
import Weft
import WeftTesting
@testable import WeftLMDB

@Suite("LMDB state store: retention")
struct LMDBRetentionTests {
    static let chain = Workflow("retained-chain") {
        Node("double") { context in JSONValue(context.input.intValue! * 2) }
        Node("inc") { context in JSONValue(context.input.intValue! + 1) }
        Chain("double", "inc")
    }

    @Test("A finished run's records and context are deleted from the environment once its retention passes")
    func retention() async throws {
        let clock = ManualClock()
        let store = try scratchStore(clock: StoreClock(clock))
        let backends = WeftBackends(
            transport: InMemoryQueueTransport(), contextStore: store.contextStore, coordinationStore: store.coordinationStore)
        let fleet = FleetOptions(retention: .seconds(60))
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let configuration = Worker.Configuration(
            fleet: fleet, concurrency: 1, clock: clock, reconcileInterval: nil, cancellationCheckInterval: nil, logger: logger)
        let running = try await InProcessFleet.start(
            registry: Self.chain.registry, blueprints: [Self.chain.blueprint], workers: 1, backends: backends,
            worker: configuration, client: DistributedRuntime.Configuration(fleet: fleet, logger: logger))
        let result = try await running.run(Self.chain.blueprint, input: 4, options: RunOptions(context: ["note": "kept"]))
        #expect(result.output == 9)
        await running.shutdown()
        let runID = try #require(try store.coordinationStore.runIDs().first)
        #expect(try await store.contextStore.value(forKey: "note", run: runID) == "kept")

        // A worker that only fires timers, so that nothing else races it.
        let worker = try Worker(registry: Self.chain.registry, blueprints: [Self.chain.blueprint], backends: backends, configuration: configuration)
        clock.advance(by: .seconds(59))
        #expect(try await worker.fireDueTimers() == 0)
        #expect(try store.coordinationStore.runIDs() == [runID])
        clock.advance(by: .seconds(1))
        #expect(try await worker.fireDueTimers() == 1)
        #expect(try store.coordinationStore.runIDs().isEmpty)
        #expect(try await store.contextStore.snapshot(run: runID).isEmpty)
        let entries = try store.environment.statistics().entries
        #expect(entries["coordination.timers"] == 0 && entries["coordination.progress"] == 0 && entries["context"] == 0, "\(entries)")
        store.close()
    }
}
