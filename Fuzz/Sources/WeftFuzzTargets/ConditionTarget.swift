import Weft

/// Parses `bytes` as a condition expression (what validating a blueprint does with every edge's
/// `when`), then evaluates it against a scope with every kind of value. Neither may crash.
@_cdecl("weft_fuzz_condition")
public func fuzzCondition(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let source = String(decoding: UnsafeBufferPointer(start: data, count: count), as: UTF8.self)
    guard let expression = try? Expression(source) else { return 0 }
    _ = expression.roots
    _ = expression.referencedNodes
    _ = expression.constantValue
    _ = expression.evaluate(in: FuzzScope())
    return 0
}

/// A scope where every root has values of every kind.
struct FuzzScope: ExpressionScope {
    static let values: JSONValue = .object([
        "n": .int(.max), "m": .int(.min), "x": .double(-1e308), "z": .int(0), "nan": .double(.nan), "s": .string("é\u{0}ß"),
        "b": .bool(true), "a": .array([.int(1), .null, .string("x"), .array([])]), "o": .object(["k": .null]),
    ])

    func value(ofRoot root: String, key: String?) -> JSONValue? {
        guard let key else { return Self.values }
        if case .object(let members) = Self.values { return members[key] ?? .null }
        return nil
    }
}
