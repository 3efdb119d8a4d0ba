/// Node code, edge predicates and edge transforms, each under a string key.
///
/// A blueprint names node code by `uses`; the registry maps those keys to Swift code. The same
/// registry serves the embedded runtime and the workers of a fleet.
///
/// ```swift
/// var registry = NodeRegistry()
/// registry.register("greet") { context in
///     ["greeting": .string("hello, \(context.input["name"]?.stringValue ?? "you")")]
/// }
/// registry.register("charge", ChargeCard())
/// registry.registerPredicate("isLarge") { $0.output["total"]?.doubleValue ?? 0 > 1000 }
/// ```
public struct NodeRegistry: Sendable {
    var nodes: [String: AnyNode] = [:]
    var predicates: [String: EdgePredicate] = [:]
    var transforms: [String: EdgeTransformFunction] = [:]
    /// Blueprints that sub-workflows and batches may name, by id and version.
    var blueprints: [BlueprintKey: Blueprint] = [:]

    /// Creates an empty registry.
    public init() {}

    /// The registered node keys, sorted.
    public var keys: [String] { nodes.keys.sorted() }

    /// Whether node code is registered under `key`.
    public func contains(_ key: String) -> Bool { nodes[key] != nil || ControlNode.Kind(rawValue: key) != nil }

    /// Whether a predicate is registered under `name`.
    public func containsPredicate(_ name: String) -> Bool { predicates[name] != nil }

    /// Whether a transform is registered under `name`.
    public func containsTransform(_ name: String) -> Bool { transforms[name] != nil }

    /// Registers a closure that returns an output and, optionally, an action.
    public mutating func register(_ key: String, _ body: @escaping @Sendable (NodeContext) async throws -> NodeOutput) {
        nodes[key] = AnyNode(body: .closure(body))
    }

    /// Registers a closure that returns a JSON value (and takes the default edges).
    public mutating func register(_ key: String, _ body: @escaping @Sendable (NodeContext) async throws -> JSONValue) {
        nodes[key] = AnyNode(body: .valueClosure(body))
    }

    /// Registers a closure with typed `Codable` input and output.
    public mutating func register<Input: Decodable & Sendable, Output: Encodable & Sendable>(
        _ key: String, _ body: @escaping @Sendable (Input, NodeContext) async throws -> Output
    ) {
        nodes[key] = AnyNode(
            body: .closure({ context in
                let input = try context.input(as: Input.self)
                return NodeOutput(try JSONValue(encoding: try await body(input, context)))
            }))
    }

    /// Registers a node type with its lifecycle.
    public mutating func register<Node: WorkflowNode>(_ key: String, _ node: Node) {
        nodes[key] = AnyNode(body: .lifecycle(LifecycleBox(node: node)))
    }

    /// Registers a predicate for edge conditions written `{"predicate": name}`.
    public mutating func registerPredicate(_ name: String, _ predicate: @escaping EdgePredicate) {
        predicates[name] = predicate
    }

    /// Registers a transform for edges written `{"function": name}`.
    public mutating func registerTransform(_ name: String, _ transform: @escaping EdgeTransformFunction) {
        transforms[name] = transform
    }

    /// Registers a blueprint that sub-workflows and batches of other blueprints can name by id
    /// and version (`Node.subworkflow("bill", blueprint: "billing", version: "2")`).
    public mutating func register(_ blueprint: Blueprint) {
        blueprints[BlueprintKey(id: blueprint.id, version: blueprint.version)] = blueprint
    }

    /// Registers `workflow`'s blueprint for sub-workflows to name, and adds its code.
    public mutating func register(_ workflow: Workflow) {
        merge(workflow.registry)
        register(workflow.blueprint)
    }

    /// The blueprint registered under `id` and `version`, if any.
    public func blueprint(id: String, version: String) -> Blueprint? {
        blueprints[BlueprintKey(id: id, version: version)]
    }

    /// Every blueprint registered for sub-workflows, sorted by id and version.
    public var registeredBlueprints: [Blueprint] {
        blueprints.values.sorted { ($0.id, $0.version) < ($1.id, $1.version) }
    }

    /// Adds everything from `other`; its entries win where keys collide.
    public mutating func merge(_ other: NodeRegistry) {
        nodes.merge(other.nodes) { $1 }
        predicates.merge(other.predicates) { $1 }
        transforms.merge(other.transforms) { $1 }
        blueprints.merge(other.blueprints) { $1 }
    }

    func node(_ key: String) -> AnyNode? {
        if let node = nodes[key] { return node }
        // The runtime's own constructs: `weft.break` passes its input on; the others are
        // performed by the runtime and never run as code.
        return ControlNode.isReserved(key) ? AnyNode.passThrough : nil
    }
}

/// A blueprint's id and version, as a key.
struct BlueprintKey: Hashable, Sendable {
    var id: String
    var version: String
}
