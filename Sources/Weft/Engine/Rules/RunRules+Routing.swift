extension RunRules {
    /// Rule 2: the edges a node's result takes, with the value each carries; every other
    /// outgoing edge is skipped. With an action that some outgoing edges carry, those are the
    /// candidates; otherwise the unlabelled ones are. A candidate with a condition is taken only
    /// when it holds. Pure: the same output, context and node states always give the same
    /// decision, so it is recorded with the result and replayed.
    static func route(
        plan: ExecutionPlan, runInput input: JSONValue, nodes: [RunStateMachine.NodeState], node: Int, output: NodeOutput,
        context: any ContextReader
    ) -> RouteDecision {
        let outgoing = plan.adjacency.outgoing(node)
        guard !outgoing.isEmpty else { return RouteDecision(taken: []) }
        let edges = plan.edges
        var useLabel: String? = nil
        if let action = output.action, outgoing.contains(where: { edges[$0].action == action }) {
            useLabel = action
        }
        let scope = EngineScope(
            output: output.value, action: output.action, input: input, params: plan.params[node], context: context,
            plan: plan, nodes: nodes)
        var taken: [RouteDecision.TakenEdge] = []
        taken.reserveCapacity(outgoing.count)
        for edge in outgoing {
            let candidate = edges[edge]
            guard candidate.action == useLabel else { continue }
            if let condition = candidate.condition {
                let holds: Bool
                switch condition {
                case .expression(let expression): holds = expression.holds(in: scope)
                case .predicate(let predicate): holds = predicate(scope.edgeValues)
                }
                guard holds else { continue }
            }
            let value: JSONValue
            switch candidate.transform {
            case nil: value = output.value
            case .expression(let expression): value = expression.evaluate(in: scope)
            case .function(let function): value = function(scope.edgeValues)
            }
            taken.append(.init(edge: edge, value: value))
        }
        return RouteDecision(taken: taken)
    }

    /// Rule 2's plain case: a node none of whose outgoing edges has an action, a condition or
    /// a transform takes them all with its output, whatever it returned.
    static func routesPlainly(plan: ExecutionPlan, node: Int) -> Bool { plan.shapes[node].routingIsPlain }
}
