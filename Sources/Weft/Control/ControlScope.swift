/// The scope of a control node's expressions: a loop's `while`, a batch's `items`, a
/// sub-workflow's input and output mappings.
struct ControlScope: ExpressionScope {
    var input: JSONValue
    var params: JSONValue
    var context: any ContextReader
    /// A loop's state, or a sub-workflow's result as `output`.
    var state: JSONValue = .null
    var output: JSONValue = .null
    var iteration: Int = 0

    func value(ofRoot root: String, key: String?) -> JSONValue? {
        switch root {
        case "input": return input
        case "params": return params
        case "state": return state
        case "output": return output
        case "iteration": return .int(Int64(iteration))
        case "context":
            if let key { return context.value(forKey: key) }
            return .object(context.snapshot())
        default: return nil
        }
    }
}
