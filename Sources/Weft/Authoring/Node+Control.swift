extension Node {
    /// A loop: runs `body` once per pass, as a child run, while `condition` holds.
    ///
    /// `condition` is evaluated before each pass with `state` (the loop's input before the first
    /// pass, then the previous pass's result), `iteration` (passes done so far), `input`,
    /// `params` and `context`; without one, the loop runs until a `weft.break` node
    /// (``breakLoop(_:)``) in its body runs. The loop's output is the last pass's result, or
    /// the output of the break node that ended it. Starting pass `maxIterations + 1` fails the
    /// node with ``WeftError/Code/loopLimitExceeded``.
    ///
    /// ```swift
    /// Node.loop("poll", while: "state.ready != true", maxIterations: 20) {
    ///     Node("check") { context in try await checkStatus(context.input) }
    ///     Node("wait") { context in context.input }
    ///     Edge("check", to: "wait")
    /// }
    /// ```
    public static func loop(
        _ id: String, while condition: String? = nil, maxIterations: Int = 1000,
        @WorkflowBuilder body: () -> [any WorkflowComponent]
    ) -> Node {
        let workflow = Workflow(id, body)
        var params: [String: JSONValue] = [
            "body": (try? JSONValue(encoding: workflow.blueprint)) ?? .null, "maxIterations": .int(Int64(maxIterations)),
        ]
        if let condition { params["while"] = .string(condition) }
        var node = Node(id, uses: ControlNode.Kind.loop.rawValue, params: .object(params))
        let registry = workflow.registry
        node.registrations = [{ $0.merge(registry) }]
        return node
    }

    /// A sub-workflow: starts a child run of the registered blueprint `blueprint` (see
    /// ``NodeRegistry/register(_:)-(Workflow)``), waits for it, and ends with its result.
    ///
    /// `input` maps the node's scope (`input`, `params`, `context`) to the child's input, and
    /// `output` maps the child's result (`output`) to the node's; both default to the value
    /// itself. A child that fails fails the node's attempt, so retries and fallbacks apply;
    /// cancelling the run cancels the child. On a fleet the child is a run of its own, run by
    /// the workers.
    public static func subworkflow(
        _ id: String, blueprint: String, version: String = "1", input: String? = nil, output: String? = nil
    ) -> Node {
        var params: [String: JSONValue] = ["blueprint": .string(blueprint), "version": .string(version)]
        if let input { params["input"] = .string(input) }
        if let output { params["output"] = .string(output) }
        return Node(id, uses: ControlNode.Kind.subworkflow.rawValue, params: .object(params))
    }

    /// A sub-workflow of `workflow`, which is registered with this workflow's code.
    public static func subworkflow(_ id: String, _ workflow: Workflow, input: String? = nil, output: String? = nil) -> Node {
        var node = subworkflow(id, blueprint: workflow.blueprint.id, version: workflow.blueprint.version, input: input, output: output)
        node.registrations = [{ $0.register(workflow) }]
        return node
    }

    /// A batch: runs the code registered under `key` once per element of `items` (an
    /// expression over `input`, `params` and `context` that gives an array), at most
    /// `concurrency` at once, and ends with the outputs in input order. An empty array gives
    /// `[]`. Each item is a child run, so on a fleet the items run on the workers.
    public static func batch(
        _ id: String, items: String = "input", node key: String, concurrency: Int = 16,
        onFailure: BatchFailurePolicy = .failFast
    ) -> Node {
        let params: [String: JSONValue] = [
            "items": .string(items), "node": .string(key), "concurrency": .int(Int64(concurrency)),
            "onFailure": .string(onFailure.rawValue),
        ]
        return Node(id, uses: ControlNode.Kind.batch.rawValue, params: .object(params))
    }

    /// A batch running `body` per item, registered under `"<id>.item"`.
    public static func batch(
        _ id: String, items: String = "input", concurrency: Int = 16,
        onFailure: BatchFailurePolicy = .failFast, _ body: @escaping @Sendable (NodeContext) async throws -> JSONValue
    ) -> Node {
        let key = id + ".item"
        var node = batch(id, items: items, node: key, concurrency: concurrency, onFailure: onFailure)
        node.registrations = [{ $0.register(key, body) }]
        return node
    }

    /// A batch running a child run of the registered blueprint `blueprint` per item.
    public static func batch(
        _ id: String, items: String = "input", blueprint: String, version: String = "1",
        concurrency: Int = 16, onFailure: BatchFailurePolicy = .failFast
    ) -> Node {
        let params: [String: JSONValue] = [
            "items": .string(items), "blueprint": .string(blueprint), "version": .string(version),
            "concurrency": .int(Int64(concurrency)), "onFailure": .string(onFailure.rawValue),
        ]
        return Node(id, uses: ControlNode.Kind.batch.rawValue, params: .object(params))
    }

    /// A wait: pauses the run at this node (nothing downstream starts) until a signal arrives
    /// through the runtime (``LocalRuntime/signal(runID:nodeID:action:payload:)``,
    /// `DistributedRuntime.signal`, `weft signal`). The node ends with the signal's payload as
    /// output and its action, which routes the node's edges like a returned action. With a
    /// `timeout`, the node ends with `timeoutAction` (and its input) when no signal came in time.
    /// `actions` lists the actions a signal may carry (empty: any).
    public static func waitForSignal(
        _ id: String, actions: [String] = [], timeout: Duration? = nil, timeoutAction: String = "timeout"
    ) -> Node {
        var params: [String: JSONValue] = ["actions": .array(actions.map { .string($0) })]
        if let timeout {
            params["timeout"] = seconds(timeout)
            params["timeoutAction"] = .string(timeoutAction)
        }
        return Node(id, uses: ControlNode.Kind.wait.rawValue, params: .object(params))
    }

    /// A sleep: the node ends, passing its input on, once `duration` has passed. On a fleet it
    /// is a durable timer in the state store: it survives worker and broker restarts, and no
    /// worker is held meanwhile.
    public static func sleep(_ id: String, for duration: Duration) -> Node {
        Node(id, uses: ControlNode.Kind.sleep.rawValue, params: ["seconds": seconds(duration)])
    }

    /// Seconds as JSON: whole numbers as integers, so that the params read back from JSON equal.
    private static func seconds(_ duration: Duration) -> JSONValue {
        let value = duration.seconds
        if value.rounded() == value, abs(value) < 1e15 { return .int(Int64(value)) }
        return .double(value)
    }

    /// A loop's early exit: in a loop's body, a node that passes its input on and ends the loop
    /// after the current pass, with its input as the loop's output.
    public static func breakLoop(_ id: String) -> Node {
        Node(id, uses: ControlNode.Kind.breakLoop.rawValue)
    }
}
