import Weft

/// Batches, each in one write transaction (one commit, group-committed with other writers):
/// atomic across the tasks and processes of the machine, and all or nothing after a crash.
extension LMDBCoordinationStore {
    /// An operation with its keys encoded, ready to apply in a transaction: encoding happens
    /// on the caller's thread, so that the writer's lock is held only for the work itself.
    private enum Prepared: Sendable {
        case read([UInt8])
        case setIfAbsent([UInt8], [UInt8], fenceKey: [UInt8]?, token: UInt64)
        case compareAndSet([UInt8], expected: [UInt8]?, new: [UInt8], fenceKey: [UInt8]?, token: UInt64)
        case addToSet(member: [UInt8], size: [UInt8])
        case increment([UInt8], by: Int64)
        case scheduleTimer(StoreKey, after: UInt64, payload: [UInt8])
        case retireTimer(StoreKey)
        case recordProgress(String, quietFor: UInt64)
        case forgetProgress(String)

        init(_ operation: StoreBatch.Operation) throws {
            switch operation {
            case .read(let key):
                self = .read(LMDBRecordKind.value.key(key))
            case .setIfAbsent(let key, let value, let fence):
                try LMDBCoordinationStore.check(fence, guards: key)
                self = .setIfAbsent(
                    LMDBRecordKind.value.key(key), value, fenceKey: fence.map { LMDBRecordKind.fence.key($0.key) },
                    token: fence?.token ?? 0)
            case .compareAndSet(let key, let expected, let new, let fence):
                try LMDBCoordinationStore.check(fence, guards: key)
                self = .compareAndSet(
                    LMDBRecordKind.value.key(key), expected: expected, new: new,
                    fenceKey: fence.map { LMDBRecordKind.fence.key($0.key) }, token: fence?.token ?? 0)
            case .addToSet(let key, let member):
                let keys = LMDBCoordinationStore.memberKeys(SetAddition(key: key, member: member))
                self = .addToSet(member: keys.member, size: keys.size)
            case .increment(let key, let delta):
                self = .increment(LMDBRecordKind.counter.key(key), by: delta)
            case .scheduleTimer(let key, let delay, let payload):
                self = .scheduleTimer(key, after: LMDBCoordinationStore.nanoseconds(delay), payload: payload)
            case .retireTimer(let key):
                self = .retireTimer(key)
            case .recordProgress(let run, let quietFor):
                self = .recordProgress(run, quietFor: LMDBCoordinationStore.nanoseconds(quietFor))
            case .forgetProgress(let run):
                self = .forgetProgress(run)
            }
        }
    }

    public func apply(_ batch: StoreBatch) async throws -> StoreBatch.Results {
        let records = self.records
        if batch.isReadOnly {
            // Reads only: one read transaction, no commit.
            let keys = batch.steps.map { step -> [UInt8] in
                if case .read(let key) = step.operation { return LMDBRecordKind.value.key(key) }
                return []
            }
            return try environment.read { transaction in
                var results = StoreBatch.Results(capacity: keys.count)
                for (step, key) in zip(batch.steps, keys) {
                    results.append(results.allows(step) ? .read(try transaction.get(records, key)) : .notAttempted)
                }
                return results
            }
        }
        let prepared = try batch.steps.map { try Prepared($0.operation) }
        let (timerIndex, progressIndex) = (self.timerIndex, self.progressIndex)
        let now = self.now
        return try await environment.write { transaction in
            let time = now()
            var results = StoreBatch.Results(capacity: prepared.count)
            for (step, operation) in zip(batch.steps, prepared) {
                guard results.allows(step) else {
                    results.append(.notAttempted)
                    continue
                }
                switch operation {
                case .read(let key):
                    results.append(.read(try transaction.get(records, key)))
                case .setIfAbsent(let key, let value, let fenceKey, let token):
                    let outcome = try Self.compareAndSet(
                        key, expected: nil, new: value, fenceKey: fenceKey, token: token, records, transaction)
                    switch outcome {
                    case .swapped: results.append(.set(.stored))
                    case .mismatch(let current): results.append(.set(.exists(current ?? [])))
                    case .fenced: results.append(.set(.fenced))
                    }
                case .compareAndSet(let key, let expected, let new, let fenceKey, let token):
                    results.append(
                        .swap(try Self.compareAndSet(
                            key, expected: expected, new: new, fenceKey: fenceKey, token: token, records, transaction)))
                case .addToSet(let member, let size):
                    results.append(.size(try Self.add((member, size), records, transaction)))
                case .increment(let key, let delta):
                    results.append(.count(try Self.increment(key, by: delta, records, transaction)))
                case .scheduleTimer(let key, let delay, let payload):
                    results.append(
                        .scheduled(try Self.schedule(key, due: time &+ delay, payload: payload, records, timerIndex, transaction)))
                case .retireTimer(let key):
                    try Self.retireTimer(key, records, timerIndex, transaction)
                    results.append(.done)
                case .recordProgress(let run, let quietFor):
                    try Self.recordProgress(run, until: time &+ quietFor, records, progressIndex, transaction)
                    results.append(.done)
                case .forgetProgress(let run):
                    try Self.forgetProgress(run, records, progressIndex, transaction)
                    results.append(.done)
                }
            }
            return results
        }
    }
}
