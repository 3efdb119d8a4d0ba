/// The key of a record in a store: the run it belongs to and a name within the run.
///
/// Keys are grouped by run so that a store can delete a run's records together. Keys that
/// belong to no run use the empty run id.
public struct StoreKey: Sendable, Hashable, CustomStringConvertible {
    /// The run the record belongs to, or `""`.
    public var run: String
    /// The record's name within the run.
    public var name: String

    /// Creates a key.
    public init(run: String, name: String) {
        self.run = run
        self.name = name
    }

    public var description: String { run + "/" + name }
}

/// A fencing token and the key it guards. A store keeps, per guarded key, the highest token a
/// write has carried; a write carrying a lower token is refused, so a stale attempt (one that
/// a newer attempt has superseded) can never commit.
public struct Fence: Sendable, Hashable {
    /// What the token guards, typically a node of a run.
    public var key: StoreKey
    /// The writer's token.
    public var token: UInt64

    /// Creates a fence.
    public init(key: StoreKey, token: UInt64) {
        self.key = key
        self.token = token
    }
}

/// A durable timer that came due and is now claimed by the caller of
/// ``CoordinationStore/claimDueTimers(limit:claimFor:)``.
public struct DueTimer: Sendable, Hashable {
    /// The timer's key.
    public var key: StoreKey
    /// What was stored with it.
    public var payload: [UInt8]

    /// Creates a due timer. Stores create these.
    public init(key: StoreKey, payload: [UInt8]) {
        self.key = key
        self.payload = payload
    }
}

/// The outcome of ``CoordinationStore/setIfAbsent(_:_:fence:)``.
public enum SetIfAbsentOutcome: Sendable, Hashable {
    /// The value was stored.
    case stored
    /// The key already had a value, returned here; nothing was written.
    case exists([UInt8])
    /// The write's fencing token is lower than one already seen; nothing was written.
    case fenced
}

/// The outcome of ``CoordinationStore/compareAndSet(_:expected:new:fence:)``.
public enum CompareAndSetOutcome: Sendable, Hashable {
    /// The value matched and was replaced.
    case swapped
    /// The value did not match; the current value (or `nil`) is returned.
    case mismatch([UInt8]?)
    /// The write's fencing token is lower than one already seen; nothing was written.
    case fenced
}
