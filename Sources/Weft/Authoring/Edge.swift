/// An edge of a ``Workflow``.
///
/// ```swift
/// Edge("check", to: "approve", when: "output.score >= 0.8")
/// Edge("check", to: "escalate", action: "escalate", transform: "{case: output.id}")
/// ```
public struct Edge: WorkflowComponent {
    /// The edge's definition in the blueprint.
    public var definition: EdgeDefinition

    /// Creates an edge from `source` to `target`.
    public init(
        _ source: String, to target: String, action: String? = nil, when condition: EdgeCondition? = nil,
        transform: EdgeTransform? = nil
    ) {
        definition = EdgeDefinition(source: source, target: target, action: action, condition: condition, transform: transform)
    }

    public func contribute(to parts: inout WorkflowParts) {
        parts.blueprint.edges.append(definition)
    }
}

/// Unconditional edges through several nodes in order: `Chain("a", "b", "c")` is a → b → c.
public struct Chain: WorkflowComponent {
    /// The node ids, in order.
    public var nodeIDs: [String]

    /// Creates a chain.
    public init(_ nodeIDs: String...) { self.nodeIDs = nodeIDs }

    /// Creates a chain.
    public init(_ nodeIDs: [String]) { self.nodeIDs = nodeIDs }

    public func contribute(to parts: inout WorkflowParts) {
        for (source, target) in zip(nodeIDs, nodeIDs.dropFirst()) {
            parts.blueprint.edges.append(EdgeDefinition(source: source, target: target))
        }
    }
}

/// A named predicate for edge conditions, registered with the workflow.
public struct Predicate: WorkflowComponent {
    let name: String
    let body: EdgePredicate

    /// Registers `body` under `name`; use it as `when: .predicate(name)`.
    public init(_ name: String, _ body: @escaping EdgePredicate) {
        self.name = name
        self.body = body
    }

    public func contribute(to parts: inout WorkflowParts) {
        parts.registry.registerPredicate(name, body)
    }
}

/// A named transform for edges, registered with the workflow.
public struct Transform: WorkflowComponent {
    let name: String
    let body: EdgeTransformFunction

    /// Registers `body` under `name`; use it as `transform: .function(name)`.
    public init(_ name: String, _ body: @escaping EdgeTransformFunction) {
        self.name = name
        self.body = body
    }

    public func contribute(to parts: inout WorkflowParts) {
        parts.registry.registerTransform(name, body)
    }
}
