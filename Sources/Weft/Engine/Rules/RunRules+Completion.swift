extension RunRules {
    /// Rule 10: a node is terminal (a path ended there) when it ran and took none of its
    /// outgoing edges: it has none, or all of them were skipped.
    @inline(__always)
    static func isTerminal(takenOutgoing: Int) -> Bool { takenOutgoing == 0 }

    /// Rule 10: a run is complete when every node is completed or skipped.
    @inline(__always)
    static func isComplete(finished: Int, nodeCount: Int) -> Bool { finished == nodeCount }

    /// Rule 10: the run's result from the outputs of its terminal nodes: the single value
    /// when there is one, else an object by node id (empty when no node ran).
    static func result(plan: ExecutionPlan, terminals: some Sequence<(node: Int, output: JSONValue)>) -> JSONValue {
        var iterator = terminals.makeIterator()
        guard let first = iterator.next() else { return .object([:]) }
        guard let second = iterator.next() else { return first.output }
        var map: [String: JSONValue] = [plan.ids[first.node]: first.output, plan.ids[second.node]: second.output]
        while let next = iterator.next() { map[plan.ids[next.node]] = next.output }
        return .object(map)
    }

    /// How a completed run ends.
    static func completed(plan: ExecutionPlan, terminals: some Sequence<(node: Int, output: JSONValue)>) -> RunOutcome {
        RunOutcome(status: .completed, output: result(plan: plan, terminals: terminals), failure: nil)
    }
}
