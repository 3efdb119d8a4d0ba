/// A blueprint compiled against a registry: validated, with node and edge indices, parsed
/// expressions and resolved code. Immutable and shared by every run of the blueprint.
///
/// Compile once and run many times: ``LocalRuntime`` caches plans by blueprint id and version.
public final class ExecutionPlan: Sendable {
    /// The blueprint this plan was compiled from.
    public let blueprint: Blueprint
    let edges: [PlannedEdge]
    let indexByID: [String: Int]
    let startNodes: [Int]
    /// What the engine's bookkeeping reads of each node and edge, packed in contiguous arrays so
    /// that a graph of ten thousand nodes stays in cache.
    let shapes: [NodeShape]
    let ends: [EdgeEnds]
    let adjacency: Adjacency
    /// What running a node reads, contiguous too: ids, params, code, timeouts.
    let ids: [String]
    let params: [JSONValue]
    let implementations: [AnyNode]
    let timeouts: [Duration?]
    /// Which nodes run on the blocking executor.
    let blocking: [Bool]
    /// The rarer parts, by node index: compiled `inputs` and fallback code.
    let inputs: [Int: CompiledInput]
    let fallbacks: [Int: AnyNode]
    /// For joins with many incoming edges: their input map, prebuilt.
    let joinTemplates: [Int: JoinTemplate]
    /// The loops, sub-workflows, batches, waits and sleeps, by node index: the runtime
    /// performs these itself.
    let controls: [Int: ControlNode]
    /// The `weft.break` nodes: one that ran ends the loop whose body this blueprint is.
    let breakNodes: [Int]

    /// Validates `blueprint` against `registry` and compiles it.
    ///
    /// - Throws: ``WeftError`` with code ``WeftError/Code/invalidBlueprint`` listing every
    ///   validation issue, or ``WeftError/Code/unknownImplementation`` when the only problems are
    ///   missing implementations.
    public convenience init(blueprint: Blueprint, registry: NodeRegistry) throws {
        try self.init(blueprint: blueprint, registry: registry, isLoopBody: false)
    }

    init(blueprint: Blueprint, registry: NodeRegistry, isLoopBody: Bool) throws {
        let report = blueprint.validate(against: registry, isLoopBody: isLoopBody, visiting: [])
        guard report.isValid else {
            let onlyMissing = report.issues.allSatisfy { $0.code == .missingImplementation }
            throw WeftError(
                onlyMissing ? .unknownImplementation : .invalidBlueprint,
                "Blueprint \"\(blueprint.id)\" v\(blueprint.version) is invalid: "
                    + report.issues.map(\.message).joined(separator: "; "))
        }
        self.blueprint = blueprint
        var indexByID: [String: Int] = [:]
        indexByID.reserveCapacity(blueprint.nodes.count)
        for (position, node) in blueprint.nodes.enumerated() { indexByID[node.id] = position }

        let nodeCount = blueprint.nodes.count
        var edges: [PlannedEdge] = []
        edges.reserveCapacity(blueprint.edges.count)
        for edge in blueprint.edges {
            var rule: EdgeRule? = nil
            if edge.condition != nil || edge.transform != nil {
                rule = EdgeRule(
                    condition: try edge.condition.map { try PlannedCondition($0, registry: registry) },
                    transform: try edge.transform.map { try PlannedTransform($0, registry: registry) })
            }
            edges.append(PlannedEdge(
                source: indexByID[edge.source]!, target: indexByID[edge.target]!, action: edge.action, rule: rule))
        }
        // Every node holds slices of the adjacency's two flat arrays.
        let adjacency = Adjacency(nodeCount: nodeCount, edges: edges.lazy.map { (source: $0.source, target: $0.target) })

        var inputs: [Int: CompiledInput] = [:]
        var fallbacks: [Int: AnyNode] = [:]
        var shapes: [NodeShape] = []
        var implementations: [AnyNode] = []
        shapes.reserveCapacity(nodeCount)
        implementations.reserveCapacity(nodeCount)
        for (position, node) in blueprint.nodes.enumerated() {
            let implementation = registry.node(node.uses)!
            implementations.append(implementation)
            if let spec = node.inputs { inputs[position] = try CompiledInput(spec) }
            if let key = node.config.fallback { fallbacks[position] = registry.node(key)! }
            let outgoing = adjacency.outgoing(position)
            shapes.append(NodeShape(
                incomingCount: Int32(adjacency.incoming(position).count),
                maxAttempts: Int32(clamping: node.config.maxAttempts), join: node.config.join,
                routingIsPlain: outgoing.allSatisfy { edges[$0].action == nil && edges[$0].rule == nil },
                mayFallBack: node.config.fallback != nil || implementation.hasLifecycle,
                hasInputs: node.inputs != nil, hasTimeout: node.config.timeout != nil,
                hasLifecycle: implementation.hasLifecycle,
                isControl: ControlNode.Kind(rawValue: node.uses).map { $0 != .breakLoop } ?? false))
        }
        self.edges = edges
        self.adjacency = adjacency
        self.shapes = shapes
        self.ids = blueprint.nodes.map(\.id)
        self.params = blueprint.nodes.map(\.params)
        self.implementations = implementations
        self.timeouts = blueprint.nodes.map(\.config.timeout)
        self.blocking = blueprint.nodes.map(\.config.blocking)
        self.inputs = inputs
        self.fallbacks = fallbacks
        var joinTemplates: [Int: JoinTemplate] = [:]
        for node in 0..<nodeCount where inputs[node] == nil && adjacency.incoming(node).count >= JoinTemplate.threshold {
            joinTemplates[node] = JoinTemplate(
                sources: adjacency.incoming(node).map { blueprint.nodes[indexByID[blueprint.edges[$0].source]!].id })
        }
        self.joinTemplates = joinTemplates
        var controls: [Int: ControlNode] = [:]
        for (position, node) in blueprint.nodes.enumerated() {
            if let control = try ControlNode(node, parent: blueprint) { controls[position] = control }
        }
        self.controls = controls
        self.breakNodes = blueprint.nodes.indices.filter { blueprint.nodes[$0].uses == ControlNode.Kind.breakLoop.rawValue }
        self.ends = edges.map { EdgeEnds(source: Int32($0.source), target: Int32($0.target), hasTransform: $0.transform != nil) }
        self.indexByID = indexByID
        self.startNodes = (0..<nodeCount).filter { adjacency.incoming($0).isEmpty }
    }

