import Weft

extension EngineScenario {
    /// Scenarios of loops, sub-workflows, batches and sleeps (design rule 12): the same
    /// outcomes embedded and on a fleet.
    public static let controlFlow: [EngineScenario] = [
        fivePassLoop, loopEarlyExit, loopWithFanOut, loopLimit, nestedSubworkflows, failingSubworkflow, batch,
        emptyBatch, batchCollectingErrors, batchOfSubworkflows, shortSleep, waitTimesOut,
    ]

    /// A batch whose items are sub-workflow runs, over items read from the run's context.
    public static let batchOfSubworkflows: EngineScenario = {
        let enrich = Workflow("enrich", version: "2") {
            Node("lookup") { context in ["name": context.input, "length": JSONValue(context.input.stringValue?.count ?? 0)] }
            Node("tag") { context in ["tagged": context.input] }
            Chain("lookup", "tag")
        }
        let workflow = Workflow("enrich-all") {
            Node("start") { context in
                context.context.set("names", ["ada", "grace", "lin", "edsger", "barbara"])
                return context.input
            }
            Node.batch("each", items: "context.names", blueprint: "enrich", version: "2", concurrency: 2)
            Chain("start", "each")
        }.merging({ var registry = NodeRegistry(); registry.register(enrich); return registry }())
        return EngineScenario("batch of sub-workflows over context items", workflow: workflow)
    }()

    /// A wait nobody signals ends by its timeout, with the timeout action.
    public static let waitTimesOut = EngineScenario("wait that times out", inputs: ["order-1"]) {
        Node.waitForSignal("approval", actions: ["approve"], timeout: .milliseconds(50), timeoutAction: "expired")
        Node("approved") { _ in "approved" }
        Node("expired") { context in ["expired": context.input] }
        Edge("approval", to: "approved", action: "approve")
        Edge("approval", to: "expired", action: "expired")
    }

    /// A loop whose body (two nodes) runs while `state.count < 5`: five passes.
    public static let fivePassLoop = EngineScenario("five-pass loop", inputs: [["count": 0], ["count": 3], ["count": 9]]) {
        Node("start") { $0.input }
        Node.loop("repeat", while: "state.count < 5", maxIterations: 10) {
            Node("step") { context in ["count": JSONValue(context.input["count"]!.intValue! + 1)] }
            Node("note") { context in context.input }
            Edge("step", to: "note")
        }
        Node("done") { context in ["final": context.input] }
        Chain("start", "repeat", "done")
    }

    /// A loop with no condition, ended by a break node, taken when the count reaches a multiple
    /// of 3 (at pass 3 from 0).
    public static let loopEarlyExit = EngineScenario("loop with an early exit", inputs: [["n": 0], ["n": 10]]) {
        Node.loop("count", maxIterations: 20) {
            Node("step") { context in
                let next = context.input["n"]!.intValue! + 1
                return ["n": JSONValue(next), "stop": JSONValue(next % 3 == 0)]
            }
            Node("more") { $0.input }
            Node.breakLoop("exit")
            Edge("step", to: "more", when: "!output.stop")
            Edge("step", to: "exit", when: "output.stop")
        }
        Node("after") { context in ["exited with": context.input] }
        Edge("count", to: "after")
    }

    /// A loop whose body fans out and joins.
    public static let loopWithFanOut = EngineScenario("loop with a fan-out body", inputs: [1]) {
        Node.loop("grow", while: "state < 100", maxIterations: 10) {
            Node("split") { $0.input }
            Node("double") { context in JSONValue(context.input.intValue! * 2) }
            Node("triple") { context in JSONValue(context.input.intValue! * 3) }
            Node("sum") { context in JSONValue(context.input["double"]!.intValue! + context.input["triple"]!.intValue!) }
            Edge("split", to: "double")
            Edge("split", to: "triple")
            Edge("double", to: "sum")
            Edge("triple", to: "sum")
        }
    }

    /// A loop that never stops fails at its limit, with a clear code.
    public static let loopLimit = EngineScenario("loop limit", inputs: [0]) {
        Node.loop("forever", while: "true", maxIterations: 3) {
            Node("tick") { context in JSONValue(context.input.intValue! + 1) }
        }
    }

    /// A sub-workflow three levels deep, with input and output mappings.
    public static let nestedSubworkflows: EngineScenario = {
        let inner = Workflow("inner", version: "1") {
            Node("leaf") { context in ["leaf": JSONValue(context.input.intValue! * 10)] }
        }
        let middle = Workflow("middle", version: "1") {
            Node("pre") { context in JSONValue(context.input.intValue! + 1) }
            Node.subworkflow("call-inner", inner, output: "output.leaf")
            Chain("pre", "call-inner")
        }
        let outer = Workflow("outer", version: "1") {
            Node.subworkflow("call-middle", middle, input: "input.value")
            Node("post") { context in ["result": context.input] }
            Chain("call-middle", "post")
        }
        return EngineScenario("sub-workflows three levels deep", inputs: [["value": 1], ["value": 41]], workflow: outer)
    }()

    /// A sub-workflow that fails fails its node's attempt, so the node's fallback runs.
    public static let failingSubworkflow: EngineScenario = {
        let child = Workflow("fragile", version: "1") {
            Node("break") { _ -> JSONValue in throw NodeError("the child broke", isRetryable: false) }
        }
        let parent = Workflow("guarded", version: "1") {
            Node.subworkflow("call", child).retry(maxAttempts: 2, backoff: .none).fallback { _ in "fallback used" }
            Node("after") { $0.input }
            Chain("call", "after")
        }
        return EngineScenario("failing sub-workflow", workflow: parent)
    }()

    /// A batch of 1,000 items, 16 at a time, gathered in input order.
    public static let batch = EngineScenario(
        "batch of 1,000", inputs: [["items": .array((0..<1000).map { JSONValue($0) })]]
    ) {
        Node.batch("square", items: "input.items", concurrency: 16) { context in
            JSONValue(context.input.intValue! * context.input.intValue!)
        }
        Node("sum") { context in
            JSONValue(context.input.arrayValue!.reduce(0) { $0 + $1.intValue! })
        }
        Node("check") { context in
            // Order matters: the first three squares, then the total.
            ["total": context.input]
        }
        Chain("square", "sum", "check")
    }

    /// An empty batch gives `[]` and the flow goes on.
    public static let emptyBatch = EngineScenario("empty batch", inputs: [["items": []]]) {
        Node.batch("each", items: "input.items") { $0.input }
        Node("after") { context in ["got": context.input] }
        Chain("each", "after")
    }

    /// A batch collecting its items' errors.
    public static let batchCollectingErrors = EngineScenario("batch collecting errors", inputs: [[1, 2, 3, 4]]) {
        Node.batch("each", concurrency: 2, onFailure: .collect) { context in
            guard context.input.intValue! % 2 == 1 else { throw NodeError("even", code: "even", isRetryable: false) }
            return context.input
        }
    }

    /// A short sleep passes its input on.
    public static let shortSleep = EngineScenario("sleep", inputs: ["zzz"]) {
        Node("before") { $0.input }
        Node.sleep("nap", for: .milliseconds(20))
        Node("after") { context in ["woke with": context.input] }
        Chain("before", "nap", "after")
    }
}
