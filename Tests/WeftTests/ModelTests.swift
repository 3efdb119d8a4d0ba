import Foundation
import Testing
import Weft

@Suite("Blueprints, validation, expressions and rendering")
struct ModelTests {
    static let richJSON = """
        {
          "id": "orders", "version": "3", "metadata": {"owner": "payments", "sla": 2.5},
          "nodes": [
            {"id": "validate", "uses": "order.validate", "params": {"strict": true, "limits": [1, 2.5, null]}},
            {"id": "charge", "uses": "payment.charge",
             "config": {"maxAttempts": 4, "backoff": {"kind": "exponential", "initial": 0.25, "multiplier": 3, "maximum": 10, "jitter": 0.1},
                        "timeout": 2.5, "fallback": "payment.queue", "queue": "payments", "priority": 7}},
            {"id": "review", "uses": "order.review", "config": {"backoff": {"kind": "fixed", "delay": 1}}},
            {"id": "ship", "uses": "order.ship", "inputs": {"order": "nodes.validate", "charge": "nodes.charge.receipt", "region": "context.region"},
             "config": {"join": "any"}}
          ],
          "edges": [
            {"source": "validate", "target": "charge", "condition": "output.total <= 1000"},
            {"source": "validate", "target": "review", "action": "flag", "condition": {"predicate": "isRisky"}},
            {"source": "charge", "target": "ship", "transform": "{id: output.id}"},
            {"source": "review", "target": "ship", "transform": {"function": "toShipment"}}
          ]
        }
        """

    @Test("A blueprint round-trips through JSON unchanged")
    func jsonRoundTrip() throws {
        let decoded = try JSONDecoder().decode(Blueprint.self, from: Data(Self.richJSON.utf8))
        let encoded = try JSONEncoder().encode(decoded)
        let again = try JSONDecoder().decode(Blueprint.self, from: encoded)
        #expect(again == decoded)
        #expect(decoded.version == "3")
        #expect(decoded.nodes[1].config.maxAttempts == 4)
        #expect(decoded.nodes[1].config.timeout == .milliseconds(2500))
        #expect(decoded.nodes[1].config.backoff == .exponential(initial: .milliseconds(250), multiplier: 3, maximum: .seconds(10), jitter: 0.1))
        #expect(decoded.nodes[2].config.backoff == .fixed(.seconds(1)))
        #expect(decoded.nodes[3].config.join == .any)
        #expect(decoded.edges[1].condition == .predicate("isRisky"))
        #expect(decoded.edges[3].transform == .function("toShipment"))
        #expect(decoded.nodes[0].params == ["strict": true, "limits": [1, 2.5, nil]])
        // Integers stay integers and doubles stay doubles.
        #expect(decoded.metadata["sla"] == .double(2.5))
        #expect(decoded.nodes[0].params["limits"]?[0] == .int(1))
    }

    @Test("A blueprint built in Swift round-trips through JSON too")
    func builderRoundTrip() throws {
        let workflow = Workflow("built", version: "2") {
            Node("a", echo).retry(maxAttempts: 2, backoff: .fixed(.seconds(3))).timeout(.seconds(1)).queue("gpu").priority(2)
            Node("b", echo).join(.any).inputs("nodes.a.value")
            Edge("a", to: "b", action: "go", when: "output.ok", transform: "output.value")
        }
        let data = try JSONEncoder().encode(workflow.blueprint)
        #expect(try JSONDecoder().decode(Blueprint.self, from: data) == workflow.blueprint)
    }

    @Test("Running never mutates the blueprint")
    func blueprintNotMutated() async throws {
        let workflow = Workflow("immutable") {
            Node("a", echo)
            Node("b", echo)
            Chain("a", "b")
        }
        let before = workflow.blueprint
        _ = try await LocalRuntime(workflow).run(workflow, input: 1)
        #expect(workflow.blueprint == before)
    }

