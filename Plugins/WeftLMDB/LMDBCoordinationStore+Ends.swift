import Weft

/// A run's end, in one transaction: one commit (one fsync) where the protocol's defaults make
/// two to four; with its last node's record, one where they make two to five.
extension LMDBCoordinationStore {
    public func recordEnd(run: String, marker: StoreKey?, cancelling: StoreKey?, expiry: RunExpiry?) async throws {
        let end = endWrites(run: run, marker: marker, cancelling: cancelling, expiry: expiry)
        try await environment.write { transaction in try end(transaction) }
    }

    public func finishRun(
        _ run: String, status: StoreKey, terminal: [UInt8], marker: StoreKey?, cancelling: StoreKey?, expiry: RunExpiry?
    ) async throws -> CompareAndSetOutcome {
        let records = self.records
        let statusKey = LMDBRecordKind.value.key(status)
        let end = endWrites(run: run, marker: marker, cancelling: cancelling, expiry: expiry)
        return try await environment.write { transaction in
            if let current = try transaction.get(records, statusKey) { return .mismatch(current) }
            try transaction.put(records, statusKey, terminal)
            try end(transaction)
            return .swapped
        }
    }

    public func setIfAbsent(
        _ key: StoreKey, _ value: [UInt8], fence: Fence?, thenAddToSets additions: [SetAddition], thenFinish end: RunEnd
    ) async throws -> (SetIfAbsentOutcome, [Int], CompareAndSetOutcome?) {
        let records = self.records
        let write = try RecordWrite(key, value, fence: fence, additions: additions, records: records)
        let statusKey = LMDBRecordKind.value.key(end.status)
        let terminal = end.terminal
        let endWrites = endWrites(run: end.run, marker: end.marker, cancelling: end.cancelling, expiry: end.expiry)
        return try await environment.write { transaction -> (SetIfAbsentOutcome, [Int], CompareAndSetOutcome?) in
            let (outcome, sizes) = try write.apply(transaction)
            guard outcome == .stored, end.isDue(after: sizes) else { return (outcome, sizes, nil) }
            if let current = try transaction.get(records, statusKey) { return (.stored, sizes, .mismatch(current)) }
            try transaction.put(records, statusKey, terminal)
            try endWrites(transaction)
            return (.stored, sizes, .swapped)
        }
    }

    /// The writes ``recordEnd(run:marker:cancelling:expiry:)`` makes, for a transaction: the
    /// marker stored if absent, the timer `cancelling` cancelled, the run out of the progress
    /// index, the expiry timer scheduled.
    private func endWrites(
        run: String, marker: StoreKey?, cancelling: StoreKey?, expiry: RunExpiry?
    ) -> @Sendable (LMDBTransaction) throws -> Void {
        let (records, timerIndex, progressIndex) = (self.records, self.timerIndex, self.progressIndex)
        let markerKey = marker.map { LMDBRecordKind.value.key($0) }
        let delay = expiry.map { Self.nanoseconds($0.after) }
        let now = self.now
        return { transaction in
            if let markerKey, try transaction.get(records, markerKey) == nil {
                try transaction.put(records, markerKey, [1])
            }
            if let cancelling {
                try Self.finishTimer(cancelling, onlyIfScheduled: false, records, timerIndex, transaction)
            }
            try Self.forgetProgress(run, records, progressIndex, transaction)
            if let expiry, let delay {
                _ = try Self.schedule(expiry.key, due: now() &+ delay, payload: expiry.payload, records, timerIndex, transaction)
            }
        }
    }
}
