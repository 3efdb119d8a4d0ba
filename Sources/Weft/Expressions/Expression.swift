/// A parsed expression of Weft's small, safe expression language.
///
/// Expressions are data, never code: they read values, compare them and combine booleans.
/// They cannot call user code, loop or allocate without bound, and evaluating one never fails:
/// a missing path yields `null`, and comparing values of different types yields `false`.
///
/// ```text
/// output.total > 100 && context.tier == "gold"
/// exists(output.flags) && "fraud" in output.flags
/// {customer: nodes.lookup.id, amount: output.total}
/// ```
///
/// - Roots: `output` (the finished node's output), `action` (its action label or `null`),
///   `input` (the run's input), `context` (the run's key/value state), `nodes` (outputs of
///   finished nodes by id), `params` (the node's params), `error` (in fallback inputs),
///   `state` and `iteration` (in a loop's `while`: the loop's state and the passes done).
/// - Paths: `a.b`, `a["key with spaces"]`, `a[0]`, `a[-1]` (from the end).
/// - Literals: numbers, `"strings"` or `'strings'`, `true`, `false`, `null`, `[arrays]`,
///   `{objects: ...}`.
/// - Operators, loosest first: `||`, `&&`, `!`, then `==` `!=` `<` `<=` `>` `>=` `in`.
/// - Functions: `exists(x)` (not null), `len(x)` (elements, members or characters),
///   `not(x)`.
/// - Truthiness: `null`, `false`, `0`, `""`, `[]` and `{}` are false; everything else is true.
public struct Expression: Sendable, Hashable, CustomStringConvertible {
    /// The text the expression was parsed from.
    public let source: String
    let root: ExpressionNode

    /// Parses an expression.
    ///
    /// - Throws: ``WeftError`` with code ``WeftError/Code/invalidExpression`` naming the
    ///   position and what was expected.
    public init(_ source: String) throws {
        self.source = source
        var parser = ExpressionParser(source)
        self.root = try parser.parse()
    }

    public var description: String { source }

    /// The roots the expression reads, such as `output` or `context`.
    public var roots: Set<String> { root.roots }

    /// The node ids the expression reads through `nodes.<id>`.
    public var referencedNodes: Set<String> { root.referencedNodes }

    /// Whether the expression reads the run's context.
    public var readsContext: Bool { roots.contains("context") }

    /// Evaluates the expression in `scope`.
    public func evaluate(in scope: some ExpressionScope) -> JSONValue {
        root.evaluate(in: scope)
    }

    /// Evaluates the expression as a condition, using its truthiness.
    public func holds(in scope: some ExpressionScope) -> Bool {
        root.evaluate(in: scope).isTruthy
    }

    /// The constant value of the expression, when it reads nothing from its scope.
    public var constantValue: JSONValue? {
        guard roots.isEmpty else { return nil }
        return root.evaluate(in: EmptyExpressionScope())
    }
}

/// Where an expression finds the values its roots name.
public protocol ExpressionScope {
    /// The value of `root`; for `context` and `nodes`, `key` names the entry or node id and the
    /// whole collection is asked for with `key == nil`. Unknown values are `nil` (read as `null`).
    func value(ofRoot root: String, key: String?) -> JSONValue?
}

/// A scope in which every root is `null`.
public struct EmptyExpressionScope: ExpressionScope {
    /// Creates an empty scope.
    public init() {}
    public func value(ofRoot root: String, key: String?) -> JSONValue? { nil }
}

extension JSONValue {
    /// Truthiness as the expression language defines it: `null`, `false`, `0`, `""`, `[]` and
    /// `{}` are false.
    public var isTruthy: Bool {
        switch self {
        case .null: return false
        case .bool(let value): return value
        case .int(let value): return value != 0
        case .double(let value): return value != 0 && !value.isNaN
        case .string(let value): return !value.isEmpty
        case .array(let value): return !value.isEmpty
        case .object(let value): return !value.isEmpty
        }
    }
}
