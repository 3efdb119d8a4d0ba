import Weft

extension LMDBCoordinationStore {
    /// A timer record: scheduled (with its due time and payload) or done (fired or cancelled,
    /// remembered so that it is never scheduled again).
    enum TimerRecord {
        case scheduled(due: UInt64, payload: [UInt8])
        case done

        init(_ bytes: [UInt8]) throws {
            switch bytes.first {
            case 0:
                guard let due = LMDBKey.readUInt64(bytes, at: 1) else { throw LMDBError.corrupt("a timer") }
                self = .scheduled(due: due, payload: Array(bytes.dropFirst(9)))
            case 1: self = .done
            default: throw LMDBError.corrupt("a timer")
            }
        }

        var encoded: [UInt8] {
            switch self {
            case .scheduled(let due, let payload):
                var bytes: [UInt8] = [0]
                bytes.reserveCapacity(9 + payload.count)
                LMDBKey.appendUInt64(due, to: &bytes)
                bytes.append(contentsOf: payload)
                return bytes
            case .done: return [1]
            }
        }
    }

    /// The timer index's key: `due`, then the timer's key (run prefix and name).
    static func timerIndexKey(due: UInt64, _ key: StoreKey) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(10 + key.run.utf8.count + key.name.utf8.count)
        LMDBKey.appendUInt64(due, to: &bytes)
        LMDBKey.appendRun(key.run, to: &bytes)
        bytes.append(contentsOf: key.name.utf8)
        return bytes
    }

    /// The due time and key in a timer index key.
    static func parseTimerIndexKey(_ bytes: [UInt8]) throws -> (due: UInt64, key: StoreKey) {
        guard let due = LMDBKey.readUInt64(bytes), let (run, name) = LMDBKey.split(bytes, from: 8) else {
            throw LMDBError.corrupt("the timer index")
        }
        return (due, StoreKey(run: run, name: String(decoding: name, as: UTF8.self)))
    }

    @discardableResult
    public func scheduleTimer(_ key: StoreKey, after delay: Duration, payload: [UInt8]) async throws -> Bool {
        let (records, timerIndex) = (self.records, self.timerIndex)
        let recordKey = LMDBRecordKind.timer.key(key)
        let delay = Self.nanoseconds(delay)
        let now = self.now
        return try await environment.write { transaction in
            try Self.schedule(key, due: now() &+ delay, payload: payload, records, timerIndex, transaction)
        }
    }

    /// Schedules the timer at `key` for `due`, in `transaction`, unless it exists; returns
    /// whether it did.
    static func schedule(
        _ key: StoreKey, due: UInt64, payload: [UInt8], _ records: LMDBDatabase, _ timerIndex: LMDBDatabase,
        _ transaction: LMDBTransaction
    ) throws -> Bool {
        let recordKey = LMDBRecordKind.timer.key(key)
        guard try transaction.get(records, recordKey) == nil else { return false }
        try transaction.put(records, recordKey, TimerRecord.scheduled(due: due, payload: payload).encoded)
        try transaction.put(timerIndex, timerIndexKey(due: due, key), [])
        return true
    }

    public func claimDueTimers(limit: Int, claimFor: Duration) async throws -> TimerClaim {
        // Most calls find nothing due: a read says so without a write (and its fsync).
        let first = try timeUntilFirstTimer()
        guard limit > 0, first == .zero else { return TimerClaim(timers: [], nextDue: first) }
        let (records, timerIndex) = (self.records, self.timerIndex)
        let claimFor = Self.nanoseconds(claimFor)
        let now = self.now
        let claimed = try await environment.write { transaction in
            let time = now()
            var entries: [[UInt8]] = []
            try transaction.scan(timerIndex, prefix: []) { indexKey, _ in
                guard let due = LMDBKey.readUInt64(indexKey), due <= time else { return false }
                entries.append(indexKey)
                return entries.count < limit * 2 + 16
            }
            var claimed: [DueTimer] = []
            for indexKey in entries where claimed.count < limit {
                let (due, key) = try Self.parseTimerIndexKey(indexKey)
                try transaction.delete(timerIndex, indexKey)
                let recordKey = LMDBRecordKind.timer.key(key)
                guard let bytes = try transaction.get(records, recordKey),
                    case .scheduled(let scheduled, let payload) = try TimerRecord(bytes), scheduled == due
                else { continue }  // a stale index entry: cancelled, fired or re-claimed since
                let reclaim = time &+ claimFor
                try transaction.put(records, recordKey, TimerRecord.scheduled(due: reclaim, payload: payload).encoded)
                try transaction.put(timerIndex, Self.timerIndexKey(due: reclaim, key), [])
                claimed.append(DueTimer(key: key, payload: payload))
            }
            return claimed
        }
        return TimerClaim(timers: claimed, nextDue: try timeUntilFirstTimer())
    }

    public func retireTimer(_ key: StoreKey) async throws {
        let (records, timerIndex) = (self.records, self.timerIndex)
        try await environment.write { transaction in try Self.retireTimer(key, records, timerIndex, transaction) }
    }

    /// Marks the timer done in `transaction` (whether or not it was scheduled), removing its
    /// index entry.
    static func retireTimer(_ key: StoreKey, _ records: LMDBDatabase, _ timerIndex: LMDBDatabase, _ transaction: LMDBTransaction)
        throws
    {
        let recordKey = LMDBRecordKind.timer.key(key)
        if case .scheduled(let due, _) = try transaction.get(records, recordKey).map(TimerRecord.init) {
            try transaction.delete(timerIndex, timerIndexKey(due: due, key))
        }
        try transaction.put(records, recordKey, TimerRecord.done.encoded)
    }

    /// How long until the earliest timer is due, read without suspending.
    func timeUntilFirstTimer() throws -> Duration? {
        let timerIndex = self.timerIndex
        let first = try environment.read { transaction -> UInt64? in
            var first: UInt64?
            try transaction.scan(timerIndex, prefix: []) { indexKey, _ in
                first = LMDBKey.readUInt64(indexKey)
                return false
            }
            return first
        }
        guard let first else { return nil }
        let time = now()
        return first <= time ? .zero : .nanoseconds(Int64(clamping: first - time))
    }
}
