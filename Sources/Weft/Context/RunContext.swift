import Synchronization

/// A node attempt's view of its run's context.
///
/// Reads see the run's context plus this attempt's own writes. Writes are buffered and committed
/// as one atomic ``ContextPatch`` together with the node's result, so a failed attempt leaves no
/// trace and both runtimes (embedded and distributed) give node code the same semantics.
public final class RunContext: Sendable {
    private let base: any ContextReader
    private let pending: Mutex<ContextPatch>

    /// Creates a view over `base`.
    public init(base: any ContextReader) {
        self.base = base
        self.pending = Mutex(ContextPatch())
    }

    /// The entry at `key`, counting this attempt's own writes.
    public func value(forKey key: String) -> JSONValue? {
        let own: JSONValue?? = pending.withLock { patch in
            patch.changes.last(where: { $0.key == key }).map { $0.value }
        }
        if let own { return own }
        return base.value(forKey: key)
    }

    /// Sets `key` to `value` when the attempt succeeds.
    public func set(_ key: String, _ value: JSONValue) {
        pending.withLock { $0.set(key, value) }
    }

    /// Removes `key` when the attempt succeeds.
    public func remove(_ key: String) {
        pending.withLock { $0.remove(key) }
    }

    /// Adds every change of `patch`, committed atomically with the attempt's result.
    public func apply(_ patch: ContextPatch) {
        pending.withLock { $0.changes.append(contentsOf: patch.changes) }
    }

    /// The typed value at `key`.
    ///
    /// - Throws: ``WeftError`` with code ``WeftError/Code/invalidInput`` when the stored value does
    ///   not decode as `Value`.
    public func get<Value>(_ key: ContextKey<Value>) throws -> Value? {
        guard let value = value(forKey: key.name), !value.isNull else { return nil }
        return try value.decode(as: Value.self)
    }

    /// Sets a typed key when the attempt succeeds.
    public func set<Value>(_ key: ContextKey<Value>, _ value: Value) throws {
        set(key.name, try JSONValue(encoding: value))
    }

    /// The writes this attempt has made so far.
    public var changes: ContextPatch { pending.withLock { $0 } }
}
