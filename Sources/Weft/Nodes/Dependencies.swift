/// Shared dependencies that node code uses (database pools, HTTP clients), created once per
/// process or worker and handed to every node attempt. Values are keyed by their type.
///
/// ```swift
/// var dependencies = Dependencies()
/// dependencies.set(httpClient)
/// // in node code:
/// let client = try context.dependencies.require(HTTPClient.self)
/// ```
public struct Dependencies: Sendable {
    private var values: [ObjectIdentifier: any Sendable] = [:]

    /// Creates an empty set of dependencies.
    public init() {}

    /// Stores `value` under its type, replacing any earlier value of that type.
    public mutating func set<Value: Sendable>(_ value: Value) {
        values[ObjectIdentifier(Value.self)] = value
    }

    /// The value stored for `type`, if any.
    public func get<Value: Sendable>(_ type: Value.Type) -> Value? {
        values[ObjectIdentifier(type)] as? Value
    }

    /// The value stored for `type`.
    ///
    /// - Throws: ``WeftError`` naming the missing type when none was set.
    public func require<Value: Sendable>(_ type: Value.Type) throws -> Value {
        guard let value = get(type) else {
            throw WeftError(WeftError.Code(rawValue: "missing_dependency"), "No dependency of type \(Value.self) was set")
        }
        return value
    }
}
