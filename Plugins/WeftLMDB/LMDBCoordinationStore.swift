import Weft

#if canImport(Glibc)
import Glibc
#endif

/// A ``CoordinationStore`` in an LMDB environment, shared by every process of the machine that
/// opens the same directory.
///
/// Every write is one group-committed transaction of the environment's writer (see
/// ``LMDBEnvironment``): atomic across the tasks of this process and the processes of the
/// machine, since LMDB admits one writer at a time, and durable before the call returns (in
/// `durable` mode). Reads run in a short read transaction on the calling thread.
///
/// Time (lease expiry, timers, the progress index) is wall-clock time, so that every process of
/// the machine and a restarted one agree; tests may pass a ``StoreClock`` instead.
///
/// ## Layout
/// Database `coordination` holds every record of a run under the run's prefix (its id,
/// length-prefixed), then a kind byte (``LMDBRecordKind``), then the record's name. Values are
/// stored as given (encoded once, by the caller). Two indexes make the store's scans ranges:
/// `coordination.timers` (`due` big-endian, then the timer's key) and `coordination.progress`
/// (`stalled-after` big-endian, then the run id).
public final class LMDBCoordinationStore: CoordinationStore {
    /// The databases the store uses; give them when opening the environment.
    public static let databases = ["coordination", "coordination.timers", "coordination.progress"]

    let environment: LMDBEnvironment
    let records: LMDBDatabase
    let timerIndex: LMDBDatabase
    let progressIndex: LMDBDatabase
    private let clock: StoreClock?

    /// A store in `environment`, which must have been opened with ``databases``. Leases and
    /// timers follow the wall clock, or `clock` when given (for tests).
    public init(environment: LMDBEnvironment, clock: StoreClock? = nil) {
        self.environment = environment
        records = environment.database("coordination")
        timerIndex = environment.database("coordination.timers")
        progressIndex = environment.database("coordination.progress")
        self.clock = clock
    }

    /// The store's time now, in nanoseconds (since the Unix epoch with the wall clock).
    @Sendable func now() -> UInt64 {
        if let clock { return Self.nanoseconds(clock.now) }
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return UInt64(max(0, time.tv_sec)) &* 1_000_000_000 &+ UInt64(max(0, time.tv_nsec))
    }

