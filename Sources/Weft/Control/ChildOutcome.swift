/// How a child run (a sub-workflow, a loop's pass, a batch item) ended, as its parent sees it.
struct ChildOutcome: Sendable {
    var runID: String
    var status: RunStatus
    var output: JSONValue?
    var failure: RunFailure?
    /// For a loop's pass: the output of the `weft.break` node that ran, if one did.
    var breakOutput: JSONValue?

    /// The failure of the parent's node when this child did not complete.
    func nodeFailure(of what: String) -> NodeFailure {
        let cause = failure.map { ": \($0)" } ?? ""
        return NodeFailure(
            message: "\(what) ended \(status.rawValue)\(cause)", errorType: "WeftError",
            code: WeftError.Code.childRunFailed.rawValue, isRetryable: status != .cancelled)
    }
}

/// The child runs' ids: the parent run, the node, its attempt, and the child's position (a
/// loop's pass or a batch's item, from 1; 0 for a sub-workflow), so every key of a pass or an
/// item is its own.
enum ChildRunID {
    static func make(parent: String, node: String, attempt: Int, index: Int) -> String {
        "\(parent)/\(node)#\(attempt).\(index)"
    }

    /// Why attempt `attempt` of `control`, node `node` of run `parent`, fails before it starts:
    /// its children's ids would be longer than any run id may be (``Identifier/maxNestedRunIDBytes``),
    /// sub-workflows nested too deep under long ids. `nil` when it may start, or starts no child.
    /// Both runtimes ask this first, so that the same nesting fails the same way on each.
    static func nestingFailure(of control: ControlNode, parent: String, node: String, attempt: Int) -> NodeFailure? {
        switch control {
        case .subworkflow, .loop, .batch: break
        case .wait, .sleep: return nil
        }
        let longest = make(parent: parent, node: node, attempt: attempt, index: .max)
        guard let problem = Identifier.problem(longest, as: .run, nested: true) else { return nil }
        return NodeFailure(
            message: "node \"\(PrintableText.escaped(node))\" cannot start child runs: \(problem) (sub-workflows nested too deep "
                + "under long run and node ids)",
            errorType: "WeftError", code: WeftError.Code.invalidIdentifier.rawValue, isRetryable: false)
    }
}

extension LoopControl {
    /// Whether pass `passesDone + 1` runs, from `state`; the loop's limit is a failure.
    func runsAnotherPass(
        passesDone: Int, state: JSONValue, input: JSONValue, params: JSONValue, context: any ContextReader
    ) throws(NodeFailure) -> Bool {
        if let condition {
            let scope = ControlScope(input: input, params: params, context: context, state: state, iteration: passesDone)
            guard condition.holds(in: scope) else { return false }
        }
        guard passesDone < maxIterations else {
            throw NodeFailure(
                message: "the loop would start pass \(passesDone + 1), beyond its maxIterations of \(maxIterations)",
                errorType: "WeftError", code: WeftError.Code.loopLimitExceeded.rawValue, isRetryable: false)
        }
        return true
    }
}

extension SubworkflowControl {
    func childInput(input: JSONValue, params: JSONValue, context: any ContextReader) -> JSONValue {
        guard let mapping = self.input else { return input }
        return mapping.evaluate(in: ControlScope(input: input, params: params, context: context))
    }

    /// The node's output from its child's end, or the failure it ends the attempt with.
    func result(of child: ChildOutcome, input: JSONValue, params: JSONValue, context: any ContextReader) throws(NodeFailure)
        -> JSONValue
    {
        guard child.status == .completed else { throw child.nodeFailure(of: "sub-workflow \"\(self.child.id)\"") }
        let value = child.output ?? .null
        guard let mapping = output else { return value }
        return mapping.evaluate(in: ControlScope(input: input, params: params, context: context, output: value))
    }
}

extension BatchControl {
    /// The items, or a failure when `items` gives no array.
    func elements(input: JSONValue, params: JSONValue, context: any ContextReader) throws(NodeFailure) -> [JSONValue] {
        let value = items.evaluate(in: ControlScope(input: input, params: params, context: context))
        guard case .array(let elements) = value else {
            throw NodeFailure(
                message: "the batch's items (\(items.source)) are not an array but \(value.kindDescription)",
                errorType: "WeftError", code: WeftError.Code.invalidBatchItems.rawValue, isRetryable: false)
        }
        return elements
    }

    /// The node's output from its items' ends, in input order.
    func gather(_ outcomes: [ChildOutcome]) throws(NodeFailure) -> JSONValue {
        var results: [JSONValue] = []
        results.reserveCapacity(outcomes.count)
        var errors: [JSONValue] = []
        for (index, outcome) in outcomes.enumerated() {
            if outcome.status == .completed {
                results.append(outcome.output ?? .null)
                continue
            }
            let failure = outcome.nodeFailure(of: "batch item \(index)")
            if onFailure == .failFast { throw failure }
            results.append(.null)
            var error: [String: JSONValue] = ["index": .int(Int64(index)), "message": .string(failure.message)]
            if let code = outcome.failure?.cause.code { error["code"] = .string(code) }
            errors.append(.object(error))
        }
        switch onFailure {
        case .failFast: return .array(results)
        case .collect: return .object(["results": .array(results), "errors": .array(errors)])
        }
    }
}

extension JSONValue {
    /// "a string", "an object", … for messages.
    var kindDescription: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .int, .double: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}
