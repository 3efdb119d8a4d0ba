/// Node code with its types erased, as the runtimes call it. Built by ``NodeRegistry``.
struct AnyNode: Sendable {
    enum Body: Sendable {
        /// A closure: one phase, retried as a whole.
        case closure(@Sendable (NodeContext) async throws -> NodeOutput)
        /// A closure returning only a value (and taking the default edges).
        case valueClosure(@Sendable (NodeContext) async throws -> JSONValue)
        /// A ``WorkflowNode`` with its lifecycle.
        case lifecycle(any ErasedLifecycle)
    }

    let body: Body

    /// Returns its input: the code of `weft.break`.
    static let passThrough = AnyNode(body: .valueClosure({ context in context.input }))

    /// Whether this node has lifecycle hooks (prepare, finish, fallback, cleanup).
    var hasLifecycle: Bool {
        if case .lifecycle = body { return true }
        return false
    }

    /// Runs one attempt: `prepare` (when `prepared` is `nil`), `execute` and `finish`.
    /// Returns the output and the prepared state to keep for later attempts.
    func runAttempt(_ context: NodeContext, prepared: inout JSONValue?) async throws -> NodeOutput {
        switch body {
        case .closure(let closure):
            return try await closure(context)
        case .valueClosure(let closure):
            return NodeOutput(try await closure(context))
        case .lifecycle(let node):
            let state: JSONValue
            if let prepared {
                state = prepared
            } else {
                state = try await node.prepare(context)
                prepared = state
            }
            let output = try await node.execute(context, prepared: state)
            let action = try await node.finish(context, prepared: state, output: output)
            return NodeOutput(output, action: action)
        }
    }

    /// Runs the node's own fallback hook; `nil` when it has none.
    func runFallback(_ context: NodeContext, prepared: JSONValue?, failure: NodeFailure) async throws -> NodeOutput? {
        guard case .lifecycle(let node) = body, let prepared else { return nil }
        do {
            let output = try await node.fallback(context, prepared: prepared, failure: failure)
            let action = try await node.finish(context, prepared: prepared, output: output)
            return NodeOutput(output, action: action)
        } catch is NoFallback {
            return nil
        }
    }

    /// Runs the node's cleanup hook.
    func cleanup(_ context: NodeContext) async {
        if case .lifecycle(let node) = body { await node.cleanup(context) }
    }
}

/// The lifecycle of a ``WorkflowNode`` over JSON values.
protocol ErasedLifecycle: Sendable {
    func prepare(_ context: NodeContext) async throws -> JSONValue
    func execute(_ context: NodeContext, prepared: JSONValue) async throws -> JSONValue
    func finish(_ context: NodeContext, prepared: JSONValue, output: JSONValue) async throws -> String?
    func fallback(_ context: NodeContext, prepared: JSONValue, failure: NodeFailure) async throws -> JSONValue
    func cleanup(_ context: NodeContext) async
}

struct LifecycleBox<Node: WorkflowNode>: ErasedLifecycle {
    let node: Node

    func prepare(_ context: NodeContext) async throws -> JSONValue {
        let input = try context.input(as: Node.Input.self)
        return try JSONValue(encoding: try await node.prepare(input, context: context))
    }

    func execute(_ context: NodeContext, prepared: JSONValue) async throws -> JSONValue {
        let state = try prepared.decode(as: Node.Prepared.self)
        return try JSONValue(encoding: try await node.execute(state, context: context))
    }

    func finish(_ context: NodeContext, prepared: JSONValue, output: JSONValue) async throws -> String? {
        try await node.finish(
            try prepared.decode(as: Node.Prepared.self), output: try output.decode(as: Node.Output.self),
            context: context)
    }

    func fallback(_ context: NodeContext, prepared: JSONValue, failure: NodeFailure) async throws -> JSONValue {
        let state = try prepared.decode(as: Node.Prepared.self)
        return try JSONValue(encoding: try await node.fallback(state, failure: failure, context: context))
    }

    func cleanup(_ context: NodeContext) async {
        await node.cleanup(context: context)
    }
}
