import Testing
import Weft

@Suite("Routing, conditions and dead-path elimination")
struct RoutingTests {
    @Test("A linear chain passes each output to the next node and returns the last")
    func linearChain() async throws {
        let workflow = Workflow("chain") {
            Node("a") { context in JSONValue(context.input.intValue! + 1) }
            Node("b") { context in JSONValue(context.input.intValue! * 10) }
            Node("c") { context in JSONValue(context.input.intValue! - 3) }
            Chain("a", "b", "c")
        }
        let result = try await LocalRuntime(workflow).run(workflow, input: 4)
        #expect(result.status == .completed)
        #expect(result.output == 47)
        #expect(result.nodes.map(\.status) == [.completed, .completed, .completed])
        #expect(result.nodes.map(\.attempts) == [1, 1, 1])
    }

    @Test("An action picks its labelled edges; the default edge and other labels are skipped")
    func actionRouting() async throws {
        let workflow = Workflow("actions") {
            Node("check", routing: { context in .action(context.input.stringValue!, context.input) })
            Node("approve", constant("approved"))
            Node("reject", constant("rejected"))
            Node("other", constant("default"))
            Edge("check", to: "approve", action: "yes")
            Edge("check", to: "reject", action: "no")
            Edge("check", to: "other")
        }
        let runtime = LocalRuntime(workflow)
        let yes = try await runtime.run(workflow, input: "yes")
        #expect(yes.output == "approved")
        #expect(yes[node: "reject"]?.status == .skipped)
        #expect(yes[node: "other"]?.status == .skipped)
        let no = try await runtime.run(workflow, input: "no")
        #expect(no.output == "rejected")
        #expect(no[node: "approve"]?.status == .skipped)
    }

    @Test("An unknown action falls back to the default edges")
    func unknownActionTakesDefault() async throws {
        let workflow = Workflow("default") {
            Node("check", routing: { _ in .action("maybe", 1) })
            Node("approve", constant("approved"))
            Node("other", constant("default"))
            Edge("check", to: "approve", action: "yes")
            Edge("check", to: "other")
        }
        let result = try await LocalRuntime(workflow).run(workflow)
        #expect(result.output == "default")
        #expect(result[node: "approve"]?.status == .skipped)
    }

    @Test("An action that matches nothing, with no default edge, ends that branch")
    func actionWithoutDefaultEndsBranch() async throws {
        let workflow = Workflow("ends") {
            Node("check", routing: { _ in .action("unheard-of", "end here") })
            Node("approve", constant("approved"))
            Node("after", constant("after"))
            Edge("check", to: "approve", action: "yes")
            Edge("approve", to: "after")
        }
        let result = try await LocalRuntime(workflow).run(workflow)
        #expect(result.status == .completed)
        #expect(result.output == "end here")
        #expect(result[node: "approve"]?.status == .skipped)
        #expect(result[node: "after"]?.status == .skipped)
    }

    @Test("Mutually exclusive conditions take exactly one branch and skip the other's whole path")
    func exclusiveConditions() async throws {
        let trail = Trail()
        let workflow = Workflow("exclusive") {
            Node("total") { context in context.input }
            Node("small") { _ in trail.add("small"); return "small" }
            Node("large") { _ in trail.add("large"); return "large" }
            Node("large-audit") { _ in trail.add("audit"); return "audited" }
            Edge("total", to: "small", when: "output.amount <= 100")
            Edge("total", to: "large", when: "output.amount > 100")
            Edge("large", to: "large-audit")
        }
        let runtime = LocalRuntime(workflow)
        let small = try await runtime.run(workflow, input: ["amount": 40])
        #expect(small.output == "small")
        #expect(small[node: "large"]?.status == .skipped)
        #expect(small[node: "large-audit"]?.status == .skipped)
        let large = try await runtime.run(workflow, input: ["amount": 400])
        #expect(large.output == "audited")
        #expect(trail.all == ["small", "large", "audit"])
    }

    @Test("Conditions read the run's context, including what the finishing node just wrote")
    func conditionsReadContext() async throws {
        let workflow = Workflow("context-conditions") {
            Node("tier") { context in
                context.context.set("tier", context.input)
                return .null
            }
            Node("gold", constant("gold lane"))
            Node("standard", constant("standard lane"))
            Edge("tier", to: "gold", when: "context.tier == 'gold'")
            Edge("tier", to: "standard", when: "context.tier != 'gold'")
        }
        let runtime = LocalRuntime(workflow)
        #expect(try await runtime.run(workflow, input: "gold").output == "gold lane")
        #expect(try await runtime.run(workflow, input: "silver").output == "standard lane")
    }

    @Test("Named predicates and transforms route and reshape values")
    func namedPredicatesAndTransforms() async throws {
        let workflow = Workflow("named") {
            Predicate("isVIP") { $0.output["vip"]?.boolValue == true }
            Transform("greeting") { .string("welcome, " + ($0.output["name"]?.stringValue ?? "?")) }
            Node("customer", echo)
            Node("vip", echo)
            Node("regular", constant("regular"))
            Edge("customer", to: "vip", when: .predicate("isVIP"), transform: .function("greeting"))
            Edge("customer", to: "regular", when: "!output.vip")
        }
        let result = try await LocalRuntime(workflow).run(workflow, input: ["name": "Ada", "vip": true])
        #expect(result.output == "welcome, Ada")
    }

    @Test("An expression transform shapes the value an edge carries")
    func expressionTransform() async throws {
        let workflow = Workflow("transform") {
            Node("order", echo)
            Node("invoice", echo)
            Edge("order", to: "invoice", transform: "{id: output.orderId, lines: len(output.items)}")
        }
        let result = try await LocalRuntime(workflow).run(workflow, input: ["orderId": "A-1", "items": [1, 2, 3]])
        #expect(result.output == ["id": "A-1", "lines": 3])
    }

    @Test("Several terminal nodes give an object of outputs by node id")
    func severalTerminals() async throws {
        let workflow = Workflow("terminals") {
            Node("start", echo)
            Node("left", constant("L"))
            Node("right", constant("R"))
            Edge("start", to: "left")
            Edge("start", to: "right")
        }
        let result = try await LocalRuntime(workflow).run(workflow)
        #expect(result.output == ["left": "L", "right": "R"])
    }

    @Test("Edges taken and skipped, and skipped nodes, appear in the event stream")
    func routingEvents() async throws {
        let workflow = Workflow("events") {
            Node("a", constant(1))
            Node("b", constant(2))
            Node("c", constant(3))
            Edge("a", to: "b", when: "output == 1")
            Edge("a", to: "c", when: "output == 2")
        }
        let runtime = LocalRuntime(workflow)
        let events = runtime.events()
        let result = try await runtime.run(workflow)
        let kinds = await eventKinds(of: result.runID, in: events)
        #expect(kinds.contains(.edgeTaken(source: "a", target: "b")))
        #expect(kinds.contains(.edgeSkipped(source: "a", target: "c")))
        #expect(kinds.contains(.nodeSkipped(nodeID: "c")))
        #expect(kinds.first == .runStarted(blueprintID: "events", version: "1"))
        #expect(kinds.last == .runFinished(status: .completed))
    }
}
