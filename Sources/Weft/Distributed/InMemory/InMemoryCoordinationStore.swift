import HeapModule
import Synchronization

/// A ``CoordinationStore`` in this process's memory: the embedded default and what tests use.
///
/// Records are kept in shards by run (``Sharded``), each behind its own lock, so that workers handling
/// different runs rarely wait for each other; every operation on one run is atomic. Timers are
/// kept in a heap by due time; nothing polls. A batch (``apply(_:)``) runs under the locks of the
/// shards of every run it touches, so it is atomic.
public final class InMemoryCoordinationStore: CoordinationStore {
    private struct TimerState {
        var due: Duration
        var payload: [UInt8]
    }

    /// One run's records: a reference, so that operations mutate it in place without copying
    /// or re-hashing the run id. Only ever read or written inside its shard's lock, which is
    /// what makes it safe to share (hence `@unchecked`).
    private final class RunRecords: @unchecked Sendable {
        var values: [String: [UInt8]] = [:]
        var sets: [String: Set<String>] = [:]
        var counters: [String: Int64] = [:]
        var fences: [String: UInt64] = [:]
        var timers: [String: TimerState] = [:]
        var firedTimers: Set<String> = []

        init() {
            // A run's records: its status, its meta, a few per node. Sized once.
            values.reserveCapacity(16)
        }
    }

    /// One shard's runs and progress index: a reference, so that a batch spanning runs can hold
    /// several shards at once. Only ever read or written inside its lock (hence `@unchecked`).
    private final class Shard: @unchecked Sendable {
        var runs: [String: RunRecords] = [:]
        var progress: [String: Duration] = [:]
        /// The run this shard served last: consecutive operations on one run (every step of a
        /// job, a fan-out's parallel jobs) compare its id instead of hashing it.
        var lastRun = ""
        var lastRecords: RunRecords?

        func records(_ run: String) -> RunRecords? {
            if let lastRecords, lastRun == run { return lastRecords }
            guard let records = runs[run] else { return nil }
            lastRun = run
            lastRecords = records
            return records
        }

        func remove(_ run: String) {
            runs.removeValue(forKey: run)
            progress.removeValue(forKey: run)
            if lastRun == run { lastRecords = nil }
        }
    }

    /// A timer a batch scheduled, to put on the heap once the shards' locks are released.
    private struct QueuedTimer {
        var key: StoreKey
        var due: Duration
    }

    private struct TimerEntry: Comparable {
        var due: Duration
        var sequence: UInt64
        var key: StoreKey

        static func < (lhs: TimerEntry, rhs: TimerEntry) -> Bool {
            (lhs.due, lhs.sequence) < (rhs.due, rhs.sequence)
        }

        static func == (lhs: TimerEntry, rhs: TimerEntry) -> Bool {
            lhs.due == rhs.due && lhs.sequence == rhs.sequence
        }
    }

    /// Timers by due time; entries whose timer changed since are skipped when popped. Locked
    /// before a shard when both are needed, never after.
    private struct TimerQueue {
        var heap = Heap<TimerEntry>()
        var sequence: UInt64 = 0

        mutating func insert(_ key: StoreKey, due: Duration) {
            sequence += 1
            heap.insert(TimerEntry(due: due, sequence: sequence, key: key))
        }
    }

    private let shards = Sharded<Shard> { Shard() }
    private let timers = Mutex(TimerQueue())
    private let clock: StoreClock

    /// Creates an empty store whose leases and timers follow `clock`.
    public init(clock: StoreClock = .continuous) {
        self.clock = clock
    }

    private func withRun<T: Sendable>(_ run: String, _ body: (inout Shard) -> T) -> T {
        shards.withLock(run, body)
    }

    /// Runs `body` on `run`'s records, created if absent, under its shard's lock.
    private func withRecords<T: Sendable>(_ run: String, _ body: (RunRecords) -> T) -> T {
        shards.withLock(run) { shard in
            if let records = shard.records(run) { return body(records) }
            let records = RunRecords()
            shard.runs[run] = records
            return body(records)
        }
    }

    // MARK: Values

    public func value(at key: StoreKey) async throws -> [UInt8]? {
        withRun(key.run) { $0.records(key.run)?.values[key.name] }
    }

    public func compareAndSet(_ key: StoreKey, expected: [UInt8]?, new: [UInt8], fence: Fence?) async throws
        -> CompareAndSetOutcome
    {
        if let fence, fence.key.run != key.run {
            throw WeftError(.invalidFence, "A fence guards keys of its own run: \(fence.key) cannot guard \(key)")
        }
        let step = StoreBatch.Step.compareAndSet(key, expected: expected, new: new, fence: fence)
        guard case .swap(let outcome) = withRun(key.run, { Self.perform(step, in: $0, at: .zero).outcome }) else {
            return .fenced  // not reached
        }
        return outcome
    }

    // MARK: Sets and counters

    public func addToSet(_ key: StoreKey, member: String) async throws -> Int {
        withRecords(key.run) { records in
            records.sets[key.name, default: []].insert(member)
            return records.sets[key.name]?.count ?? 0
        }
    }

