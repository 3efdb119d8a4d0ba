import Testing
import Weft

@Suite("Distributed runtime")
struct DistributedSmokeTests {
    @Test("A chain and a fan-out/fan-in run on in-memory backends as they run locally")
    func chainAndFanIn() async throws {
        let workflow = Workflow("fan") {
            Node("split", echo)
            Node("x") { context in JSONValue(context.input.intValue! + 1) }
            Node("y") { context in JSONValue(context.input.intValue! + 2) }
            Node("join", echo)
            Edge("split", to: "x")
            Edge("split", to: "y")
            Edge("x", to: "join")
            Edge("y", to: "join")
        }
        let backends = WeftBackends.inMemory()
        let worker = try Worker(registry: workflow.registry, blueprints: [workflow.blueprint], backends: backends)
        let client = try DistributedRuntime(registry: workflow.registry, backends: backends)
        let running = Task { try await worker.run() }
        let handle = try await client.start(workflow.blueprint, input: 10)
        let result = try await handle.result()
        #expect(result.status == .completed)
        #expect(result.output == ["x": 11, "y": 12], "\(result.nodes)")
        await worker.shutdown()
        try await running.value
        await client.shutdown()
    }
}
