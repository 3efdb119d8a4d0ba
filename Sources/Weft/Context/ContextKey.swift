/// A typed key into a run's context.
///
/// ```swift
/// extension ContextKey where Value == Int {
///     static let retriesSeen = ContextKey("retriesSeen")
/// }
/// let seen = try context.context[.retriesSeen] ?? 0
/// ```
public struct ContextKey<Value: Codable & Sendable>: Sendable, Hashable {
    /// The key's name in the run's context.
    public let name: String

    /// Creates a key.
    public init(_ name: String) { self.name = name }
}
