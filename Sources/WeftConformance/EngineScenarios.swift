import Weft

extension EngineScenario {
    /// Scenarios covering every rule of a run that does not depend on time: chains, fan-out
    /// and `all`/`any` joins, exclusive branches and dead-path elimination, actions, conditions,
    /// transforms, inputs, context writes, retries, fallback and failure.
    public static let standard: [EngineScenario] = [
        chain, fanOutAllJoin, anyJoin, exclusiveBranches, actions, deadPathChain, transforms, inputsSpec,
        contextWrites, retries, fallback, failure, nonRetryable, wideFanOut, diamondWithSkip, terminalBesideSkippedEdge,
    ]

    /// Issue 23's repro: `S → X, S → T, X → Y when output.x > 1000`. X and T both ran and took
    /// no edge, so the result holds both, whichever finishes last (a fleet once returned X's
    /// output alone when X's skipped edge completed the run).
    public static let terminalBesideSkippedEdge = EngineScenario("terminal beside a skipped edge", inputs: [1, 2, 3, 4]) {
        Node("S") { $0.input }
        Node("X") { _ in ["x": 1] }
        Node("T") { _ in ["t": 1] }
        Node("Y") { $0.input }
        Edge("S", to: "X")
        Edge("S", to: "T")
        Edge("X", to: "Y", when: "output.x > 1000")
    }

    /// `a → b → c`.
    public static let chain = EngineScenario("chain", inputs: [1, 41]) {
        Node("a") { context in JSONValue(context.input.intValue! + 1) }
        Node("b") { context in JSONValue(context.input.intValue! * 2) }
        Node("c") { context in ["result": context.input] }
        Chain("a", "b", "c")
    }

    /// `split → x, y, z → join` with an `all` join: the join gets a map by predecessor.
    public static let fanOutAllJoin = EngineScenario("fan-out and all join", inputs: [10]) {
        Node("split") { $0.input }
        Node("x") { context in JSONValue(context.input.intValue! + 1) }
        Node("y") { context in JSONValue(context.input.intValue! + 2) }
        Node("z") { context in JSONValue(context.input.intValue! + 3) }
        Node("join") { $0.input }
        Edge("split", to: "x")
        Edge("split", to: "y")
        Edge("split", to: "z")
        Edge("x", to: "join")
        Edge("y", to: "join")
        Edge("z", to: "join")
    }

    /// An `any` join runs once, on the first taken edge.
    public static let anyJoin = EngineScenario("any join", inputs: [5]) {
        Node("split") { $0.input }
        Node("left") { context in JSONValue(context.input.intValue! + 1) }
        Node("right") { context in JSONValue(context.input.intValue! + 1) }
        Node("first") { context in ["got": context.input] }.join(.any)
        Edge("split", to: "left")
        Edge("split", to: "right")
        Edge("left", to: "first")
        Edge("right", to: "first")
    }

    /// Conditions pick one of two branches; the other is skipped, and the join after them
    /// fires with the taken branch's output.
    public static let exclusiveBranches = EngineScenario("exclusive branches", inputs: ["L", "R", "neither"]) {
        Node("decide") { $0.input }
        Node("left") { _ in "from left" }
        Node("right") { _ in "from right" }
        Node("join") { $0.input }
        Edge("decide", to: "left", when: "output == 'L'")
        Edge("decide", to: "right", when: "output == 'R'")
        Edge("left", to: "join")
        Edge("right", to: "join")
    }

    /// A returned action picks its labelled edges; no label matching falls back to the default.
    public static let actions = EngineScenario("actions", inputs: [3, 300, -1]) {
        Node("classify", routing: { context in
            let value = context.input.intValue!
            if value < 0 { return NodeOutput(context.input, action: "unknown-action") }
            return NodeOutput(context.input, action: value > 100 ? "big" : "small")
        })
        Node("big") { _ in "big" }
        Node("small") { _ in "small" }
        Node("other") { _ in "default" }
        Edge("classify", to: "big", action: "big")
        Edge("classify", to: "small", action: "small")
        Edge("classify", to: "other")
    }

    /// A skipped branch three nodes deep is skipped all the way, and the run completes.
    public static let deadPathChain = EngineScenario("dead-path elimination", inputs: [true, false]) {
        Node("start") { $0.input }
        Node("b1") { _ in 1 }
        Node("b2") { $0.input }
        Node("b3") { $0.input }
        Node("other") { _ in "other" }
        Node("end") { $0.input }
        Edge("start", to: "b1", when: "output == true")
        Edge("start", to: "other")
        Chain("b1", "b2", "b3")
        Edge("b3", to: "end")
        Edge("other", to: "end")
    }