    /// The number of nodes.
    public var nodeCount: Int { ids.count }

    /// Compiles the plan of a loop body, without the check that `weft.break` is in a loop.
    convenience init(loopBody blueprint: Blueprint, registry: NodeRegistry) throws {
        try self.init(blueprint: blueprint, registry: registry, isLoopBody: true)
    }
}

/// A join's input map with every predecessor's key in place, and where each incoming edge's
/// value goes: a run copies it (no rehashing) and fills the values in.
struct JoinTemplate: Sendable {
    /// Joins with fewer incoming edges build their map directly.
    static let threshold = 16

    let map: [String: JSONValue]
    /// The map position of each incoming edge's value, in incoming order.
    let slots: [Dictionary<String, JSONValue>.Index]

    init(sources: [String]) {
        var map: [String: JSONValue] = [:]
        map.reserveCapacity(sources.count)
        for source in sources { map[source] = .null }
        self.map = map
        self.slots = sources.map { map.index(forKey: $0)! }
    }
}

/// The bookkeeping facts of a planned node, small and contiguous.
struct NodeShape: Sendable {
    let incomingCount: Int32
    let maxAttempts: Int32
    let join: JoinStrategy
    let routingIsPlain: Bool
    let mayFallBack: Bool
    let hasInputs: Bool
    let hasTimeout: Bool
    let hasLifecycle: Bool
    /// A loop, sub-workflow, batch, wait or sleep (see ``ExecutionPlan/controls``).
    let isControl: Bool
}

/// An edge's ends, small and contiguous.
struct EdgeEnds: Sendable {
    let source: Int32
    let target: Int32
    let hasTransform: Bool
}

/// An edge of an ``ExecutionPlan``: small, with its rarer parts boxed.
struct PlannedEdge: Sendable {
    let source: Int
    let target: Int
    let action: String?
    /// The edge's condition and transform, when it has either.
    let rule: EdgeRule?

    var condition: PlannedCondition? { rule?.condition }
    var transform: PlannedTransform? { rule?.transform }
}

/// An edge's condition and transform.
final class EdgeRule: Sendable {
    let condition: PlannedCondition?
    let transform: PlannedTransform?

    init(condition: PlannedCondition?, transform: PlannedTransform?) {
        self.condition = condition
        self.transform = transform
    }

}

enum PlannedCondition: Sendable {
    case expression(Expression)
    case predicate(EdgePredicate)

    init(_ condition: EdgeCondition, registry: NodeRegistry) throws {
        switch condition {
        case .expression(let text): self = .expression(try Expression(text))
        case .predicate(let name): self = .predicate(registry.predicates[name]!)
        }
    }

}

enum PlannedTransform: Sendable {
    case expression(Expression)
    case function(EdgeTransformFunction)

    init(_ transform: EdgeTransform, registry: NodeRegistry) throws {
        switch transform {
        case .expression(let text): self = .expression(try Expression(text))
        case .function(let name): self = .function(registry.transforms[name]!)
        }
    }

}
