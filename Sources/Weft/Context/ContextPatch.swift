/// Several changes to a run's context, applied all at once or not at all.
public struct ContextPatch: Sendable, Hashable, Codable {
    /// One change: set `key` to `value`, or remove it when `value` is `nil`.
    public struct Change: Sendable, Hashable, Codable {
        /// The entry's key.
        public var key: String
        /// The new value, or `nil` to remove the entry.
        public var value: JSONValue?

        /// Creates a change.
        public init(key: String, value: JSONValue?) {
            self.key = key
            self.value = value
        }
    }

    /// The changes, applied in order.
    public var changes: [Change]

    /// Creates a patch.
    public init(_ changes: [Change] = []) { self.changes = changes }

    /// Whether the patch changes nothing.
    public var isEmpty: Bool { changes.isEmpty }

    /// Adds a change that sets `key`.
    public mutating func set(_ key: String, _ value: JSONValue) {
        changes.append(Change(key: key, value: value))
    }

    /// Adds a change that sets a typed key.
    public mutating func set<Value>(_ key: ContextKey<Value>, _ value: Value) throws {
        changes.append(Change(key: key.name, value: try JSONValue(encoding: value)))
    }

    /// Adds a change that removes `key`.
    public mutating func remove(_ key: String) {
        changes.append(Change(key: key, value: nil))
    }

    /// Applies the patch to a dictionary of entries.
    public func apply(to entries: inout [String: JSONValue]) {
        for change in changes {
            if let value = change.value { entries[change.key] = value } else { entries.removeValue(forKey: change.key) }
        }
    }
}
