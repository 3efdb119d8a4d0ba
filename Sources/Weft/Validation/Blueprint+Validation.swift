extension Blueprint {
    /// Checks the blueprint's structure and, with a registry, that every piece of code it names
    /// is registered.
    ///
    /// Reported, each with a stable ``ValidationIssue/Code``, all at once (one problem never
    /// hides another): duplicate node ids, missing implementations, edges to unknown nodes,
    /// unreachable nodes, cycles, joins that can never fire, conditions, transforms and inputs
    /// that don't parse, unknown named predicates and transforms, impossible configurations,
    /// and registries merged into `registry` that gave one key different code.
    ///
    /// Loops, sub-workflows, batches, waits and sleeps are checked too: their params, the
    /// blueprints they name (which must be registered, see ``NodeRegistry/register(_:)-(Blueprint)``),
    /// the code a batch runs per item, loop bodies (validated as blueprints of their own), and
    /// waits whose declared actions no edge carries.
    public func validate(against registry: NodeRegistry? = nil) -> ValidationReport {
        validate(against: registry, isLoopBody: false, visiting: [])
    }

    func validate(against registry: NodeRegistry?, isLoopBody: Bool, visiting: Set<BlueprintKey>) -> ValidationReport {
        var issues: [ValidationIssue] = []
        if let registry, !isLoopBody, visiting.isEmpty {
            for conflict in registry.conflicts {
                issues.append(ValidationIssue(
                    .conflictingRegistration,
                    "Registries merged for blueprint \"\(id)\" give \(conflict) two different definitions; register it once, "
                        + "or namespace one of the workflows (Workflow.namespaced)"))
            }
        }
        if nodes.isEmpty {
            issues.append(ValidationIssue(.emptyBlueprint, "Blueprint \"\(id)\" has no nodes"))
        }

        for (value, kind) in [(id, Identifier.Kind.blueprint), (version, .version)] {
            if let problem = Identifier.problem(value, as: kind) {
                issues.append(ValidationIssue(.invalidIdentifier, "Blueprint: \(problem)"))
            }
        }
        var index: [String: Int] = [:]
        for (position, node) in nodes.enumerated() {
            if let problem = Identifier.problem(node.id, as: .node) {
                issues.append(ValidationIssue(.invalidIdentifier, "Node: \(problem)", nodeID: node.id))
            }
            if index[node.id] != nil {
                issues.append(ValidationIssue(.duplicateNodeID, "Node id \"\(node.id)\" is used more than once", nodeID: node.id))
            } else {
                index[node.id] = position
            }
            issues.append(contentsOf: validateControl(
                node, registry: registry, isLoopBody: isLoopBody,
                visiting: visiting.union([BlueprintKey(id: id, version: version)])))
            if let registry {
                if !ControlNode.isReserved(node.uses) && !registry.contains(node.uses) {
                    issues.append(ValidationIssue(
                        .missingImplementation, "Node \"\(node.id)\" uses \"\(node.uses)\", which is not registered",
                        nodeID: node.id))
                }
                if let fallback = node.config.fallback, !registry.contains(fallback) {
                    issues.append(ValidationIssue(
                        .missingImplementation, "Node \"\(node.id)\" falls back to \"\(fallback)\", which is not registered",
                        nodeID: node.id))
                }
            }
            if node.config.maxAttempts < 1 {
                issues.append(ValidationIssue(
                    .invalidConfiguration, "Node \"\(node.id)\" has maxAttempts \(node.config.maxAttempts); it needs at least 1",
                    nodeID: node.id))
            }
            if let label = node.config.queue, let problem = NodeConfiguration.queueLabelProblem(label) {
                issues.append(ValidationIssue(
                    .invalidQueueLabel, "Node \"\(node.id)\" has queue label \(problem)", nodeID: node.id))
            }
            if let timeout = node.config.timeout, timeout <= .zero {
                issues.append(ValidationIssue(
                    .invalidConfiguration, "Node \"\(node.id)\" has a timeout of \(timeout); it must be positive", nodeID: node.id))
            }
            if let inputs = node.inputs {
                do {
                    let referenced = try CompiledInput(inputs).referencedNodes
                    for name in referenced.sorted() where !nodes.contains(where: { $0.id == name }) {
                        issues.append(ValidationIssue(
                            .invalidInputs, "Node \"\(node.id)\" reads the output of unknown node \"\(name)\"", nodeID: node.id))
                    }
                } catch let error as WeftError {
                    issues.append(ValidationIssue(.invalidInputs, "Node \"\(node.id)\": \(error.message)", nodeID: node.id))
                } catch {}
            }
        }

        for (position, edge) in edges.enumerated() {
            for (role, name) in [("source", edge.source), ("target", edge.target)] where index[name] == nil {
                issues.append(ValidationIssue(
                    .unknownEdgeNode, "Edge \(edge.source) → \(edge.target) has unknown \(role) \"\(name)\"", edgeIndex: position))
            }
            switch edge.condition {
            case .expression(let text):
                do { _ = try Expression(text) } catch let error as WeftError {
                    issues.append(ValidationIssue(
                        .invalidCondition, "Edge \(edge.source) → \(edge.target): \(error.message)", edgeIndex: position))
                } catch {}
            case .predicate(let name):
                if let registry, !registry.containsPredicate(name) {
                    issues.append(ValidationIssue(
                        .unknownPredicate, "Edge \(edge.source) → \(edge.target) uses predicate \"\(name)\", which is not registered",
                        edgeIndex: position))
                }
            case nil: break
            }
            switch edge.transform {
            case .expression(let text):
                do { _ = try Expression(text) } catch let error as WeftError {
                    issues.append(ValidationIssue(
                        .invalidTransform, "Edge \(edge.source) → \(edge.target): \(error.message)", edgeIndex: position))
                } catch {}
            case .function(let name):
                if let registry, !registry.containsTransform(name) {
                    issues.append(ValidationIssue(
                        .unknownTransform, "Edge \(edge.source) → \(edge.target) uses transform \"\(name)\", which is not registered",
                        edgeIndex: position))
                }
            case nil: break
            }
        }

        issues.append(contentsOf: validateWaitEdges())
        if !nodes.isEmpty {
            // Over the edges whose ends are known (the others are reported above), and a
            // duplicate id's first node: what is wrong elsewhere in the graph still shows.
            issues.append(contentsOf: GraphAnalysis(blueprint: self, index: index).issues())
        }
        return ValidationReport(issues: issues)
    }
}

