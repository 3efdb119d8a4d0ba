import Logging
import ServiceLifecycle
import Testing
import Weft
import WeftTesting
@testable import WeftFleet

@Suite("Worker service: idle trim")
struct WorkerServiceTests {
    @Test("An idle worker gives memory back and recycles its consumers; work ends the idle period, and the next one gives memory back again")
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
            worker: worker, drainTimeout: .seconds(5), statusDirectory: nil,
            idleTrim: {
                await worker.recycleConsumers()
                trims.continuation.yield()
            },
            idleTrimAfter: .zero, logger: logger)
        let group = ServiceGroup(services: [service], logger: logger)
        let running = Task { try await group.run() }
        var iterator = trims.stream.makeAsyncIterator()
        await iterator.next()  // idle from the start: one trim

        // Work ends the idle period (the recycled consumers serve it, even while they are
        // recycled again); once it is done, the next idle period trims again.
        let client = try DistributedRuntime(registry: workflow.registry, backends: backends, configuration: .init(logger: logger))
        let outputs = try await withThrowingTaskGroup(of: JSONValue?.self) { group in
            for input in 0..<40 { group.addTask { try await client.start(workflow.blueprint, input: .int(Int64(input))).result().output } }
            group.addTask {
                for _ in 0..<5 { await worker.recycleConsumers() }
                return nil
            }
            return try await group.reduce(into: [JSONValue]()) { if let output = $1 { $0.append(output) } }
        }
        #expect(Set(outputs) == Set((0..<40).map { JSONValue.int(Int64($0)) }))
        await iterator.next()
        #expect(worker.statistics.completed == 40)
        await client.shutdown()
        await group.triggerGracefulShutdown()
        try await running.value
    }
}