    @Test("Validation reports each problem with its stable code")
    func validationCodes() throws {
        var registry = NodeRegistry()
        registry.register("known") { context in context.input }
        let blueprint = Blueprint(
            id: "broken",
            nodes: [
                NodeDefinition(id: "a", uses: "known"),
                NodeDefinition(id: "a", uses: "known"),
                NodeDefinition(id: "b", uses: "missing"),
                NodeDefinition(id: "c", uses: "known", config: NodeConfiguration(maxAttempts: 0)),
            ],
            edges: [
                EdgeDefinition(source: "a", target: "ghost"),
                EdgeDefinition(source: "a", target: "b", condition: "output >"),
                EdgeDefinition(source: "a", target: "c", condition: .predicate("nope"), transform: .function("nada")),
            ])
        let report = blueprint.validate(against: registry)
        #expect(!report.isValid)
        #expect(report.codes == [
            .duplicateNodeID, .missingImplementation, .unknownEdgeNode, .invalidCondition, .unknownPredicate,
            .unknownTransform, .invalidConfiguration,
        ])
        let missing = try #require(report.issues.first { $0.code == .missingImplementation })
        #expect(missing.nodeID == "b")
        #expect(missing.message.contains("\"missing\""))
    }

    @Test("Validation finds cycles, unreachable nodes and joins that can never fire")
    func validationGraphCodes() {
        var registry = NodeRegistry()
        registry.register("n") { context in context.input }
        let cycle = Blueprint(
            id: "cycle",
            nodes: ["start", "x", "y"].map { NodeDefinition(id: $0, uses: "n") },
            edges: [
                EdgeDefinition(source: "x", target: "y"), EdgeDefinition(source: "y", target: "x"),
            ])
        let cycleReport = cycle.validate(against: registry)
        #expect(cycleReport.codes == [.cycle, .unreachableNode])
        #expect(cycleReport.issues.filter { $0.code == .unreachableNode }.map(\.nodeID) == ["x", "y"])

        let neverFires = Blueprint(
            id: "never",
            nodes: ["start", "l", "r", "join"].map { NodeDefinition(id: $0, uses: "n") },
            edges: [
                EdgeDefinition(source: "start", target: "l", condition: "false"),
                EdgeDefinition(source: "start", target: "r", condition: "1 > 2"),
                EdgeDefinition(source: "l", target: "join"),
                EdgeDefinition(source: "r", target: "join"),
            ])
        let neverReport = neverFires.validate(against: registry)
        #expect(neverReport.codes == [.nodeNeverRuns, .joinNeverFires])
        #expect(neverReport.issues.last?.nodeID == "join")

        let badInputs = Blueprint(id: "inputs", nodes: [NodeDefinition(id: "a", uses: "n", inputs: "nodes.nobody.x")])
        #expect(badInputs.validate(against: registry).codes == [.invalidInputs])
        #expect(Blueprint(id: "empty").validate().codes == [.emptyBlueprint])
    }

    @Test("An invalid blueprint is refused before it runs, with every problem in the message")
    func invalidBlueprintRefused() async throws {
        let workflow = Workflow("refused") {
            Node("a", uses: "not-registered")
        }
        let error = await #expect(throws: WeftError.self) {
            _ = try await LocalRuntime(workflow).run(workflow)
        }
        #expect(error?.code == .unknownImplementation)
        #expect(error?.message.contains("not-registered") == true)
    }

    @Test("Expressions: paths, comparisons, boolean logic, functions and literals")
    func expressions() throws {
        let scope = StaticScope(values: [
            "output": ["total": 120, "tags": ["vip", "new"], "name": "Ada", "ratio": 0.5, "nested": ["a": [["b": 7]]]],
            "input": ["limit": 100],
        ], context: ["tier": "gold"])
        func eval(_ text: String) throws -> JSONValue { try Expression(text).evaluate(in: scope) }
        #expect(try eval("output.total > input.limit") == true)
        #expect(try eval("output.total >= 120 && output.ratio < 1") == true)
        #expect(try eval("output.total == 120.0") == true)
        #expect(try eval("'vip' in output.tags && !('old' in output.tags)") == true)
        #expect(try eval("context.tier == \"gold\" || false") == true)
        #expect(try eval("context['tier']") == "gold")
        #expect(try eval("output.nested.a[0].b") == 7)
        #expect(try eval("output.tags[-1]") == "new")
        #expect(try eval("output.missing.deeper") == nil)
        #expect(try eval("exists(output.missing)") == false)
        #expect(try eval("len(output.tags) == 2") == true)
        #expect(try eval("'Ad' in output.name") == true)
        #expect(try eval("output.name > 5") == false)  // different types never compare
        #expect(try eval("{n: output.name, t: [1, output.total]}") == ["n": "Ada", "t": [1, 120]])
        #expect(try eval("not(output.tags)") == false)
        #expect(try Expression("true").constantValue == true)
        #expect(try Expression("output.x").constantValue == nil)
    }

    @Test("Expressions that don't parse give a typed error naming the offset")
    func badExpressions() {
        for text in ["", "output.", "output >", "(output", "shell('rm -rf')", "unknownRoot.x", "'open", "a b", "1 +", String(repeating: "(", count: 500) + "1" + String(repeating: ")", count: 500)] {
            #expect(throws: WeftError.self, "\(text)") { _ = try Expression(text) }
        }
        do {
            _ = try Expression("output.total >")
        } catch let error as WeftError {
            #expect(error.code == .invalidExpression)
            #expect(error.message.contains("offset"))
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    /// Issue 24, case 3: `{x: 1e400}` parsed to infinity, passed `validate`, then failed the
    /// embedded run with a raw `EncodingError` and hung the fleet's run.
    @Test("A number literal beyond the range of a double is refused when the expression is parsed")
    func nonFiniteLiterals() throws {
        for text in ["{x: 1e400}", "output.x > -1e309", "[1, 2e308]", "output.x == 1E999"] {
            let error = #expect(throws: WeftError.self, "\(text)") { _ = try Expression(text) }
            #expect(error?.code == .invalidExpression)
            #expect(error?.message.contains("out of range") == true, "\(error.map { "\($0)" } ?? "")")
        }
        // The largest finite doubles and the smallest still parse.
        #expect(try Expression("1.7976931348623157e308").constantValue == .double(1.7976931348623157e308))
        #expect(try Expression("-1.7976931348623157e308").constantValue == .double(-1.7976931348623157e308))
        #expect(try Expression("5e-324").constantValue == .double(5e-324))
        let workflow = Workflow("too-big") {
            Node("a", echo)
            Node("b", echo)
            Edge("a", to: "b", transform: "{x: 1e400}")
        }
        let report = workflow.blueprint.validate()
        #expect(report.issues.contains { $0.message.contains("out of range") }, "\(report)")
    }

    @Test("Mermaid output draws nodes, labelled edges and a finished run's colours")
    func mermaid() async throws {
        let workflow = Workflow("render") {
            Node("a", echo)
            Node("b", echo)
            Node("c", echo)
            Edge("a", to: "b", when: "output == 1")
            Edge("a", to: "c", action: "other")
        }
        let plain = GraphRenderer.mermaid(workflow.blueprint)
        #expect(plain == """
            flowchart TD
                n0["a<br/><small>a</small>"]
                n1["b<br/><small>b</small>"]
                n2["c<br/><small>c</small>"]
                n0 -->|"when output == 1"| n1
                n0 -->|"other"| n2

            """)
        let result = try await LocalRuntime(workflow).run(workflow, input: 1)
        let coloured = GraphRenderer.mermaid(workflow.blueprint, run: result)
        #expect(coloured.contains("class n0 ran"))
        #expect(coloured.contains("class n1 ran"))
        #expect(coloured.contains("class n2 skipped"))
        let dot = GraphRenderer.dot(workflow.blueprint, run: result)
        #expect(dot.contains("\"a\" -> \"b\" [label=\"when output == 1\"];"))
        #expect(dot.contains("fillcolor=\"#eeeeee\""))
    }

    @Test("Malformed JSON gives a typed error, never a crash")
    func malformedJSON() {
        #expect(throws: WeftError.self) { _ = try JSONValue(parsing: "{\"a\": ") }
        do {
            _ = try JSONValue(parsing: "[1, 2")
        } catch let error as WeftError {
            #expect(error.code == .malformedJSON)
        } catch {
            Issue.record("unexpected error \(error)")
        }
        #expect(throws: DecodingError.self) {
            _ = try JSONDecoder().decode(Blueprint.self, from: Data(#"{"id": "x", "nodes": [{"id": "a"}]}"#.utf8))
        }
    }
}

/// A scope over fixed values, for expression tests.
struct StaticScope: ExpressionScope {
    var values: [String: JSONValue]
    var context: [String: JSONValue]
    func value(ofRoot root: String, key: String?) -> JSONValue? {
        if root == "context" { return key.map { context[$0] ?? .null } ?? .object(context) }
        return values[root]
    }
}
