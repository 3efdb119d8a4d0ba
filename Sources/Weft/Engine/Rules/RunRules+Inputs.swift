extension RunRules {
    /// Rule 5: the input of a node about to run. With `inputs` (the node's `inputs` spec,
    /// evaluated by ``evaluateInputs(plan:runInput:nodes:node:context:)``), that value. Otherwise
    /// a start node gets the run's input; a node with one taken incoming edge gets the value it
    /// carries; a node with several gets an object from each taken edge's source id to its
    /// value (a later edge of the same source wins). `value(edge)` is the value taken edge
    /// `edge` carries, `nil` for an edge not taken; `takenCount` says how many are taken.
    @inline(__always)
    static func input(
        plan: ExecutionPlan, node: Int, runInput: JSONValue, inputs: JSONValue?, takenCount: Int,
        value: (Int) -> JSONValue?
    ) -> JSONValue {
        if let inputs { return inputs }
        let incoming = plan.adjacency.incoming(node)
        if incoming.isEmpty { return runInput }
        if takenCount == 1 {
            for edge in incoming { if let single = value(edge) { return single } }
        }
        if let template = plan.joinTemplates[node], takenCount == incoming.count {
            // Every incoming edge was taken: fill a copy of the prebuilt map, without hashing.
            var map = template.map
            for (position, edge) in incoming.enumerated() { map.values[template.slots[position]] = value(edge) ?? .null }
            return .object(map)
        }
        var map: [String: JSONValue] = [:]
        map.reserveCapacity(takenCount)
        for edge in incoming {
            if let carried = value(edge) { map[plan.ids[Int(plan.ends[edge].source)]] = carried }
        }
        return .object(map)
    }

    /// Rule 5's `inputs` spec: its value for node `node`, when the node has one. Expressions
    /// read the run's input, the node's params, the context and completed nodes' outputs.
    static func evaluateInputs(
        plan: ExecutionPlan, runInput input: JSONValue, nodes: [RunStateMachine.NodeState], node: Int, context: any ContextReader
    ) -> JSONValue? {
        guard let inputs = plan.inputs[node] else { return nil }
        let scope = EngineScope(
            output: .null, action: nil, input: input, params: plan.params[node], context: context, plan: plan,
            nodes: nodes)
        return inputs.evaluate(in: scope)
    }
}