    public func members(of key: StoreKey) async throws -> [String] {
        withRun(key.run) { Array($0.runs[key.run]?.sets[key.name] ?? []) }
    }

    public func increment(_ key: StoreKey, by delta: Int64) async throws -> Int64 {
        withRecords(key.run) { records in
            let value = (records.counters[key.name] ?? 0) &+ delta
            records.counters[key.name] = value
            return value
        }
    }

    // MARK: Durable timers

    @discardableResult
    public func scheduleTimer(_ key: StoreKey, after delay: Duration, payload: [UInt8]) async throws -> Bool {
        let now = clock.now
        let (outcome, queued) = withRun(key.run) { Self.perform(.scheduleTimer(key, after: delay, payload: payload), in: $0, at: now) }
        if let queued { timers.withLock { $0.insert(queued.key, due: queued.due) } }
        return outcome == .scheduled(true)
    }

    public func claimDueTimers(limit: Int, claimFor: Duration) async throws -> TimerClaim {
        let now = clock.now
        let reclaim = now + claimFor
        return timers.withLock { queue in
            var claimed: [DueTimer] = []
            while claimed.count < limit, let first = queue.heap.min, first.due <= now {
                queue.heap.removeMin()
                let payload = withRun(first.key.run) { shard -> [UInt8]? in
                    guard let timer = shard.runs[first.key.run]?.timers[first.key.name], timer.due == first.due else {
                        return nil  // retired or re-claimed since
                    }
                    shard.runs[first.key.run]?.timers[first.key.name]?.due = reclaim
                    return timer.payload
                }
                guard let payload else { continue }
                queue.insert(first.key, due: reclaim)
                claimed.append(DueTimer(key: first.key, payload: payload))
            }
            // The earliest live timer left, stale heap entries dropped on the way.
            while let first = queue.heap.min {
                let live = withRun(first.key.run) { $0.runs[first.key.run]?.timers[first.key.name]?.due == first.due }
                guard live else {
                    queue.heap.removeMin()
                    continue
                }
                return TimerClaim(timers: claimed, nextDue: max(.zero, first.due - now))
            }
            return TimerClaim(timers: claimed, nextDue: nil)
        }
    }

    public func retireTimer(_ key: StoreKey) async throws {
        _ = withRun(key.run) { Self.perform(.retireTimer(key), in: $0, at: .zero) }
    }

    // MARK: Progress

    public func recordProgress(run: String, quietFor: Duration) async throws {
        let now = clock.now
        _ = withRun(run) { Self.perform(.recordProgress(run: run, quietFor: quietFor), in: $0, at: now) }
    }

    public func runsWithoutProgress(for age: Duration, limit: Int) async throws -> [String] {
        let cutoff = clock.now - age
        var found: [(String, Duration)] = []
        shards.forEach { shard in
            for (run, time) in shard.progress where time <= cutoff { found.append((run, time)) }
        }
        return found.sorted { ($0.1, $0.0) < ($1.1, $1.0) }.prefix(limit).map(\.0)
    }

    public func forgetProgress(run: String) async throws {
        _ = withRun(run) { $0.progress.removeValue(forKey: run) }
    }

    public func deleteRun(_ run: String) async throws {
        withRun(run) { $0.remove(run) }
    }

    // MARK: Batches

    /// Applies the batch under the lock of its run's shard (of every shard it touches, in
    /// order, when it touches several runs): atomic.
    public func apply(_ batch: StoreBatch) async throws -> StoreBatch.Results {
        // What the batch's operations have in common was noted as they were added: no pass
        // over them here.
        try batch.checkFences()
        let now = batch.usesTime ? clock.now : .zero
        // Allocated before the lock is taken, so that the critical section only does the work:
        // a fan-out's jobs all wait on their run's shard.
        var results = StoreBatch.Results(capacity: batch.count)
        let queued: [QueuedTimer]
        if let run = batch.onlyRun {
            queued = withRun(run) { shard in Self.apply(batch, at: now, into: &results, only: shard) { _ in shard } }
        } else if batch.isEmpty {
            return results
        } else {
            queued = shards.withLocks(batch.steps.map(\.key.run)) { shard in
                Self.apply(batch, at: now, into: &results, only: nil, shard)
            }
        }
        if !queued.isEmpty { timers.withLock { queue in for timer in queued { queue.insert(timer.key, due: timer.due) } } }
        return results
    }

    /// Applies `batch` to the locked shards (`only`, when every operation is of one run, else
    /// the one `shard` gives for each operation's run), appending each outcome to `results`;
    /// returns the timers scheduled, for the caller to queue outside the locks. Steps are read
    /// in place, not copied; a batch of one run looks its records up once.
    private static func apply(
        _ batch: StoreBatch, at now: Duration, into results: inout StoreBatch.Results, only: Shard?, _ shard: (String) -> Shard
    ) -> [QueuedTimer] {
        var queued: [QueuedTimer] = []
        var onlyRecords = only.flatMap { only in batch.onlyRun.flatMap { only.records($0) } }
        batch.steps.withUnsafeBufferPointer { steps in
            guard let first = steps.baseAddress else { return }
            for index in steps.indices {
                // Through a pointer: a step passed by value is copied whole (every key, value
                // and condition retained, then released), which costs more than the work.
                let step = first + index
                guard results.allows(conditionsOf: step) else {
                    results.append(.notAttempted)
                    continue
                }
                let outcome: StoreBatch.Results.Outcome
                let timer: QueuedTimer?
                if let only {
                    (outcome, timer) = perform(step, in: only, records: &onlyRecords, at: now)
                } else {
                    let target = shard(step.pointee.key.run)
                    var records = target.records(step.pointee.key.run)
                    (outcome, timer) = perform(step, in: target, records: &records, at: now)
                }
                results.append(outcome)
                if let timer { queued.append(timer) }
            }
        }
        return queued
    }

