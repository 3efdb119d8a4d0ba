import Logging
import ServiceLifecycle
import Testing
import Weft
import WeftTesting
@testable import WeftFleet

@Suite("Worker service: idle trim")
struct WorkerServiceTests {
    @Test("An idle worker gives memory back; work ends the idle period, and the next one gives memory back again")
    func idleTrim() async throws {
        let workflow = Workflow("idle-trim") { Node("only") { context in context.input } }
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let backends = WeftBackends.inMemory()
        let worker = try Worker(
            registry: workflow.registry, blueprints: [workflow.blueprint], backends: backends,
            configuration: Worker.Configuration(concurrency: 2, logger: logger))
        let trims = AsyncStream<Void>.makeStream()
        let service = WorkerService(
            worker: worker, drainTimeout: .seconds(5), statusDirectory: nil, idleTrim: { trims.continuation.yield() },
            idleTrimAfter: .zero, logger: logger)
        let group = ServiceGroup(services: [service], logger: logger)
        let running = Task { try await group.run() }
        var iterator = trims.stream.makeAsyncIterator()
        await iterator.next()  // idle from the start: one trim

        // Work ends the idle period; once it is done, the next idle period trims again.
        let client = try DistributedRuntime(registry: workflow.registry, backends: backends, configuration: .init(logger: logger))
        #expect(try await client.start(workflow.blueprint, input: 3).result().output == 3)
        await iterator.next()
        #expect(worker.statistics.completed == 1)
        await client.shutdown()
        await group.triggerGracefulShutdown()
        try await running.value
    }
}
