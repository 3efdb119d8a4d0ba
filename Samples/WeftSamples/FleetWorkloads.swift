import Weft

/// Small workflows for exercising a fleet: benchmarks, demos and the fleet's tests. The `weft`
/// tool's workers serve them next to the samples; `weft start <name>` starts them.
public enum FleetWorkloads {
    /// Node code that does nothing but pass its input on (`util.pass`), sleep first
    /// (`util.sleep`, `params.milliseconds`), or fail every attempt (`util.fail`).
    /// Registered once (a `let`): the workloads share its code, so merging their registries
    /// finds the same code, not a conflict.
    public static let registry: NodeRegistry = {
        var registry = NodeRegistry()
        registry.register("util.pass") { (context: NodeContext) async throws -> JSONValue in context.input }
        registry.register("util.sleep") { (context: NodeContext) async throws -> JSONValue in
            let milliseconds = context.params["milliseconds"]?.intValue ?? 100
            try await Task.sleep(for: .milliseconds(milliseconds))
            return context.input
        }
        registry.register("util.fail") { (context: NodeContext) async throws -> JSONValue in
            throw NodeError("util.fail always fails", isRetryable: true)
        }
        return registry
    }()

    /// Ten `util.pass` nodes in a row.
    public static let chain = Workflow("chain-10") {
        for index in 0..<10 { Node("n\(index)", uses: "util.pass") }
        for index in 0..<9 { Edge("n\(index)", to: "n\(index + 1)") }
    }.merging(registry)

    /// One node fanning out to 100, joined by one (`all`).
    public static let fanOut = Workflow("fan-100") {
        Node("split", uses: "util.pass")
        for index in 0..<100 { Node("w\(index)", uses: "util.pass") }
        Node("join", uses: "util.pass").join(.all)
        for index in 0..<100 {
            Edge("split", to: "w\(index)")
            Edge("w\(index)", to: "join")
        }
    }.merging(registry)

    /// One `util.pass` node: a run that is one task (the peer comparison's independent tasks).
    public static let single = Workflow("one-step") {
        Node("only", uses: "util.pass")
    }.merging(registry)

    /// Two nodes that sleep 1.5 s each: jobs that are in hand for a while.
    public static let slowChain = Workflow("slow-chain") {
        Node("first", uses: "util.sleep", params: ["milliseconds": 1500])
        Node("second", uses: "util.sleep", params: ["milliseconds": 1500])
        Edge("first", to: "second")
    }.merging(registry)

    /// A node on the default queue, then one on the `gpu` queue.
    public static let gpuStep = Workflow("gpu-step") {
        Node("prepare", uses: "util.pass")
        Node("render", uses: "util.pass").queue("gpu")
        Edge("prepare", to: "render")
    }.merging(registry)

    /// A node, a durable sleep of 2 s, and another node: a run that waits in the state store.
    public static let nap = Workflow("nap") {
        Node("before", uses: "util.pass")
        Node.sleep("nap", for: .seconds(2))
        Node("after", uses: "util.pass")
        Chain("before", "nap", "after")
    }.merging(registry)

    /// A node that waits for `approve` or `reject` (`weft signal <run> decide approve`).
    public static let approval = Workflow("approval") {
        Node("receive", uses: "util.pass")
        Node.waitForSignal("decide", actions: ["approve", "reject"])
        Node("approved", uses: "util.pass")
        Node("rejected", uses: "util.pass")
        Edge("receive", to: "decide")
        Edge("decide", to: "approved", action: "approve")
        Edge("decide", to: "rejected", action: "reject")
    }.merging(registry)

    /// The workloads, by name.
    public static let all: [SampleCatalog.Sample] = [
        .init(name: "chain-10", workflow: chain, input: 1),
        .init(name: "fan-100", workflow: fanOut, input: 1),
        .init(name: "one-step", workflow: single, input: 1),
        .init(name: "slow-chain", workflow: slowChain, input: 1),
        .init(name: "gpu-step", workflow: gpuStep, input: 1),
        .init(name: "nap", workflow: nap, input: 1),
        .init(name: "approval", workflow: approval, input: 1),
    ]
}
