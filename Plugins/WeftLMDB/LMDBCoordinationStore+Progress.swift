import Weft

extension LMDBCoordinationStore {
    /// The progress index's key: when the run counts as stalled, then its id.
    static func progressIndexKey(_ time: UInt64, run: String) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(8 + run.utf8.count)
        LMDBKey.appendUInt64(time, to: &bytes)
        bytes.append(contentsOf: run.utf8)
        return bytes
    }

    public func recordProgress(run: String, quietFor: Duration) async throws {
        let (records, progressIndex) = (self.records, self.progressIndex)
        let quiet = Self.nanoseconds(quietFor)
        let now = self.now
        try await environment.write { transaction in
            try Self.recordProgress(run, until: now() &+ quiet, records, progressIndex, transaction)
        }
    }

    /// Moves `run`'s progress time to `time` in `transaction`, unless it is later already, and
    /// its entry in the progress index with it.
    static func recordProgress(
        _ run: String, until time: UInt64, _ records: LMDBDatabase, _ progressIndex: LMDBDatabase, _ transaction: LMDBTransaction
    ) throws {
        let recordKey = LMDBRecordKind.progress.key(run: run)
        if let stored = try transaction.get(records, recordKey) {
            guard let current = LMDBKey.readUInt64(stored) else { throw LMDBError.corrupt("a run's progress") }
            guard current < time else { return }
            try transaction.delete(progressIndex, progressIndexKey(current, run: run))
        }
        try transaction.put(records, recordKey, LMDBKey.uint64(time))
        try transaction.put(progressIndex, progressIndexKey(time, run: run), [])
    }

    public func runsWithoutProgress(for age: Duration, limit: Int) async throws -> [String] {
        let progressIndex = self.progressIndex
        let now = self.now()
        let age = Self.nanoseconds(age)
        let cutoff = now >= age ? now - age : 0
        return try environment.read { transaction in
            var runs: [String] = []
            guard limit > 0 else { return runs }
            try transaction.scan(progressIndex, prefix: []) { indexKey, _ in
                guard let time = LMDBKey.readUInt64(indexKey), time <= cutoff else { return false }
                runs.append(String(decoding: indexKey.dropFirst(8), as: UTF8.self))
                return runs.count < limit
            }
            return runs
        }
    }

    public func forgetProgress(run: String) async throws {
        let (records, progressIndex) = (self.records, self.progressIndex)
        try await environment.write { transaction in try Self.forgetProgress(run, records, progressIndex, transaction) }
    }

    static func forgetProgress(_ run: String, _ records: LMDBDatabase, _ progressIndex: LMDBDatabase, _ transaction: LMDBTransaction)
        throws
    {
        let recordKey = LMDBRecordKind.progress.key(run: run)
        guard let stored = try transaction.get(records, recordKey) else { return }
        if let time = LMDBKey.readUInt64(stored) { try transaction.delete(progressIndex, progressIndexKey(time, run: run)) }
        try transaction.delete(records, recordKey)
    }

    public func deleteRun(_ run: String) async throws {
        let (records, timerIndex, progressIndex) = (self.records, self.timerIndex, self.progressIndex)
        let prefix = LMDBKey.run(run)
        try await environment.write { transaction in
            try Self.forgetProgress(run, records, progressIndex, transaction)
            var keys: [[UInt8]] = []
            var timerEntries: [[UInt8]] = []
            try transaction.scan(records, prefix: prefix) { key, value in
                keys.append(key)
                if key.count > prefix.count, key[prefix.count] == LMDBRecordKind.timer.rawValue,
                    case .scheduled(let due, _) = try TimerRecord(value)
                {
                    let name = String(decoding: key.dropFirst(prefix.count + 1), as: UTF8.self)
                    timerEntries.append(Self.timerIndexKey(due: due, StoreKey(run: run, name: name)))
                }
                return true
            }
            for key in timerEntries { try transaction.delete(timerIndex, key) }
            for key in keys { try transaction.delete(records, key) }
        }
    }
}

extension LMDBCoordinationStore {
    /// The ids of the runs with records, in key order, at most `limit`: for inspection.
    public func runIDs(limit: Int = .max) throws -> [String] {
        let records = self.records
        return try environment.read { transaction in
            var runs: [String] = []
            var position: [UInt8] = []
            while runs.count < limit, let key = try transaction.firstKey(records, atOrAfter: position) {
                guard let (run, _) = LMDBKey.split(key) else { throw LMDBError.corrupt("a record key") }
                // The store's own records (its fleet, blueprint digests) are under the empty run id.
                if !run.isEmpty { runs.append(run) }
                // Every key of the run starts with its prefix and a kind byte below 0xFF.
                position = LMDBKey.run(run)
                position.append(0xFF)
            }
            return runs
        }
    }

    /// When each unfinished run counts as stalled (its last progress plus its allowed quiet
    /// time), as store time in nanoseconds, earliest first: for inspection.
    public func progressIndex(limit: Int = .max) throws -> [(run: String, stalledAfter: UInt64)] {
        let progressIndex = self.progressIndex
        return try environment.read { transaction in
            var entries: [(run: String, stalledAfter: UInt64)] = []
            guard limit > 0 else { return entries }
            try transaction.scan(progressIndex, prefix: []) { key, _ in
                guard let time = LMDBKey.readUInt64(key) else { throw LMDBError.corrupt("the progress index") }
                entries.append((String(decoding: key.dropFirst(8), as: UTF8.self), time))
                return entries.count < limit
            }
            return entries
        }
    }
}
