import Weft
import WeftConformance

/// The chaos test's blueprints and node code: a mix of every shape a run can take, each with an
/// output that follows from its input alone, so that the embedded runtime's result for the same
/// input is the reference for the fleet's.
enum ChaosWorkloads {
    /// The node code: `chaos.add` adds `params.n` to an integer input; `chaos.sum` adds up the
    /// values of a join's input; `chaos.route` returns the action `even` or `odd`;
    /// `chaos.flaky` fails its first `params.failures` attempts (retryably), then doubles its
    /// input; `chaos.fail` fails every attempt for inputs divisible by `params.every`;
    /// `chaos.step` counts a loop pass.
    static let registry: NodeRegistry = {
        var registry = NodeRegistry()
        registry.register("chaos.add") { (context: NodeContext) async throws -> JSONValue in
            .int(try integer(context.input) + Int64(context.params["n"]?.intValue ?? 0))
        }
        registry.register("chaos.sum") { (context: NodeContext) async throws -> JSONValue in
            guard case .object(let arrivals) = context.input else { return context.input }
            return .int(try arrivals.values.reduce(0) { $0 + (try integer($1)) })
        }
        registry.register("chaos.route") { (context: NodeContext) async throws -> NodeOutput in
            let value = try integer(context.input)
            return .action(value % 2 == 0 ? "even" : "odd", .int(value))
        }
        registry.register("chaos.flaky") { (context: NodeContext) async throws -> JSONValue in
            let failures = context.params["failures"]?.intValue ?? 1
            guard context.attempt > failures else {
                throw NodeError.transient("attempt \(context.attempt) of chaos.flaky fails on purpose", code: "flaky")
            }
            return .int(try integer(context.input) * 2)
        }
        registry.register("chaos.fail") { (context: NodeContext) async throws -> JSONValue in
            let value = try integer(context.input)
            if value % Int64(context.params["every"]?.intValue ?? 7) == 0 {
                throw NodeError.permanent("\(value) is refused on purpose", code: "refused")
            }
            return .int(value)
        }
        registry.register("chaos.step") { (context: NodeContext) async throws -> JSONValue in
            var state = context.input.objectValue ?? [:]
            state["count"] = .int(Int64(state["count"]?.intValue ?? 0) + 1)
            state["sum"] = .int(Int64(state["sum"]?.intValue ?? 0) + Int64(state["count"]?.intValue ?? 0) * 10)
            return .object(state)
        }
        registry.register("chaos.seed") { (context: NodeContext) async throws -> JSONValue in
            ["count": 0, "sum": .int(try integer(context.input))]
        }
        registry.register(child)
        for scenario in generated { registry.merge(scenario.workflow.registry) }
        return registry
    }()

    /// Generated workflows (``WorkflowGenerator``, seeds 1…48, up to 8 nodes): every other run
    /// is one of them, so the chaos test is not limited to the shapes above.
    static let generated: [EngineScenario] = WorkflowGenerator(options: .init(maxNodes: 8, signals: false)).scenarios(1...48)

    private static func integer(_ value: JSONValue) throws -> Int64 {
        guard let integer = value.intValue else { throw NodeError.permanent("expected an integer, got \(value)", code: "bad_input") }
        return Int64(integer)
    }

    /// Ten additions in a row.
    static let chain = Workflow("chaos-chain") {
        for index in 0..<10 { Node("c\(index)", uses: "chaos.add", params: ["n": .int(Int64(index + 1))]) }
        Chain((0..<10).map { "c\($0)" })
    }

    /// A split into six branches, joined by `all`.
    static let fanAll = Workflow("chaos-fan-all") {
        Node("split", uses: "chaos.add", params: ["n": 1])
        for index in 0..<6 { Node("b\(index)", uses: "chaos.add", params: ["n": .int(Int64(index * 100))]) }
        Node("join", uses: "chaos.sum").join(.all)
        for index in 0..<6 {
            Edge("split", to: "b\(index)")
            Edge("b\(index)", to: "join")
        }
    }

    /// A split into three branches of equal outputs, joined by `any`: the join runs once, on the
    /// first arrival.
    static let fanAny = Workflow("chaos-fan-any") {
        Node("split", uses: "chaos.add", params: ["n": 2])
        for index in 0..<3 { Node("b\(index)", uses: "chaos.add", params: ["n": 5]) }
        Node("first", uses: "chaos.add", params: ["n": 1]).join(.any)
        for index in 0..<3 {
            Edge("split", to: "b\(index)")
            Edge("b\(index)", to: "first")
        }
    }

    /// Exclusive branches chosen by an action, and a node after both: the branch not taken is
    /// skipped, and so is its edge into `merge`.
    static let exclusive = Workflow("chaos-exclusive") {
        Node("route", uses: "chaos.route")
        Node("even", uses: "chaos.add", params: ["n": 1000])
        Node("odd", uses: "chaos.add", params: ["n": 2000])
        Node("merge", uses: "chaos.add", params: ["n": 3])
        Edge("route", to: "even", action: "even")
        Edge("route", to: "odd", action: "odd")
        Edge("even", to: "merge")
        Edge("odd", to: "merge")
    }

    /// A node that fails twice before it succeeds (its retries wait in durable timers), and a
    /// node that fails for good on every seventh input, failing the run.
    static let retries = Workflow("chaos-retries") {
        Node("flaky", uses: "chaos.flaky", params: ["failures": 2]).retry(maxAttempts: 3, backoff: .fixed(.milliseconds(200)))
        Node("gate", uses: "chaos.fail", params: ["every": 7])
        Node("after", uses: "chaos.add", params: ["n": 1])
        Chain("flaky", "gate", "after")
    }

    /// A loop of four passes, each a child run.
    static let loop = Workflow("chaos-loop") {
        Node("seed", uses: "chaos.seed")
        Node.loop("count", while: "state.count < 4", maxIterations: 10) {
            Node("step", uses: "chaos.step")
        }
        Edge("seed", to: "count")
    }

    /// The sub-workflow: three additions.
    static let child = Workflow("chaos-child") {
        Node("x", uses: "chaos.add", params: ["n": 7])
        Node("y", uses: "chaos.add", params: ["n": 11])
        Node("z", uses: "chaos.add", params: ["n": 13])
        Chain("x", "y", "z")
    }

    /// A node, the sub-workflow as a child run, and a node after it.
    static let subworkflow = Workflow("chaos-subworkflow") {
        Node("before", uses: "chaos.add", params: ["n": 3])
        Node.subworkflow("child", child)
        Node("after", uses: "chaos.add", params: ["n": 5])
        Chain("before", "child", "after")
    }

    /// Every workflow, in the order runs cycle through them.
    static let mix: [Workflow] = [chain, fanAll, fanAny, exclusive, retries, loop, subworkflow, chain]

    /// Every blueprint a worker serves, the child's included.
    static var blueprints: [Blueprint] { mix.map(\.blueprint) + [child.blueprint] + generated.map(\.workflow.blueprint) }

    /// The workflow and input of run number `index`: even runs go through the fixed mix, odd
    /// ones through the generated workflows and their inputs.
    static func run(_ index: Int) -> (workflow: Workflow, input: JSONValue) {
        guard index % 2 == 1 else { return (mix[(index / 2) % mix.count], .int(Int64(index))) }
        let scenario = generated[(index / 2) % generated.count]
        return (scenario.workflow, scenario.inputs[(index / 2 / generated.count) % scenario.inputs.count])
    }
}
