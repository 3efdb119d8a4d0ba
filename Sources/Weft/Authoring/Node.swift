/// A node of a ``Workflow``: its id, its code, and its configuration, set with chained modifiers.
///
/// ```swift
/// Node("fetch") { context in try await fetch(context.input) }
///     .retry(maxAttempts: 5, backoff: .exponential(initial: .milliseconds(200)))
///     .timeout(.seconds(10))
///     .fallback { context in ["cached": true] }
/// ```
public struct Node: WorkflowComponent {
    /// The node's definition in the blueprint.
    public var definition: NodeDefinition
    var registrations: [@Sendable (inout NodeRegistry) -> Void] = []

    /// A node whose code is registered elsewhere under `uses`.
    public init(_ id: String, uses: String, params: JSONValue = .null) {
        definition = NodeDefinition(id: id, uses: uses, params: params)
    }

    /// A node run by a closure returning a JSON value.
    public init(
        _ id: String, uses: String? = nil, params: JSONValue = .null,
        _ body: @escaping @Sendable (NodeContext) async throws -> JSONValue
    ) {
        let key = uses ?? id
        definition = NodeDefinition(id: id, uses: key, params: params)
        registrations = [{ $0.register(key, body) }]
    }

    /// A node run by a closure returning an output and, optionally, an action.
    @_disfavoredOverload
    public init(
        _ id: String, uses: String? = nil, params: JSONValue = .null,
        routing body: @escaping @Sendable (NodeContext) async throws -> NodeOutput
    ) {
        let key = uses ?? id
        definition = NodeDefinition(id: id, uses: key, params: params)
        registrations = [{ $0.register(key, body) }]
    }

    /// A node run by a closure with typed input and output.
    public init<Input: Decodable & Sendable, Output: Encodable & Sendable>(
        _ id: String, uses: String? = nil, params: JSONValue = .null,
        _ body: @escaping @Sendable (Input, NodeContext) async throws -> Output
    ) {
        let key = uses ?? id
        definition = NodeDefinition(id: id, uses: key, params: params)
        registrations = [{ $0.register(key, body) }]
    }

    /// A node run by a ``WorkflowNode`` type.
    public init<Implementation: WorkflowNode>(
        _ id: String, _ implementation: Implementation, uses: String? = nil, params: JSONValue = .null
    ) {
        let key = uses ?? id
        definition = NodeDefinition(id: id, uses: key, params: params)
        registrations = [{ $0.register(key, implementation) }]
    }

    public func contribute(to parts: inout WorkflowParts) {
        parts.blueprint.nodes.append(definition)
        for register in registrations { register(&parts.registry) }
    }

    // MARK: Modifiers

    /// Up to `maxAttempts` attempts in all, with `backoff` between them.
    public func retry(maxAttempts: Int, backoff: Backoff = .default) -> Node {
        var copy = self
        copy.definition.config.maxAttempts = maxAttempts
        copy.definition.config.backoff = backoff
        return copy
    }

    /// A time limit on each attempt.
    public func timeout(_ timeout: Duration) -> Node {
        var copy = self
        copy.definition.config.timeout = timeout
        return copy
    }

    /// Falls back to code registered under `uses` when attempts are exhausted.
    public func fallback(uses key: String) -> Node {
        var copy = self
        copy.definition.config.fallback = key
        return copy
    }

    /// Falls back to `body` when attempts are exhausted; it gets the failed node's input and
    /// `context.failure`. Registered under `"<id>.fallback"`.
    public func fallback(_ body: @escaping @Sendable (NodeContext) async throws -> JSONValue) -> Node {
        var copy = self
        let key = definition.id + ".fallback"
        copy.definition.config.fallback = key
        copy.registrations.append { $0.register(key, body) }
        return copy
    }

    /// How the node joins several incoming edges.
    public func join(_ strategy: JoinStrategy) -> Node {
        var copy = self
        copy.definition.config.join = strategy
        return copy
    }

    /// Where the node's input comes from (see ``InputSpec``).
    public func inputs(_ spec: InputSpec) -> Node {
        var copy = self
        copy.definition.inputs = spec
        return copy
    }

    /// Declares the node's code blocking (CPU-bound, or synchronous I/O): its attempts run on a
    /// ``BlockingExecutor``'s threads, not on the cooperative pool the runtime needs.
    public func blocking() -> Node {
        var copy = self
        copy.definition.config.blocking = true
        return copy
    }

    /// The queue (capability label) whose workers run the node.
    public func queue(_ name: String) -> Node {
        var copy = self
        copy.definition.config.queue = name
        return copy
    }

    /// The node's priority on its queue.
    public func priority(_ priority: Int) -> Node {
        var copy = self
        copy.definition.config.priority = priority
        return copy
    }

    /// Replaces the whole configuration.
    public func config(_ config: NodeConfiguration) -> Node {
        var copy = self
        copy.definition.config = config
        return copy
    }
}
