/// Read access to a run's context, as the engine needs it to evaluate conditions and inputs.
public protocol ContextReader: Sendable {
    /// The entry at `key`, if any.
    func value(forKey key: String) -> JSONValue?
    /// Every entry.
    func snapshot() -> [String: JSONValue]
}

/// A context reader over a fixed dictionary.
public struct StaticContextReader: ContextReader {
    /// The entries.
    public var entries: [String: JSONValue]

    /// Creates a reader over `entries`.
    public init(_ entries: [String: JSONValue] = [:]) { self.entries = entries }

    public func value(forKey key: String) -> JSONValue? { entries[key] }
    public func snapshot() -> [String: JSONValue] { entries }
}
