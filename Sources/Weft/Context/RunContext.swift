import Logging

/// A node attempt's view of its run's context.
///
/// Reads see the run's context plus this attempt's own writes. Writes are buffered and committed
/// as one atomic ``ContextPatch`` together with the node's result, so a failed attempt leaves no
/// trace and both runtimes (embedded and distributed) give node code the same semantics.
public struct RunContext: Sendable {
    private let buffer: RunState
    private let key: UInt64

    /// Creates a view over a copy of `base`'s entries, for testing node code.
    public init(base: any ContextReader) {
        self.init(
            state: RunState(runID: "test", dependencies: Dependencies(), logger: Logger(label: "weft.test"), context: base.snapshot()),
            key: 0)
    }

    init(state: RunState, key: UInt64) {
        self.buffer = state
        self.key = key
    }

    /// The entry at `key`, counting this attempt's own writes.
    public func value(forKey name: String) -> JSONValue? {
        if let own = buffer.lastWrite(key, name) { return own }
        return buffer.value(forKey: name)
    }

    /// Sets `key` to `value` when the attempt succeeds.
    public func set(_ name: String, _ value: JSONValue) {
        buffer.append(key, [ContextPatch.Change(key: name, value: value)])
    }

    /// Removes `key` when the attempt succeeds.
    public func remove(_ name: String) {
        buffer.append(key, [ContextPatch.Change(key: name, value: nil)])
    }

    /// Adds every change of `patch`, committed atomically with the attempt's result.
    public func apply(_ patch: ContextPatch) {
        buffer.append(key, patch.changes)
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
    public var changes: ContextPatch { buffer.patch(key) }

    /// Takes this attempt's writes out of the buffer.
    func takeChanges() -> ContextPatch { buffer.take(key) }
}

