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
    /// Which registration each entry came from: copies and merges keep it, so code that two
    /// merged registries give one key differently is told from the same code met twice.
    var origins: [Entry: RegistrationOrigin] = [:]
    /// What merges found given differently by two registries, described.
    private var conflicting: Set<String> = []

    /// An entry of the registry.
    enum Entry: Hashable, Sendable {
        case node(String)
        case predicate(String)
        case transform(String)
    }

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
        origins[.node(key)] = RegistrationOrigin()
    }

    /// Registers a closure that returns a JSON value (and takes the default edges).
    public mutating func register(_ key: String, _ body: @escaping @Sendable (NodeContext) async throws -> JSONValue) {
        nodes[key] = AnyNode(body: .valueClosure(body))
        origins[.node(key)] = RegistrationOrigin()
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
        origins[.node(key)] = RegistrationOrigin()
    }

    /// Registers a node type with its lifecycle.
    public mutating func register<Node: WorkflowNode>(_ key: String, _ node: Node) {
        nodes[key] = AnyNode(body: .lifecycle(LifecycleBox(node: node)))
        origins[.node(key)] = RegistrationOrigin()
    }

    /// Registers a predicate for edge conditions written `{"predicate": name}`.
    public mutating func registerPredicate(_ name: String, _ predicate: @escaping EdgePredicate) {
        predicates[name] = predicate
        origins[.predicate(name)] = RegistrationOrigin()
    }

    /// Registers a transform for edges written `{"function": name}`.
    public mutating func registerTransform(_ name: String, _ transform: @escaping EdgeTransformFunction) {
        transforms[name] = transform
        origins[.transform(name)] = RegistrationOrigin()
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

    /// Adds everything from `other`. A key that both registries give different code (or a
    /// blueprint id and version they give different blueprints) is a conflict: it is listed in
    /// ``conflicts``, and validating a blueprint against this registry (so compiling it, running
    /// it, or serving it on a worker) fails with an issue naming it. The same code met twice (a
    /// registry merged again, a shared registry merged into several workflows) is no conflict.
    public mutating func merge(_ other: NodeRegistry) {
        for key in other.nodes.keys where nodes[key] != nil && origins[.node(key)] !== other.origins[.node(key)] {
            conflicting.insert("node code \"\(key)\"")
        }
        for key in other.predicates.keys where predicates[key] != nil && origins[.predicate(key)] !== other.origins[.predicate(key)] {
            conflicting.insert("predicate \"\(key)\"")
        }
        for key in other.transforms.keys where transforms[key] != nil && origins[.transform(key)] !== other.origins[.transform(key)] {
            conflicting.insert("transform \"\(key)\"")
        }
        for (key, blueprint) in other.blueprints where blueprints[key].map({ $0 != blueprint }) ?? false {
            conflicting.insert("blueprint \"\(key.id)\" v\(key.version)")
        }
        nodes.merge(other.nodes) { $1 }
        predicates.merge(other.predicates) { $1 }
        transforms.merge(other.transforms) { $1 }
        blueprints.merge(other.blueprints) { $1 }
        origins.merge(other.origins) { $1 }
        conflicting.formUnion(other.conflicting)
    }

    /// What merged registries gave differently (node code, predicates, transforms under one key;
    /// blueprints under one id and version), described and sorted; empty when nothing did.
    public var conflicts: [String] { conflicting.sorted() }

    /// This registry with every code key renamed by `name` (blueprints keep theirs), origins
    /// and conflicts kept.
    func renamingKeys(_ name: (String) -> String) -> NodeRegistry {
        var renamed = NodeRegistry()
        for (key, node) in nodes { renamed.nodes[name(key)] = node }
        for (key, predicate) in predicates { renamed.predicates[name(key)] = predicate }
        for (key, transform) in transforms { renamed.transforms[name(key)] = transform }
        for (entry, origin) in origins {
            switch entry {
            case .node(let key): renamed.origins[.node(name(key))] = origin
            case .predicate(let key): renamed.origins[.predicate(name(key))] = origin
            case .transform(let key): renamed.origins[.transform(name(key))] = origin
            }
        }
        renamed.conflicting = conflicting
        return renamed
    }

    func node(_ key: String) -> AnyNode? {
        if let node = nodes[key] { return node }
        // The runtime's own constructs: `weft.break` passes its input on; the others are
        // performed by the runtime and never run as code.
        return ControlNode.isReserved(key) ? AnyNode.passThrough : nil
    }
}

/// One registration's identity: entries that share it are the same code.
final class RegistrationOrigin: Sendable {}

/// A blueprint's id and version, as a key.
struct BlueprintKey: Hashable, Sendable {
    var id: String
    var version: String
}