    /// `records`, the step's run's records, created when the run has none yet.
    @inline(__always)
    private static func created(_ records: inout RunRecords?, _ step: UnsafePointer<StoreBatch.Step>, in shard: Shard) -> RunRecords {
        if let records { return records }
        let made = RunRecords()
        shard.runs[step.pointee.key.run] = made
        records = made
        return made
    }

    /// Performs one step's operation on its run's shard, already locked, given the run's
    /// records (`nil`: it has none yet; a write creates them); `now` is the store's time (for
    /// timers and progress). Returns the outcome and the timer to queue, if it scheduled one.
    /// The step is read in place: its fields, not a copy of it. Its fence guards a key of its
    /// own run (``StoreBatch/checkFences()``): the fence's name and token are read in place.
    private static func perform(
        _ step: UnsafePointer<StoreBatch.Step>, in shard: Shard, records found: inout RunRecords?, at now: Duration
    ) -> (outcome: StoreBatch.Results.Outcome, timer: QueuedTimer?) {
        switch step.pointee.kind {
        case .read:
            return (.read(found?.values[step.pointee.key.name]), nil)
        case .setIfAbsent:
            let records = created(&found, step, in: shard)
            if step.pointee.isFenced, step.pointee.number < records.fences[step.pointee.text] ?? 0 { return (.set(.fenced), nil) }
            if let existing = records.values[step.pointee.key.name] { return (.set(.exists(existing)), nil) }
            records.values[step.pointee.key.name] = step.pointee.bytes
            if step.pointee.isFenced { records.fences[step.pointee.text] = step.pointee.number }
            return (.set(.stored), nil)
        case .compareAndSet:
            let records = created(&found, step, in: shard)
            if step.pointee.isFenced, step.pointee.number < records.fences[step.pointee.text] ?? 0 { return (.swap(.fenced), nil) }
            let current = records.values[step.pointee.key.name]
            guard current == step.pointee.expected else { return (.swap(.mismatch(current)), nil) }
            records.values[step.pointee.key.name] = step.pointee.bytes
            if step.pointee.isFenced { records.fences[step.pointee.text] = step.pointee.number }
            return (.swap(.swapped), nil)
        case .addToSet:
            let records = created(&found, step, in: shard)
            let size = Self.insert(step.pointee.text, into: &records.sets[step.pointee.key.name, default: []])
            return (.size(size), nil)
        case .increment:
            let records = created(&found, step, in: shard)
            let value = (records.counters[step.pointee.key.name] ?? 0) &+ Int64(bitPattern: step.pointee.number)
            records.counters[step.pointee.key.name] = value
            return (.count(value), nil)
        case .scheduleTimer:
            let key = step.pointee.key
            if found?.timers[key.name] != nil || found?.firedTimers.contains(key.name) == true { return (.scheduled(false), nil) }
            let due = now + step.pointee.delay
            created(&found, step, in: shard).timers[key.name] = TimerState(due: due, payload: step.pointee.bytes)
            return (.scheduled(true), QueuedTimer(key: key, due: due))
        case .retireTimer:
            let records = created(&found, step, in: shard)
            records.timers.removeValue(forKey: step.pointee.key.name)
            records.firedTimers.insert(step.pointee.key.name)
            return (.done, nil)
        case .recordProgress:
            let time = now + step.pointee.delay
            if let current = shard.progress[step.pointee.key.run], current > time { return (.done, nil) }
            shard.progress[step.pointee.key.run] = time
            return (.done, nil)
        case .forgetProgress:
            shard.progress.removeValue(forKey: step.pointee.key.run)
            return (.done, nil)
        }
    }

    private static func perform(_ step: StoreBatch.Step, in shard: Shard, at now: Duration)
        -> (outcome: StoreBatch.Results.Outcome, timer: QueuedTimer?)
    {
        var records = shard.records(step.key.run)
        return withUnsafePointer(to: step) { perform($0, in: shard, records: &records, at: now) }
    }

    /// Inserts `member` and returns the set's size: one hash of the set's name, not two.
    private static func insert(_ member: String, into set: inout Set<String>) -> Int {
        set.insert(member)
        return set.count
    }

    /// How many runs have records (the store's own records, under the empty run id, are not a
    /// run): for tests of retention.
    public var runCount: Int {
        var count = 0
        shards.forEach { count += $0.runs.keys.count { !$0.isEmpty } }
        return count
    }
}