/// Reachability, cycles and joins that can never fire, over the edges of a blueprint that name
/// known nodes.
private struct GraphAnalysis {
    let blueprint: Blueprint
    let index: [String: Int]
    let adjacency: Adjacency
    /// The analysed edges: those whose ends are known.
    let edges: [EdgeDefinition]
    let sources: [Int]
    let targets: [Int]

    init(blueprint: Blueprint, index: [String: Int]) {
        self.blueprint = blueprint
        self.index = index
        edges = blueprint.edges.filter { index[$0.source] != nil && index[$0.target] != nil }
        sources = edges.map { index[$0.source]! }
        targets = edges.map { index[$0.target]! }
        adjacency = Adjacency(
            nodeCount: blueprint.nodes.count, edges: zip(sources, targets).lazy.map { (source: $0, target: $1) })
    }

    func outgoing(_ node: Int) -> ArraySlice<Int> { adjacency.outgoing(node) }
    func incoming(_ node: Int) -> ArraySlice<Int> { adjacency.incoming(node) }

    func issues() -> [ValidationIssue] {
        var issues: [ValidationIssue] = []
        let nodes = blueprint.nodes

        // Cycles: what Kahn's algorithm cannot order.
        var remaining = blueprint.nodes.indices.map { incoming($0).count }
        var order: [Int] = []
        var queue = remaining.indices.filter { remaining[$0] == 0 }
        while let node = queue.popLast() {
            order.append(node)
            for edge in outgoing(node) {
                let target = targets[edge]
                remaining[target] -= 1
                if remaining[target] == 0 { queue.append(target) }
            }
        }
        if order.count < nodes.count {
            let inCycle = nodes.indices.filter { remaining[$0] > 0 }.map { nodes[$0].id }
            // Named up to a dozen: a hostile blueprint's cycle of thousands makes no readable line.
            let named = inCycle.count <= 12 ? inCycle.joined(separator: ", ")
                : inCycle.prefix(10).joined(separator: ", ") + " and \(inCycle.count - 10) more nodes"
            issues.append(ValidationIssue(
                .cycle, "The edges form a cycle through \(named); loops must be declared", nodeID: inCycle.first))
        }

        // Reachability from the start nodes.
        var reached = Array(repeating: false, count: nodes.count)
        var stack = nodes.indices.filter { incoming($0).isEmpty }
        for node in stack { reached[node] = true }
        while let node = stack.popLast() {
            for edge in outgoing(node) {
                let target = targets[edge]
                if !reached[target] {
                    reached[target] = true
                    stack.append(target)
                }
            }
        }
        for node in nodes.indices where !reached[node] {
            issues.append(ValidationIssue(
                .unreachableNode, "Node \"\(nodes[node].id)\" cannot be reached from any start node", nodeID: nodes[node].id))
        }

        // Which nodes can ever run, given conditions that are constant false.
        guard order.count == nodes.count else { return issues }
        var mayRun = Array(repeating: false, count: nodes.count)
        for node in order {
            if incoming(node).isEmpty {
                mayRun[node] = true
                continue
            }
            mayRun[node] = incoming(node).contains { edge in
                mayRun[sources[edge]] && !Self.isConstantFalse(edges[edge].condition)
            }
            if !mayRun[node] {
                let id = nodes[node].id
                if incoming(node).count > 1 {
                    issues.append(ValidationIssue(
                        .joinNeverFires, "Join \"\(id)\" can never fire: none of its \(incoming(node).count) incoming edges can be taken",
                        nodeID: id))
                } else {
                    issues.append(ValidationIssue(
                        .nodeNeverRuns, "Node \"\(id)\" can never run: its incoming edge can never be taken", nodeID: id))
                }
            }
        }
        return issues
    }

    static func isConstantFalse(_ condition: EdgeCondition?) -> Bool {
        guard case .expression(let text) = condition, let expression = try? Expression(text),
            let value = expression.constantValue
        else { return false }
        return !value.isTruthy
    }
}
