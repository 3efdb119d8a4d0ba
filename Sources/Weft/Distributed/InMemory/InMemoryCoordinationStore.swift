import HeapModule
import Synchronization

/// A ``CoordinationStore`` in this process's memory: the embedded default and what tests use.
///
/// Records are kept in shards by run (``Sharded``), each behind its own lock, so that workers handling
/// different runs rarely wait for each other; every operation on one run is atomic. Timers are
/// kept in a heap by due time; nothing polls.
public final class InMemoryCoordinationStore: CoordinationStore {
    private struct LeaseState {
        var owner: String
        var expires: Duration
        var token: UInt64
    }

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
        var leases: [String: LeaseState] = [:]
        var timers: [String: TimerState] = [:]
        var firedTimers: Set<String> = []

        init() {
            // A run's records: its status, its meta, a few per node. Sized once.
            values.reserveCapacity(16)
        }
    }

    private struct Shard {
        var runs: [String: RunRecords] = [:]
        var progress: [String: Duration] = [:]
        /// The run this shard served last: consecutive operations on one run (every step of a
        /// job, a fan-out's parallel jobs) compare its id instead of hashing it.
        var lastRun = ""
        var lastRecords: RunRecords?

        mutating func records(_ run: String) -> RunRecords? {
            if let lastRecords, lastRun == run { return lastRecords }
            guard let records = runs[run] else { return nil }
            lastRun = run
            lastRecords = records
            return records
        }

        mutating func remove(_ run: String) {
            runs.removeValue(forKey: run)
            progress.removeValue(forKey: run)
            if lastRun == run { lastRecords = nil }
        }
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

    private static func records(_ run: String, in shard: inout Shard) -> RunRecords {
        if let records = shard.records(run) { return records }
        let records = RunRecords()
        shard.runs[run] = records
        return records
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
        withRun(key.run) { $0.runs[key.run]?.values[key.name] }
    }

    public func values(at keys: [StoreKey]) async throws -> [[UInt8]?] {
        guard let run = keys.first?.run, keys.allSatisfy({ $0.run == run }) else {
            var values: [[UInt8]?] = []
            for key in keys { values.append(try await value(at: key)) }
            return values
        }
        return withRun(run) { shard in
            let records = shard.records(run)
            return keys.map { records?.values[$0.name] }
        }
    }

    public func setIfAbsent(_ key: StoreKey, _ value: [UInt8], fence: Fence?) async throws -> SetIfAbsentOutcome {
        try await fenced(key, fence) { records in
            if let existing = records.values[key.name] { return (.exists(existing), false) }
            records.values[key.name] = value
            return (.stored, true)
        } refused: {
            .fenced
        }
    }

    public func setIfAbsent(_ key: StoreKey, _ value: [UInt8], fence: Fence?, thenAddToSets additions: [SetAddition])
        async throws -> (SetIfAbsentOutcome, [Int])
    {
        guard additions.allSatisfy({ $0.key.run == key.run }) else {
            let outcome = try await setIfAbsent(key, value, fence: fence)
            guard outcome == .stored else { return (outcome, []) }
            return (outcome, try await addToSets(additions))
        }
        // One lock for the write and its additions.
        return try await fenced(key, fence) { records -> ((SetIfAbsentOutcome, [Int]), Bool) in
            if let existing = records.values[key.name] { return ((.exists(existing), []), false) }
            records.values[key.name] = value
            let sizes = additions.map { addition in
                records.sets[addition.key.name, default: []].insert(addition.member)
                return records.sets[addition.key.name]?.count ?? 0
            }
            return ((.stored, sizes), true)
        } refused: {
            (.fenced, [])
        }
    }

    public func setIfAbsent(
        _ key: StoreKey, _ value: [UInt8], fence: Fence?, thenAddToSets additions: [SetAddition], thenFinish end: RunEnd
    ) async throws -> (SetIfAbsentOutcome, [Int], CompareAndSetOutcome?) {
        guard additions.allSatisfy({ $0.key.run == key.run }), end.run == key.run,
            Self.allOf(end.run, end.status, end.marker, end.cancelling, end.expiry?.key)
        else {
            let (outcome, sizes) = try await setIfAbsent(key, value, fence: fence, thenAddToSets: additions)
            guard outcome == .stored, end.isDue(after: sizes) else { return (outcome, sizes, nil) }
            let ended = try await finishRun(
                end.run, status: end.status, terminal: end.terminal, marker: end.marker, cancelling: end.cancelling,
                expiry: end.expiry)
            return (outcome, sizes, ended)
        }
        if let fence, fence.key.run != key.run {
            throw WeftError(.invalidFence, "A fence guards keys of its own run: \(fence.key) cannot guard \(key)")
        }
        // One lock for the record, its additions and the run's end.
        let due = end.expiry.map { clock.now + $0.after }
        let (result, scheduled) = withRun(key.run) { shard -> ((SetIfAbsentOutcome, [Int], CompareAndSetOutcome?), Bool) in
            let records = Self.records(key.run, in: &shard)
            if let fence, fence.token < records.fences[fence.key.name] ?? 0 { return ((.fenced, [], nil), false) }
            if let existing = records.values[key.name] { return ((.exists(existing), [], nil), false) }
            records.values[key.name] = value
            if let fence { records.fences[fence.key.name] = fence.token }
            let sizes = additions.map { addition in
                records.sets[addition.key.name, default: []].insert(addition.member)
                return records.sets[addition.key.name]?.count ?? 0
            }
            guard end.isDue(after: sizes) else { return ((.stored, sizes, nil), false) }
            if let current = records.values[end.status.name] { return ((.stored, sizes, .mismatch(current)), false) }
            records.values[end.status.name] = end.terminal
            let scheduled = Self.end(
                end.run, marker: end.marker, cancelling: end.cancelling, expiry: end.expiry, due: due, in: &shard)
            return ((.stored, sizes, .swapped), scheduled)
        }
        if scheduled, let expiry = end.expiry, let due { timers.withLock { $0.insert(expiry.key, due: due) } }
        return result
    }

    public func compareAndSet(_ key: StoreKey, expected: [UInt8]?, new: [UInt8], fence: Fence?) async throws
        -> CompareAndSetOutcome
    {
        try await fenced(key, fence) { records in
            let current = records.values[key.name]
            guard current == expected else { return (.mismatch(current), false) }
            records.values[key.name] = new
            return (.swapped, true)
        } refused: {
            .fenced
        }
    }

    /// Runs a write on `key`'s run records; with a fence, the write happens only when the fence's
    /// token is at least the highest seen for its key, which it then becomes. `body` returns its
    /// outcome and whether it wrote.
    private func fenced<T: Sendable>(
        _ key: StoreKey, _ fence: Fence?, _ body: (inout RunRecords) -> (T, Bool), refused: () -> T
    ) async throws -> T {
        guard let fence else {
            return withRecords(key.run) { records in
                var records = records
                return body(&records).0
            }
        }
        guard fence.key.run == key.run else {
            throw WeftError(.invalidFence, "A fence guards keys of its own run: \(fence.key) cannot guard \(key)")
        }
        return withRecords(key.run) { records in
            let highest = records.fences[fence.key.name] ?? 0
            guard fence.token >= highest else { return refused() }
            var target = records
            let (outcome, wrote) = body(&target)
            if wrote { records.fences[fence.key.name] = fence.token }
            return outcome
        }
    }

    public func removeValue(at key: StoreKey) async throws {
        _ = withRun(key.run) { $0.runs[key.run]?.values.removeValue(forKey: key.name) }
    }

    // MARK: Sets and counters

    public func addToSet(_ key: StoreKey, member: String) async throws -> Int {
        withRecords(key.run) { records in
            records.sets[key.name, default: []].insert(member)
            return records.sets[key.name]?.count ?? 0
        }
    }

    public func addToSets(_ additions: [SetAddition]) async throws -> [Int] {
        guard let run = additions.first?.key.run, additions.allSatisfy({ $0.key.run == run }) else {
            var sizes: [Int] = []
            for addition in additions { sizes.append(try await addToSet(addition.key, member: addition.member)) }
            return sizes
        }
        return withRecords(run) { records in
            additions.map { addition in
                records.sets[addition.key.name, default: []].insert(addition.member)
                return records.sets[addition.key.name]?.count ?? 0
            }
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

    // MARK: Leases

    public func acquireLease(_ key: StoreKey, owner: String, ttl: Duration) async throws -> Lease? {
        let now = clock.now
        return withRun(key.run) { shard in
            let current = shard.runs[key.run]?.leases[key.name]
            if let current, current.owner != owner, current.expires > now { return nil }
            let token = current.map { $0.owner == owner && $0.expires > now ? $0.token : $0.token + 1 } ?? 1
            Self.records(key.run, in: &shard).leases[key.name] = LeaseState(owner: owner, expires: now + ttl, token: token)
            return Lease(key: key, owner: owner, token: token)
        }
    }

    public func renewLease(_ lease: Lease, ttl: Duration) async throws -> Bool {
        let now = clock.now
        return withRun(lease.key.run) { shard in
            guard var current = shard.runs[lease.key.run]?.leases[lease.key.name], current.owner == lease.owner,
                current.token == lease.token, current.expires > now
            else { return false }
            current.expires = now + ttl
            shard.runs[lease.key.run]?.leases[lease.key.name] = current
            return true
        }
    }

    public func releaseLease(_ lease: Lease) async throws {
        withRun(lease.key.run) { shard in
            guard var current = shard.runs[lease.key.run]?.leases[lease.key.name], current.owner == lease.owner,
                current.token == lease.token
            else { return }
            // Keep the token, so that the next acquisition gets a higher one.
            current.expires = .zero
            current.owner = ""
            shard.runs[lease.key.run]?.leases[lease.key.name] = current
        }
    }

    // MARK: Durable timers

    @discardableResult
    public func scheduleTimer(_ key: StoreKey, after delay: Duration, payload: [UInt8]) async throws -> Bool {
        let due = clock.now + delay
        let scheduled = withRun(key.run) { shard in
            let records = shard.runs[key.run]
            if records?.timers[key.name] != nil || records?.firedTimers.contains(key.name) == true { return false }
            Self.records(key.run, in: &shard).timers[key.name] = TimerState(due: due, payload: payload)
            return true
        }
        if scheduled { timers.withLock { $0.insert(key, due: due) } }
        return scheduled
    }

    public func claimDueTimers(limit: Int, claimFor: Duration) async throws -> [DueTimer] {
        let now = clock.now
        let reclaim = now + claimFor
        return timers.withLock { queue in
            var claimed: [DueTimer] = []
            while claimed.count < limit, let first = queue.heap.min, first.due <= now {
                queue.heap.removeMin()
                let payload = withRun(first.key.run) { shard -> [UInt8]? in
                    guard let timer = shard.runs[first.key.run]?.timers[first.key.name], timer.due == first.due else {
                        return nil  // cancelled, fired or re-claimed since
                    }
                    shard.runs[first.key.run]?.timers[first.key.name]?.due = reclaim
                    return timer.payload
                }
                guard let payload else { continue }
                queue.insert(first.key, due: reclaim)
                claimed.append(DueTimer(key: first.key, payload: payload))
            }
            return claimed
        }
    }

    public func completeTimer(_ key: StoreKey) async throws {
        withRun(key.run) { shard in
            guard shard.runs[key.run]?.timers.removeValue(forKey: key.name) != nil else { return }
            shard.runs[key.run]?.firedTimers.insert(key.name)
        }
    }

    public func cancelTimer(_ key: StoreKey) async throws {
        withRun(key.run) { shard in
            let records = Self.records(key.run, in: &shard)
            records.timers.removeValue(forKey: key.name)
            records.firedTimers.insert(key.name)
        }
    }

    public func nextTimerDue() async throws -> Duration? {
        let now = clock.now
        return timers.withLock { queue in
            while let first = queue.heap.min {
                let live = withRun(first.key.run) { $0.runs[first.key.run]?.timers[first.key.name]?.due == first.due }
                guard live else {
                    queue.heap.removeMin()
                    continue
                }
                return max(.zero, first.due - now)
            }
            return nil
        }
    }

    // MARK: Progress

    public func recordProgress(run: String, quietFor: Duration) async throws {
        let now = clock.now + quietFor
        withRun(run) { shard in
            if let current = shard.progress[run], current > now { return }
            shard.progress[run] = now
        }
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

    // MARK: A run's end

    public func recordEnd(run: String, marker: StoreKey?, cancelling: StoreKey?, expiry: RunExpiry?) async throws {
        guard Self.allOf(run, marker, cancelling, expiry?.key) else {
            // Keys of other runs: each write under its own run's lock.
            if let marker { _ = try await setIfAbsent(marker, [1], fence: nil) }
            if let cancelling { try await cancelTimer(cancelling) }
            try await forgetProgress(run: run)
            if let expiry { _ = try await scheduleTimer(expiry.key, after: expiry.after, payload: expiry.payload) }
            return
        }
        let due = expiry.map { clock.now + $0.after }
        let scheduled = withRun(run) { shard in
            Self.end(run, marker: marker, cancelling: cancelling, expiry: expiry, due: due, in: &shard)
        }
        if scheduled, let expiry, let due { timers.withLock { $0.insert(expiry.key, due: due) } }
    }

    public func finishRun(
        _ run: String, status: StoreKey, terminal: [UInt8], marker: StoreKey?, cancelling: StoreKey?, expiry: RunExpiry?
    ) async throws -> CompareAndSetOutcome {
        guard Self.allOf(run, status, marker, cancelling, expiry?.key) else {
            let outcome = try await compareAndSet(status, expected: nil, new: terminal, fence: nil)
            if outcome == .swapped { try await recordEnd(run: run, marker: marker, cancelling: cancelling, expiry: expiry) }
            return outcome
        }
        let due = expiry.map { clock.now + $0.after }
        let (outcome, scheduled) = withRun(run) { shard -> (CompareAndSetOutcome, Bool) in
            let records = Self.records(run, in: &shard)
            if let current = records.values[status.name] { return (.mismatch(current), false) }
            records.values[status.name] = terminal
            return (.swapped, Self.end(run, marker: marker, cancelling: cancelling, expiry: expiry, due: due, in: &shard))
        }
        if scheduled, let expiry, let due { timers.withLock { $0.insert(expiry.key, due: due) } }
        return outcome
    }

    /// Whether every key given belongs to `run`.
    private static func allOf(_ run: String, _ keys: StoreKey?...) -> Bool {
        keys.allSatisfy { $0 == nil || $0!.run == run }
    }

    /// The writes of a run's end (every key of `run`), in its shard; returns whether the expiry timer was scheduled
    /// (for the caller to queue it, outside the shard's lock).
    private static func end(
        _ run: String, marker: StoreKey?, cancelling: StoreKey?, expiry: RunExpiry?, due: Duration?, in shard: inout Shard
    ) -> Bool {
        if let marker {
            let records = Self.records(run, in: &shard)
            if records.values[marker.name] == nil { records.values[marker.name] = [1] }
        }
        if let cancelling {
            let records = Self.records(run, in: &shard)
            records.timers.removeValue(forKey: cancelling.name)
            records.firedTimers.insert(cancelling.name)
        }
        shard.progress.removeValue(forKey: run)
        guard let expiry, let due else { return false }
        let records = Self.records(run, in: &shard)
        if records.timers[expiry.key.name] != nil || records.firedTimers.contains(expiry.key.name) { return false }
        records.timers[expiry.key.name] = TimerState(due: due, payload: expiry.payload)
        return true
    }

    public func deleteRun(_ run: String) async throws {
        withRun(run) { $0.remove(run) }
    }

    /// How many runs have records: for tests of retention.
    public var runCount: Int {
        var count = 0
        shards.forEach { count += $0.runs.count }
        return count
    }
}
