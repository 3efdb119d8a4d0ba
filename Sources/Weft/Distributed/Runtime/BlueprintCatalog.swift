import Synchronization

/// The blueprints a process of the fleet can run, compiled against its node registry and
/// found by id and version: a run is pinned to the version it started with.
public final class BlueprintCatalog: Sendable {
    /// The node code the blueprints are compiled against.
    public let registry: NodeRegistry
    private let plans = Mutex<[Key: FleetPlan]>([:])
    private let options: FleetOptions

    /// Creates a catalog of `blueprints`.
    ///
    /// - Throws: ``WeftError`` when a blueprint is invalid or uses code the registry lacks.
    public init(registry: NodeRegistry, blueprints: [Blueprint] = [], options: FleetOptions = FleetOptions()) throws {
        self.registry = registry
        self.options = options
        for blueprint in blueprints { try register(blueprint) }
    }

    /// Adds `blueprint` (a no-op when this id and version is already present).
    ///
    /// - Throws: ``WeftError`` when the blueprint is invalid, or when a different blueprint
    ///   with the same id and version is already registered.
    ///
    /// The blueprints its loops, sub-workflows and batches start child runs of are added too:
    /// loop bodies and per-item blueprints written inside it, and the blueprints it names,
    /// which must be registered with the registry (``NodeRegistry/register(_:)-(Blueprint)``).
    @discardableResult
    public func register(_ blueprint: Blueprint) throws -> ExecutionPlan {
        try register(blueprint, isLoopBody: false)
    }

    @discardableResult
    func register(_ blueprint: Blueprint, isLoopBody: Bool) throws -> ExecutionPlan {
        let plan = try registerPlan(blueprint, isLoopBody: isLoopBody)
        for control in plan.controls.values {
            for child in control.children {
                guard let childBlueprint = child.resolve(in: registry) else { continue }
                guard self.plan(id: childBlueprint.id, version: childBlueprint.version) == nil else { continue }
                var isLoop = false
                if case .loop = control { isLoop = true }
                try register(childBlueprint, isLoopBody: isLoop)
            }
        }
        return plan
    }

    /// The plan of a child run's blueprint, registered with its parent.
    func plan(of child: ChildBlueprint) -> FleetPlan? {
        plan(id: child.id, version: child.version)
    }

    private func registerPlan(_ blueprint: Blueprint, isLoopBody: Bool) throws -> ExecutionPlan {
        let key = Self.key(blueprint.id, blueprint.version)
        if let existing = plans.withLock({ $0[key] }) {
            guard existing.plan.blueprint == blueprint else {
                throw WeftError(
                    .invalidBlueprint,
                    "Blueprint \"\(blueprint.id)\" v\(blueprint.version) is already registered with different content; "
                        + "give the changed blueprint a new version")
            }
            return existing.plan
        }
        let plan = FleetPlan(
            plan: try ExecutionPlan(blueprint: blueprint, registry: registry, isLoopBody: isLoopBody), options: options)
        plans.withLock { $0[key] = plan }
        return plan.plan
    }

    /// Every registered blueprint.
    public var blueprints: [Blueprint] {
        plans.withLock { $0.values.map(\.plan.blueprint) }.sorted { ($0.id, $0.version) < ($1.id, $1.version) }
    }

    /// The job queues the registered blueprints' nodes use.
    public var jobQueues: Set<String> {
        plans.withLock { Set($0.values.flatMap(\.queues)) }
    }

    func plan(id: String, version: String) -> FleetPlan? {
        plans.withLock { $0[Self.key(id, version)] }
    }

    private struct Key: Hashable {
        var id: String
        var version: String
    }

    private static func key(_ id: String, _ version: String) -> Key { Key(id: id, version: version) }
}

/// An execution plan with what the fleet needs of each node, computed once.
final class FleetPlan: Sendable {
    let plan: ExecutionPlan
    /// The job queue of each node.
    let queues: [String]
    /// The priority of each node's jobs.
    let priorities: [UInt8]
    /// Whether routing a node's result reads other nodes' outputs (`nodes.x` in a condition or
    /// transform), so that they must be loaded from the records.
    let routingReadsNodes: [Bool]
    /// Whether a node's `inputs` read other nodes' outputs.
    let inputsReadNodes: [Bool]
    /// Whether a node's `inputs` read the run's context.
    let inputsReadContext: [Bool]

    init(plan: ExecutionPlan, options: FleetOptions) {
        self.plan = plan
        let nodes = plan.blueprint.nodes
        queues = nodes.map { options.jobQueue(label: $0.config.queue) }
        priorities = nodes.map { UInt8(clamping: max(0, min(Int(QueueMessage.maxPriority), $0.config.priority))) }
        routingReadsNodes = (0..<nodes.count).map { node in
            plan.adjacency.outgoing(node).contains { edge in
                let planned = plan.edges[edge]
                if case .expression(let expression) = planned.condition, expression.roots.contains("nodes") { return true }
                if case .expression(let expression) = planned.transform, expression.roots.contains("nodes") { return true }
                return false
            }
        }
        inputsReadNodes = (0..<nodes.count).map { plan.inputs[$0].map { !$0.referencedNodes.isEmpty || $0.roots.contains("nodes") } ?? false }
        inputsReadContext = (0..<nodes.count).map { plan.inputs[$0]?.roots.contains("context") ?? false }
    }
}
