import Weft

/// A coordination store that tells an observer of every write that took effect: a value stored
/// by set-if-absent (any of its forms, ``CoordinationStore/recordStart(run:_:_:quietFor:)``
/// included) or swapped in by compare-and-set. Every requirement is forwarded to the wrapped
/// store, so its own atomic forms stay in use.
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
    public func values(at keys: [StoreKey]) async throws -> [[UInt8]?] { try await base.values(at: keys) }

    public func setIfAbsent(_ key: StoreKey, _ value: [UInt8], fence: Fence?) async throws -> SetIfAbsentOutcome {
        let outcome = try await base.setIfAbsent(key, value, fence: fence)
        if outcome == .stored { observer(key) }
        return outcome
    }

    public func setIfAbsent(_ key: StoreKey, _ value: [UInt8], fence: Fence?, thenAddToSets additions: [SetAddition])
        async throws -> (SetIfAbsentOutcome, [Int])
    {
        let result = try await base.setIfAbsent(key, value, fence: fence, thenAddToSets: additions)
        if result.0 == .stored { observer(key) }
        return result
    }

    public func setIfAbsent(
        _ key: StoreKey, _ value: [UInt8], fence: Fence?, thenAddToSets additions: [SetAddition], thenRead reads: [StoreKey]
    ) async throws -> (SetIfAbsentOutcome, [Int], [[UInt8]?]) {
        let result = try await base.setIfAbsent(key, value, fence: fence, thenAddToSets: additions, thenRead: reads)
        if result.0 == .stored { observer(key) }
        return result
    }

    public func setIfAbsent(
        _ key: StoreKey, _ value: [UInt8], fence: Fence?, thenAddToSets additions: [SetAddition], thenFinish end: RunEnd
    ) async throws -> (SetIfAbsentOutcome, [Int], CompareAndSetOutcome?) {
        let result = try await base.setIfAbsent(key, value, fence: fence, thenAddToSets: additions, thenFinish: end)
        if result.0 == .stored { observer(key) }
        if result.2 == .swapped { observer(end.status) }
        return result
    }

    public func compareAndSet(_ key: StoreKey, expected: [UInt8]?, new: [UInt8], fence: Fence?) async throws
        -> CompareAndSetOutcome
    {
        let outcome = try await base.compareAndSet(key, expected: expected, new: new, fence: fence)
        if outcome == .swapped { observer(key) }
        return outcome
    }

    public func recordStart(run: String, _ key: StoreKey, _ record: [UInt8], quietFor: Duration) async throws
        -> SetIfAbsentOutcome
    {
        let outcome = try await base.recordStart(run: run, key, record, quietFor: quietFor)
        if outcome == .stored { observer(key) }
        return outcome
    }

    public func removeValue(at key: StoreKey) async throws { try await base.removeValue(at: key) }
    public func addToSet(_ key: StoreKey, member: String) async throws -> Int { try await base.addToSet(key, member: member) }
    public func addToSets(_ additions: [SetAddition]) async throws -> [Int] { try await base.addToSets(additions) }
    public func members(of key: StoreKey) async throws -> [String] { try await base.members(of: key) }
    public func increment(_ key: StoreKey, by delta: Int64) async throws -> Int64 { try await base.increment(key, by: delta) }
    public func acquireLease(_ key: StoreKey, owner: String, ttl: Duration) async throws -> Lease? {
        try await base.acquireLease(key, owner: owner, ttl: ttl)
    }
    public func renewLease(_ lease: Lease, ttl: Duration) async throws -> Bool { try await base.renewLease(lease, ttl: ttl) }
    public func releaseLease(_ lease: Lease) async throws { try await base.releaseLease(lease) }
    public func scheduleTimer(_ key: StoreKey, after delay: Duration, payload: [UInt8]) async throws -> Bool {
        try await base.scheduleTimer(key, after: delay, payload: payload)
    }
    public func claimDueTimers(limit: Int, claimFor: Duration) async throws -> [DueTimer] {
        try await base.claimDueTimers(limit: limit, claimFor: claimFor)
    }
    public func completeTimer(_ key: StoreKey) async throws { try await base.completeTimer(key) }
    public func cancelTimer(_ key: StoreKey) async throws { try await base.cancelTimer(key) }
    public func nextTimerDue() async throws -> Duration? { try await base.nextTimerDue() }
    public func recordProgress(run: String, quietFor: Duration) async throws {
        try await base.recordProgress(run: run, quietFor: quietFor)
    }
    public func runsWithoutProgress(for age: Duration, limit: Int) async throws -> [String] {
        try await base.runsWithoutProgress(for: age, limit: limit)
    }
    public func forgetProgress(run: String) async throws { try await base.forgetProgress(run: run) }
    public func recordEnd(run: String, marker: StoreKey?, cancelling: StoreKey?, expiry: RunExpiry?) async throws {
        try await base.recordEnd(run: run, marker: marker, cancelling: cancelling, expiry: expiry)
    }
    public func finishRun(
        _ run: String, status: StoreKey, terminal: [UInt8], marker: StoreKey?, cancelling: StoreKey?, expiry: RunExpiry?
    ) async throws -> CompareAndSetOutcome {
        let outcome = try await base.finishRun(
            run, status: status, terminal: terminal, marker: marker, cancelling: cancelling, expiry: expiry)
        if outcome == .swapped { observer(status) }
        return outcome
    }
    public func deleteRun(_ run: String) async throws { try await base.deleteRun(run) }
}