    /// Edge transforms shape what an edge carries.
    public static let transforms = EngineScenario("transforms", inputs: [["id": 7, "name": "x"]]) {
        Node("source") { $0.input }
        Node("target") { $0.input }
        Edge("source", to: "target", transform: "{case: output.id, label: output.name}")
    }

    /// `inputs` build a node's input from the run input, other nodes' outputs and the context.
    public static let inputsSpec = EngineScenario(
        "inputs", inputs: [["order": 12]], options: RunOptions(context: ["region": "eu"])
    ) {
        Node("price") { context in JSONValue(context.input["order"]!.intValue! * 10) }
        Node("tax") { context in JSONValue(context.input.intValue! / 5) }
        Node("total") { $0.input }.inputs(.map([
            "price": "nodes.price", "tax": "nodes.tax", "order": "input.order", "region": "context.region",
        ]))
        Chain("price", "tax", "total")
    }

    /// A node's context writes are visible to later nodes and to edge conditions.
    public static let contextWrites = EngineScenario("context writes", inputs: [1, 2]) {
        Node("mark") { context in
            context.context.set("flag", .bool(context.input.intValue! == 1))
            context.context.set("seen", context.input)
            return context.input
        }
        Node("flagged") { context in ["seen": context.context.value(forKey: "seen") ?? .null] }
        Node("plain") { _ in "plain" }
        Edge("mark", to: "flagged", when: "context.flag == true")
        Edge("mark", to: "plain", when: "context.flag == false")
    }

    /// A node that fails twice with a transient error succeeds on its third attempt.
    public static let retries = EngineScenario("retries", inputs: [1]) {
        Node("flaky") { context in
            if context.attempt < 3 { throw NodeError.transient("attempt \(context.attempt) fails") }
            return ["attempt": JSONValue(context.attempt)]
        }.retry(maxAttempts: 3, backoff: .fixed(.milliseconds(1)))
        Node("after") { $0.input }
        Chain("flaky", "after")
    }

    /// Exhausted attempts run the fallback, whose output flows along the node's edges.
    public static let fallback = EngineScenario("fallback", inputs: [1]) {
        Node("broken") { _ -> JSONValue in throw NodeError.transient("always") }
            .retry(maxAttempts: 2, backoff: .fixed(.milliseconds(1)))
            .fallback { context in ["fallback": true, "error": .string(context.failure?.message ?? "")] }
        Node("after") { $0.input }
        Chain("broken", "after")
    }

    /// A node that fails for good fails the run, naming the node.
    public static let failure = EngineScenario("failure", inputs: [1]) {
        Node("ok") { $0.input }
        Node("bad") { _ -> JSONValue in throw NodeError.permanent("no", code: "E_BAD") }
        Node("never") { $0.input }
        Chain("ok", "bad", "never")
    }

    /// A non-retryable error ends the node on its first attempt despite `maxAttempts`.
    public static let nonRetryable = EngineScenario("non-retryable error", inputs: [1]) {
        Node("bad") { context -> JSONValue in
            throw NodeError.permanent("attempt \(context.attempt)", code: "E_PERM")
        }.retry(maxAttempts: 3, backoff: .fixed(.milliseconds(1)))
    }

    /// `1 → 20 → 1`.
    public static let wideFanOut = EngineScenario("wide fan-out", inputs: [2]) {
        Node("split") { $0.input }
        for index in 0..<20 {
            Node("w\(index)", uses: "square") { context in JSONValue(context.input.intValue! * context.input.intValue!) }
        }
        Node("gather") { context in JSONValue(context.input.objectValue!.count) }
        for index in 0..<20 {
            Edge("split", to: "w\(index)")
            Edge("w\(index)", to: "gather")
        }
    }

    /// A diamond where one side is skipped and the join still fires with the other.
    public static let diamondWithSkip = EngineScenario("diamond with a skipped side", inputs: [0, 1]) {
        Node("top") { $0.input }
        Node("even") { _ in "even" }
        Node("odd") { _ in "odd" }
        Node("tail") { _ in "tail" }
        Node("bottom") { $0.input }
        Edge("top", to: "even", when: "output == 0")
        Edge("top", to: "odd", when: "output == 1")
        Edge("odd", to: "tail")
        Edge("even", to: "bottom")
        Edge("tail", to: "bottom")
    }
}

extension EngineScenario {
    /// Creates a scenario from a workflow built in the trailing closure.
    public init(
        _ name: String, inputs: [JSONValue] = [.null], options: RunOptions = RunOptions(),
        @WorkflowBuilder _ components: () -> [any WorkflowComponent]
    ) {
        self.init(
            name, inputs: inputs, options: options,
            workflow: Workflow(name.replacingOccurrences(of: " ", with: "-"), components)
                .namespaced(name.replacingOccurrences(of: " ", with: "-")))
    }
}
