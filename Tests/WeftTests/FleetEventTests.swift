import Testing
import Weft

/// Issue 23 part 4: the typed event stream works for fleet runs, so a test written against
/// LocalRuntime's events runs unchanged on a fleet.
@Suite("Run events, embedded and on a fleet")
struct FleetEventTests {
    static let workflow = Workflow("evented") {
        Node("a") { $0.input }
        Node("flaky") { context in
            if context.attempt < 2 { throw NodeError("attempt \(context.attempt) fails", isRetryable: true) }
            return context.input
        }.retry(maxAttempts: 2, backoff: .fixed(.milliseconds(5)))
        Node("unused") { $0.input }
        Node("saved") { _ in throw NodeError("never works", isRetryable: false) }.fallback { _ in "fallback" }
        Edge("a", to: "flaky", when: "output == 1")
        Edge("a", to: "unused", when: "output == 2")
        Edge("flaky", to: "saved")
    }

    /// A runtime whose events a test reads: embedded, or a client of a fleet.
    struct Runtime: Sendable, CustomStringConvertible {
        var description: String
        var events: @Sendable () -> AsyncStream<RunEvent>
        var run: @Sendable (Blueprint, JSONValue) async throws -> RunResult
        var shutdown: @Sendable () async -> Void

        static func make(_ kind: String) async throws -> Runtime {
            if kind == "embedded" {
                let local = LocalRuntime(workflow)
                return Runtime(
                    description: kind, events: { local.events() }, run: { try await local.run($0, input: $1) }, shutdown: {})
            }
            var configuration = Worker.Configuration()
            configuration.concurrency = 1
            let fleet = try await InProcessFleet.start(
                registry: workflow.registry, blueprints: [workflow.blueprint], workers: 1, worker: configuration)
            return Runtime(
                description: kind, events: { fleet.client.events() }, run: { try await fleet.run($0, input: $1) },
                shutdown: { await fleet.shutdown() })
        }
    }

    /// The events of one run, with durations set to zero (times differ between runs).
    static func events(on runtime: Runtime) async throws -> [RunEvent.Kind] {
        let events = runtime.events()
        let result = try await runtime.run(workflow.blueprint, 1)
        #expect(result.status == .completed)
        return await eventKinds(of: result.runID, in: events).map { kind in
            if case .nodeFinished(let node, let attempt, _, let fallback) = kind {
                return .nodeFinished(nodeID: node, attempt: attempt, duration: .zero, usedFallback: fallback)
            }
            return kind
        }
    }

    @Test("One test body reads the same events from both runtimes", arguments: ["embedded", "fleet"])
    func sameTest(_ kind: String) async throws {
        let runtime = try await Runtime.make(kind)
        let kinds = try await Self.events(on: runtime)
        await runtime.shutdown()
        let failure = NodeFailure(message: "attempt 1 fails", errorType: "NodeError")
        let saved = NodeFailure(message: "never works", errorType: "NodeError", isRetryable: false)
        #expect(kinds == [
            .runStarted(blueprintID: "evented", version: "1"),
            .nodeStarted(nodeID: "a", attempt: 1),
            .nodeFinished(nodeID: "a", attempt: 1, duration: .zero, usedFallback: false),
            .edgeTaken(source: "a", target: "flaky"),
            .edgeSkipped(source: "a", target: "unused"),
            .nodeSkipped(nodeID: "unused"),
            .nodeStarted(nodeID: "flaky", attempt: 1),
            .nodeFailed(nodeID: "flaky", attempt: 1, failure: failure, willRetry: true),
            .nodeRetrying(nodeID: "flaky", attempt: 2, delay: .milliseconds(5)),
            .nodeStarted(nodeID: "flaky", attempt: 2),
            .nodeFinished(nodeID: "flaky", attempt: 2, duration: .zero, usedFallback: false),
            .edgeTaken(source: "flaky", target: "saved"),
            .nodeStarted(nodeID: "saved", attempt: 1),
            .nodeFailed(nodeID: "saved", attempt: 1, failure: saved, willRetry: false),
            .nodeFinished(nodeID: "saved", attempt: 1, duration: .zero, usedFallback: true),
            .runFinished(status: .completed),
        ], "\(kind)")
    }

    @Test("A fleet's client sends no events for runs started while nobody listened")
    func noListenerNoEvents() async throws {
        let fleet = try await InProcessFleet.start(registry: Self.workflow.registry, blueprints: [Self.workflow.blueprint], workers: 1)
        _ = try await fleet.run(Self.workflow.blueprint, input: 1)  // nobody listens
        let events = fleet.client.events()
        let result = try await fleet.run(Self.workflow.blueprint, input: 2)
        let kinds = await eventKinds(of: result.runID, in: events)
        #expect(kinds.first == .runStarted(blueprintID: "evented", version: "1"))
        #expect(kinds.last == .runFinished(status: .completed))
        #expect(kinds.contains(.nodeSkipped(nodeID: "flaky")))
        await fleet.shutdown()
    }
}
