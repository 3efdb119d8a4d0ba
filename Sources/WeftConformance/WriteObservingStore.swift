import Weft

/// A coordination store that tells an observer of every write that took effect: a value stored
/// by set-if-absent or swapped in by compare-and-set, alone or in a batch. Every requirement is
/// forwarded to the wrapped store, its batch included, so the store's own atomic batch stays in
/// use.
///
/// The fault simulator counts node records with it, and the chaos test's workers log them, to
/// prove that each node result is recorded once.
///
/// ```swift
/// let store = WriteObservingStore(base) { key in if key.name.hasPrefix("n") { ledger.append(key) } }
/// ```
public final class WriteObservingStore: CoordinationStore {
    /// The store that does the work.
    public let base: any CoordinationStore
    private let observer: @Sendable (StoreKey) -> Void

    /// Wraps `base`; `observer` is called after each write that took effect, with its key.
    public init(_ base: any CoordinationStore, observer: @escaping @Sendable (StoreKey) -> Void) {
        self.base = base
        self.observer = observer
    }

    /// Whether `key` names a node's result record (`n<node>.<iteration>`) in a run's records.
    public static func isNodeResult(_ key: StoreKey) -> Bool { key.name.hasPrefix("n") }

    public func value(at key: StoreKey) async throws -> [UInt8]? { try await base.value(at: key) }

    public func compareAndSet(_ key: StoreKey, expected: [UInt8]?, new: [UInt8], fence: Fence?) async throws
        -> CompareAndSetOutcome
    {
        let outcome = try await base.compareAndSet(key, expected: expected, new: new, fence: fence)
        if outcome == .swapped { observer(key) }
        return outcome
    }

    public func apply(_ batch: StoreBatch) async throws -> StoreBatch.Results {
        let results = try await base.apply(batch)
        for (step, outcome) in zip(batch.steps, results.outcomes) {
            switch (step.operation, outcome) {
            case (.setIfAbsent(let key, _, _), .set(.stored)), (.compareAndSet(let key, _, _, _), .swap(.swapped)):
                observer(key)
            default:
                continue
            }
        }
        return results
    }

    public func addToSet(_ key: StoreKey, member: String) async throws -> Int { try await base.addToSet(key, member: member) }
    public func members(of key: StoreKey) async throws -> [String] { try await base.members(of: key) }
    public func increment(_ key: StoreKey, by delta: Int64) async throws -> Int64 { try await base.increment(key, by: delta) }
    public func scheduleTimer(_ key: StoreKey, after delay: Duration, payload: [UInt8]) async throws -> Bool {
        try await base.scheduleTimer(key, after: delay, payload: payload)
    }
    public func claimDueTimers(limit: Int, claimFor: Duration) async throws -> TimerClaim {
        try await base.claimDueTimers(limit: limit, claimFor: claimFor)
    }
    public func retireTimer(_ key: StoreKey) async throws { try await base.retireTimer(key) }
    public func recordProgress(run: String, quietFor: Duration) async throws {
        try await base.recordProgress(run: run, quietFor: quietFor)
    }
    public func runsWithoutProgress(for age: Duration, limit: Int) async throws -> [String] {
        try await base.runsWithoutProgress(for: age, limit: limit)
    }
    public func forgetProgress(run: String) async throws { try await base.forgetProgress(run: run) }
    public func deleteRun(_ run: String) async throws { try await base.deleteRun(run) }
}
