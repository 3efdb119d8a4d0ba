/// A workflow authored in Swift: a ``Blueprint`` and the ``NodeRegistry`` holding its code.
///
/// ```swift
/// let workflow = Workflow("orders") {
///     Node("validate") { context in context.input }
///     Node("charge", ChargeCard()).retry(maxAttempts: 3, backoff: .exponential()).timeout(.seconds(5))
///     Node("review") { _ in ["queued": true] }
///     Edge("validate", to: "charge", when: "output.total <= 1000")
///     Edge("validate", to: "review", when: "output.total > 1000")
/// }
/// let result = try await LocalRuntime(workflow).run(workflow.blueprint, input: order)
/// ```
///
/// A node given a closure or a ``WorkflowNode`` registers it under the node's id unless `uses:`
/// says otherwise; a node given only `uses:` refers to code registered elsewhere (merge that
/// registry in with ``merging(_:)``).
public struct Workflow: Sendable {
    /// The workflow's graph.
    public var blueprint: Blueprint
    /// The code its nodes use.
    public var registry: NodeRegistry

    /// Builds a workflow from nodes, edges, predicates and transforms.
    public init(
        _ id: String, version: String = "1", metadata: [String: JSONValue] = [:],
        @WorkflowBuilder _ components: () -> [any WorkflowComponent]
    ) {
        var parts = WorkflowParts(blueprint: Blueprint(id: id, version: version, metadata: metadata))
        for component in components() { component.contribute(to: &parts) }
        self.blueprint = parts.blueprint
        self.registry = parts.registry
    }

    /// Creates a workflow from a blueprint and a registry.
    public init(blueprint: Blueprint, registry: NodeRegistry) {
        self.blueprint = blueprint
        self.registry = registry
    }

    /// This workflow with `registry`'s code added (its entries win where keys collide).
    public func merging(_ registry: NodeRegistry) -> Workflow {
        var copy = self
        copy.registry.merge(registry)
        return copy
    }

    /// Checks the blueprint against the workflow's own registry.
    public func validate() -> ValidationReport {
        blueprint.validate(against: registry)
    }
}

/// What the ``WorkflowBuilder`` collects: the blueprint and registry under construction.
public struct WorkflowParts: Sendable {
    /// The blueprint so far.
    public var blueprint: Blueprint
    /// The registry so far.
    public var registry = NodeRegistry()
}

/// A piece of a workflow: a ``Node``, an ``Edge``, a ``Chain``, a ``Predicate`` or a ``Transform``.
public protocol WorkflowComponent: Sendable {
    /// Adds this piece to the workflow under construction.
    func contribute(to parts: inout WorkflowParts)
}

/// Collects the pieces of a ``Workflow``.
@resultBuilder
public enum WorkflowBuilder {
    public static func buildExpression(_ component: any WorkflowComponent) -> [any WorkflowComponent] { [component] }
    public static func buildExpression(_ components: [any WorkflowComponent]) -> [any WorkflowComponent] { components }
    public static func buildBlock(_ parts: [any WorkflowComponent]...) -> [any WorkflowComponent] { parts.flatMap { $0 } }
    public static func buildOptional(_ part: [any WorkflowComponent]?) -> [any WorkflowComponent] { part ?? [] }
    public static func buildEither(first part: [any WorkflowComponent]) -> [any WorkflowComponent] { part }
    public static func buildEither(second part: [any WorkflowComponent]) -> [any WorkflowComponent] { part }
    public static func buildArray(_ parts: [[any WorkflowComponent]]) -> [any WorkflowComponent] { parts.flatMap { $0 } }
}
