/// A node's ``InputSpec`` with its expressions parsed.
indirect enum CompiledInput: Sendable {
    case expression(Expression)
    case map([(String, CompiledInput)])

    init(_ spec: InputSpec) throws {
        switch spec {
        case .expression(let text): self = .expression(try Expression(text))
        case .map(let members):
            self = .map(try members.sorted { $0.key < $1.key }.map { ($0.key, try CompiledInput($0.value)) })
        }
    }

    var referencedNodes: Set<String> {
        switch self {
        case .expression(let expression): return expression.referencedNodes
        case .map(let members): return members.reduce(into: []) { $0.formUnion($1.1.referencedNodes) }
        }
    }

    /// The roots the expressions read, such as `input` or `context`.
    var roots: Set<String> {
        switch self {
        case .expression(let expression): return expression.roots
        case .map(let members): return members.reduce(into: []) { $0.formUnion($1.1.roots) }
        }
    }

    func evaluate(in scope: some ExpressionScope) -> JSONValue {
        switch self {
        case .expression(let expression): return expression.evaluate(in: scope)
        case .map(let members):
            var object: [String: JSONValue] = [:]
            object.reserveCapacity(members.count)
            for (name, member) in members { object[name] = member.evaluate(in: scope) }
            return .object(object)
        }
    }
}
