import Foundation
import Testing
import Weft
import WeftTesting

@Suite("Runtime details")
struct RuntimeTests {
    @Test("Plans are compiled once per blueprint id and version, and again when the blueprint changes")
    func planCache() throws {
        var registry = NodeRegistry()
        registry.register("n") { context in context.input }
        let runtime = LocalRuntime(registry: registry)
        let first = Blueprint(id: "p", nodes: [NodeDefinition(id: "a", uses: "n")])
        let plan = try runtime.plan(for: first)
        #expect(try runtime.plan(for: first) === plan)
        var changed = first
        changed.nodes.append(NodeDefinition(id: "b", uses: "n"))
        let replanned = try runtime.plan(for: changed)
        #expect(replanned !== plan)
        #expect(replanned.nodeCount == 2)
    }

    @Test("Run ids are unique, and an explicit run id is kept")
    func runIDs() async throws {
        let workflow = Workflow("ids") { Node("a", echo) }
        let runtime = LocalRuntime(workflow)
        var seen: Set<String> = []
        for _ in 0..<200 { seen.insert(try await runtime.run(workflow).runID) }
        #expect(seen.count == 200)
        #expect(try await runtime.run(workflow, options: RunOptions(runID: "order-42")).runID == "order-42")
    }

    @Test("Events of a retried node come in order: started, failed (will retry), retrying, started, finished")
    func retryEventOrder() async throws {
        let calls = Counter()
        let workflow = Workflow("retry-events") {
            Node("n") { _ in
                if calls.increment() == 1 { throw NodeError.transient("first") }
                return "ok"
            }.retry(maxAttempts: 2, backoff: .none)
        }
        let runtime = LocalRuntime(workflow)
        let events = runtime.events()
        let result = try await runtime.run(workflow)
        let kinds = await eventKinds(of: result.runID, in: events)
        let failure = try #require(result[node: "n"]?.failure)
        guard kinds.count == 7, case .nodeFinished(let id, 2, _, false) = kinds[5] else {
            Issue.record("unexpected events \(kinds)")
            return
        }
        #expect(id == "n")
        #expect(Array(kinds.prefix(5)) == [
            .runStarted(blueprintID: "retry-events", version: "1"),
            .nodeStarted(nodeID: "n", attempt: 1),
            .nodeFailed(nodeID: "n", attempt: 1, failure: failure, willRetry: true),
            .nodeRetrying(nodeID: "n", attempt: 2, delay: .zero),
            .nodeStarted(nodeID: "n", attempt: 2),
        ])
        #expect(kinds.last == .runFinished(status: .completed))
    }

    @Test("Large integers survive JSON unchanged, and 1 equals 1.0 in expressions")
    func numbers() throws {
        let big = try JSONValue(parsing: "9007199254740993")
        #expect(big == .int(9_007_199_254_740_993))
        #expect(try big.jsonString() == "9007199254740993")
        #expect(try Expression("output == 1").holds(in: StaticScope(values: ["output": 1.0], context: [:])))
    }

    @Test("A blueprint with 10,000 parallel nodes runs, and joins all their outputs")
    func largeFanOut() async throws {
        var registry = NodeRegistry()
        registry.register("id") { context in context.input }
        registry.register("count") { context in JSONValue(context.input.objectValue?.count ?? -1) }
        var nodes = [NodeDefinition(id: "split", uses: "id")]
        var edges: [EdgeDefinition] = []
        for index in 0..<10_000 {
            nodes.append(NodeDefinition(id: "w\(index)", uses: "id"))
            edges.append(EdgeDefinition(source: "split", target: "w\(index)"))
            edges.append(EdgeDefinition(source: "w\(index)", target: "join"))
        }
        nodes.append(NodeDefinition(id: "join", uses: "count"))
        let result = try await LocalRuntime(registry: registry).run(Blueprint(id: "wide", nodes: nodes, edges: edges), input: 7)
        #expect(result.status == .completed)
        #expect(result.output == 10_000)
        #expect(result.nodes.filter { $0.status == .completed }.count == 10_002)
    }
}

@Suite("Worker lifecycle")
struct WorkerLifecycleTests {
    /// Waves of fan-outs, driven from the main actor so that workers often end (their queue
    /// empty) while the driver is still queueing the next wave: every queued job must still
    /// find a worker. Before the fix this hung within a few dozen runs.
    @Test("Jobs queued while workers end still find a worker", .timeLimit(.minutes(1)))
    @MainActor
    func jobsNeverStranded() async throws {
        let workflow = Workflow("waves") {
            Node("split", echo)
            for wave in 0..<3 {
                for index in 0..<40 {
                    Node("w\(wave)-\(index)", echo)
                    Edge(wave == 0 ? "split" : "join\(wave - 1)", to: "w\(wave)-\(index)")
                    Edge("w\(wave)-\(index)", to: "join\(wave)")
                }
                Node("join\(wave)") { _ in JSONValue(wave) }
            }
        }
        let runtime = LocalRuntime(workflow, configuration: .init(maxConcurrentNodes: 2))
        for _ in 0..<300 {
            let result = try await runtime.run(workflow)
            #expect(result.status == .completed)
            #expect(result.output == 2)
            if result.status != .completed { break }
        }
    }
}