    /// `duration` in nanoseconds, clamped at zero.
    static func nanoseconds(_ duration: Duration) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        guard seconds >= 0 else { return 0 }
        let (whole, overflow) = UInt64(seconds).multipliedReportingOverflow(by: 1_000_000_000)
        return overflow ? .max : whole &+ UInt64(attoseconds / 1_000_000_000)
    }

    // MARK: Values

    public func value(at key: StoreKey) async throws -> [UInt8]? {
        let records = self.records
        let recordKey = LMDBRecordKind.value.key(key)
        return try environment.read { try $0.get(records, recordKey) }
    }

    public func compareAndSet(_ key: StoreKey, expected: [UInt8]?, new: [UInt8], fence: Fence?) async throws
        -> CompareAndSetOutcome
    {
        try Self.check(fence, guards: key)
        let records = self.records
        let recordKey = LMDBRecordKind.value.key(key)
        let fenceKey = fence.map { LMDBRecordKind.fence.key($0.key) }
        let token = fence?.token ?? 0
        return try await environment.write { transaction in
            try Self.compareAndSet(recordKey, expected: expected, new: new, fenceKey: fenceKey, token: token, records, transaction)
        }
    }

    /// Compare-and-set in `transaction`.
    static func compareAndSet(
        _ recordKey: [UInt8], expected: [UInt8]?, new: [UInt8], fenceKey: [UInt8]?, token: UInt64, _ records: LMDBDatabase,
        _ transaction: LMDBTransaction
    ) throws -> CompareAndSetOutcome {
        if let fenceKey, try isStale(token, fenceKey, records, transaction) { return .fenced }
        let current = try transaction.get(records, recordKey)
        guard current == expected else { return .mismatch(current) }
        try transaction.put(records, recordKey, new)
        if let fenceKey { try transaction.put(records, fenceKey, LMDBKey.uint64(token)) }
        return .swapped
    }

    /// Refuses a fence that guards a key of another run (a run's records are deleted together).
    static func check(_ fence: Fence?, guards key: StoreKey) throws {
        guard let fence, fence.key.run != key.run else { return }
        throw WeftError(.invalidFence, "A fence guards keys of its own run: \(fence.key) cannot guard \(key)")
    }

    /// Whether `token` is lower than the highest seen at `fenceKey`.
    static func isStale(_ token: UInt64, _ fenceKey: [UInt8], _ records: LMDBDatabase, _ transaction: LMDBTransaction)
        throws -> Bool
    {
        guard let stored = try transaction.get(records, fenceKey) else { return false }
        guard let highest = LMDBKey.readUInt64(stored) else { throw LMDBError.corrupt("a fencing token") }
        return token < highest
    }

    // MARK: Sets and counters

    public func addToSet(_ key: StoreKey, member: String) async throws -> Int {
        let records = self.records
        let keys = Self.memberKeys(SetAddition(key: key, member: member))
        return try await environment.write { transaction in try Self.add(keys, records, transaction) }
    }

    /// The keys an addition writes: the member's entry and the set's size.
    static func memberKeys(_ addition: SetAddition) -> (member: [UInt8], size: [UInt8]) {
        var member = LMDBRecordKind.memberPrefix(addition.key)
        member.append(contentsOf: addition.member.utf8)
        return (member, LMDBRecordKind.setSize.key(addition.key))
    }

    /// Adds a member (unless present) and returns the set's size.
    static func add(_ keys: (member: [UInt8], size: [UInt8]), _ records: LMDBDatabase, _ transaction: LMDBTransaction)
        throws -> Int
    {
        let size = try transaction.get(records, keys.size).map { bytes -> UInt64 in
            guard let size = LMDBKey.readUInt64(bytes) else { throw LMDBError.corrupt("a set's size") }
            return size
        } ?? 0
        guard try transaction.put(records, keys.member, [], onlyIfAbsent: true) else { return Int(size) }
        try transaction.put(records, keys.size, LMDBKey.uint64(size + 1))
        return Int(size + 1)
    }

    public func members(of key: StoreKey) async throws -> [String] {
        let records = self.records
        let prefix = LMDBRecordKind.memberPrefix(key)
        return try environment.read { transaction in
            var members: [String] = []
            try transaction.scan(records, prefix: prefix) { memberKey, _ in
                members.append(String(decoding: memberKey.dropFirst(prefix.count), as: UTF8.self))
                return true
            }
            return members
        }
    }

    public func increment(_ key: StoreKey, by delta: Int64) async throws -> Int64 {
        let records = self.records
        let recordKey = LMDBRecordKind.counter.key(key)
        return try await environment.write { transaction in try Self.increment(recordKey, by: delta, records, transaction) }
    }

    /// Adds `delta` to the counter at `recordKey` in `transaction`; returns its new value.
    static func increment(_ recordKey: [UInt8], by delta: Int64, _ records: LMDBDatabase, _ transaction: LMDBTransaction) throws
        -> Int64
    {
        let current = try transaction.get(records, recordKey).map { bytes -> Int64 in
            guard let value = LMDBKey.readUInt64(bytes) else { throw LMDBError.corrupt("a counter") }
            return Int64(bitPattern: value)
        } ?? 0
        let value = current &+ delta
        if delta != 0 { try transaction.put(records, recordKey, LMDBKey.uint64(UInt64(bitPattern: value))) }
        return value
    }
}

extension LMDBError {
    /// A record that is not in the form the store writes.
    static func corrupt(_ what: String) -> LMDBError {
        LMDBError(.corruptRecord, "\(what) in the store is damaged (not in the form Weft writes)")
    }
}
