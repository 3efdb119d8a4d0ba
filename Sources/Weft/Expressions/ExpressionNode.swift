/// The syntax tree of an ``Expression``.
indirect enum ExpressionNode: Sendable, Hashable {
    /// A literal value.
    case literal(JSONValue)
    /// A root with an optional static key (for `context.x` / `nodes.x`) and a path after it.
    case path(root: String, key: String?, components: [PathComponent])
    /// An array built from expressions.
    case array([ExpressionNode])
    /// An object built from expressions.
    case object([(String, ExpressionNode)])
    case not(ExpressionNode)
    case and(ExpressionNode, ExpressionNode)
    case or(ExpressionNode, ExpressionNode)
    case compare(ComparisonOperator, ExpressionNode, ExpressionNode)
    case call(ExpressionFunction, [ExpressionNode])

    static func == (lhs: ExpressionNode, rhs: ExpressionNode) -> Bool {
        switch (lhs, rhs) {
        case (.literal(let a), .literal(let b)): return a == b
        case (.path(let r1, let k1, let c1), .path(let r2, let k2, let c2)): return r1 == r2 && k1 == k2 && c1 == c2
        case (.array(let a), .array(let b)): return a == b
        case (.object(let a), .object(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        case (.not(let a), .not(let b)): return a == b
        case (.and(let a1, let a2), .and(let b1, let b2)), (.or(let a1, let a2), .or(let b1, let b2)):
            return a1 == b1 && a2 == b2
        case (.compare(let o1, let a1, let a2), .compare(let o2, let b1, let b2)): return o1 == o2 && a1 == b1 && a2 == b2
        case (.call(let f1, let a1), .call(let f2, let a2)): return f1 == f2 && a1 == a2
        default: return false
        }
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(roots.sorted())
    }
}

/// One step of a path after its root.
enum PathComponent: Sendable, Hashable {
    case member(String)
    case index(Int)
    case dynamic(ExpressionNode)
}

enum ComparisonOperator: String, Sendable, Hashable {
    case equal = "==", notEqual = "!=", less = "<", lessOrEqual = "<=", greater = ">", greaterOrEqual = ">=", contains = "in"
}

enum ExpressionFunction: String, Sendable, Hashable, CaseIterable {
    case exists, len, not
}

extension ExpressionNode {
    /// Roots that may carry a static key read through the scope.
    static let keyedRoots: Set<String> = ["context", "nodes"]
    /// Every root the language knows.
    static let knownRoots: Set<String> = [
        "output", "action", "input", "context", "nodes", "params", "error", "state", "iteration",
    ]

    var roots: Set<String> {
        switch self {
        case .literal: return []
        case .path(let root, _, let components):
            var result: Set<String> = [root]
            for case .dynamic(let node) in components { result.formUnion(node.roots) }
            return result
        case .array(let nodes): return nodes.reduce(into: []) { $0.formUnion($1.roots) }
        case .object(let members): return members.reduce(into: []) { $0.formUnion($1.1.roots) }
        case .not(let node): return node.roots
        case .and(let a, let b), .or(let a, let b), .compare(_, let a, let b): return a.roots.union(b.roots)
        case .call(_, let args): return args.reduce(into: []) { $0.formUnion($1.roots) }
        }
    }

    var referencedNodes: Set<String> {
        switch self {
        case .literal: return []
        case .path(let root, let key, let components):
            var result: Set<String> = []
            if root == "nodes", let key { result.insert(key) }
            for case .dynamic(let node) in components { result.formUnion(node.referencedNodes) }
            return result
        case .array(let nodes): return nodes.reduce(into: []) { $0.formUnion($1.referencedNodes) }
        case .object(let members): return members.reduce(into: []) { $0.formUnion($1.1.referencedNodes) }
        case .not(let node): return node.referencedNodes
        case .and(let a, let b), .or(let a, let b), .compare(_, let a, let b):
            return a.referencedNodes.union(b.referencedNodes)
        case .call(_, let args): return args.reduce(into: []) { $0.formUnion($1.referencedNodes) }
        }
    }

    func evaluate(in scope: some ExpressionScope) -> JSONValue {
        switch self {
        case .literal(let value):
            return value
        case .path(let root, let key, let components):
            guard var value = scope.value(ofRoot: root, key: key) else { return .null }
            for component in components {
                switch component {
                case .member(let name):
                    value = value[name] ?? .null
                case .index(let index):
                    value = Self.element(of: value, at: index)
                case .dynamic(let node):
                    switch node.evaluate(in: scope) {
                    case .string(let name): value = value[name] ?? .null
                    case let index where index.intValue != nil: value = Self.element(of: value, at: index.intValue!)
                    default: value = .null
                    }
                }
                if case .null = value { return .null }
            }
            return value
        case .array(let nodes):
            return .array(nodes.map { $0.evaluate(in: scope) })
        case .object(let members):
            var result: [String: JSONValue] = [:]
            result.reserveCapacity(members.count)
            for (name, node) in members { result[name] = node.evaluate(in: scope) }
            return .object(result)
        case .not(let node):
            return .bool(!node.evaluate(in: scope).isTruthy)
        case .and(let a, let b):
            return .bool(a.evaluate(in: scope).isTruthy && b.evaluate(in: scope).isTruthy)
        case .or(let a, let b):
            return .bool(a.evaluate(in: scope).isTruthy || b.evaluate(in: scope).isTruthy)
        case .compare(let op, let a, let b):
            return .bool(Self.compare(op, a.evaluate(in: scope), b.evaluate(in: scope)))
        case .call(let function, let args):
            let value = args.first?.evaluate(in: scope) ?? .null
            switch function {
            case .exists: return .bool(!value.isNull)
            case .not: return .bool(!value.isTruthy)
            case .len:
                switch value {
                case .array(let elements): return .int(Int64(elements.count))
                case .object(let members): return .int(Int64(members.count))
                case .string(let text): return .int(Int64(text.count))
                default: return .null
                }
            }
        }
    }

    private static func element(of value: JSONValue, at index: Int) -> JSONValue {
        guard case .array(let elements) = value else { return .null }
        let position = index < 0 ? elements.count + index : index
        return elements.indices.contains(position) ? elements[position] : .null
    }

    static func compare(_ op: ComparisonOperator, _ lhs: JSONValue, _ rhs: JSONValue) -> Bool {
        switch op {
        case .equal: return lhs.semanticallyEquals(rhs)
        case .notEqual: return !lhs.semanticallyEquals(rhs)
        case .contains:
            switch rhs {
            case .array(let elements): return elements.contains { $0.semanticallyEquals(lhs) }
            case .object(let members): return lhs.stringValue.map { members[$0] != nil } ?? false
            case .string(let text): return lhs.stringValue.map { text.contains($0) } ?? false
            default: return false
            }
        case .less, .lessOrEqual, .greater, .greaterOrEqual:
            let order: Int
            if let a = lhs.doubleValue, let b = rhs.doubleValue {
                order = a < b ? -1 : (a > b ? 1 : 0)
            } else if case .string(let a) = lhs, case .string(let b) = rhs {
                order = a < b ? -1 : (a > b ? 1 : 0)
            } else {
                return false
            }
            switch op {
            case .less: return order < 0
            case .lessOrEqual: return order <= 0
            case .greater: return order > 0
            default: return order >= 0
            }
        }
    }
}

extension JSONValue {
    /// Equality in which `1` and `1.0` are equal.
    func semanticallyEquals(_ other: JSONValue) -> Bool {
        switch (self, other) {
        case (.int(let a), .int(let b)): return a == b
        case (.int, .double), (.double, .int), (.double, .double): return doubleValue == other.doubleValue
        case (.array(let a), .array(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.semanticallyEquals($1) }
        case (.object(let a), .object(let b)):
            return a.count == b.count && a.allSatisfy { key, value in b[key].map { value.semanticallyEquals($0) } ?? false }
        default: return self == other
        }
    }
}
