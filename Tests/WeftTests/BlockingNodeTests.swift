import Foundation
import Testing
import Weft

#if canImport(Glibc)
import Glibc
#endif


@Suite("Nodes declared blocking run on the blocking executor's threads")
struct BlockingNodeTests {
    static let workflow = Workflow("blocking") {
        Node("crunch") { _ in JSONValue.bool(BlockingExecutor.isCurrentThreadBlocking) }.blocking()
        Node("await") { context in JSONValue.array([context.input, .bool(BlockingExecutor.isCurrentThreadBlocking)]) }
        Chain("crunch", "await")
    }

    @Test("Embedded: the blocking node runs on a blocking executor thread, the async node does not")
    func embedded() async throws {
        let result = try await LocalRuntime(Self.workflow).run(Self.workflow.blueprint)
        #expect(result.output == [true, false])
    }

    @Test("On a fleet: the same")
    func distributed() async throws {
        let fleet = try await InProcessFleet.start(registry: Self.workflow.registry, blueprints: [Self.workflow.blueprint])
        let result = try await fleet.run(Self.workflow.blueprint)
        await fleet.shutdown()
        #expect(result.output == [true, false])
    }

    @Test("The declaration survives a blueprint's JSON")
    func jsonRoundTrip() throws {
        let blueprint = Self.workflow.blueprint
        let decoded = try JSONDecoder().decode(Blueprint.self, from: try JSONEncoder().encode(blueprint))
        #expect(decoded.nodes[0].config.blocking)
        #expect(!decoded.nodes[1].config.blocking)
    }
}
