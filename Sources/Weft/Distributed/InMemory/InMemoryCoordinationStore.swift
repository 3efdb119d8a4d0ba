import HeapModule
import Synchronization

/// A ``CoordinationStore`` in this process's memory: the embedded default and what tests use.
///
/// One lock guards everything, so every operation is atomic. Timers are kept in a heap by due
/// time; nothing polls.
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

    private struct RunRecords {
        var values: [String: [UInt8]] = [:]
        var sets: [String: Set<String>] = [:]
        var counters: [String: Int64] = [:]
        var fences: [String: UInt64] = [:]
        var leases: [String: LeaseState] = [:]
        var timers: [String: TimerState] = [:]
        var firedTimers: Set<String> = []
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

    private struct State {
        var runs: [String: RunRecords] = [:]
        var progress: [String: Duration] = [:]
        /// Timers by due time; entries whose timer changed since are skipped when popped.
        var timerHeap = Heap<TimerEntry>()
        var sequence: UInt64 = 0
    }

    private let state = Mutex(State())
    private let clock: StoreClock

    /// Creates an empty store whose leases and timers follow `clock`.
    public init(clock: StoreClock = .continuous) {
        self.clock = clock
    }

    // MARK: Values

    public func value(at key: StoreKey) async throws -> [UInt8]? {
        state.withLock { $0.runs[key.run]?.values[key.name] }
    }

    public func setIfAbsent(_ key: StoreKey, _ value: [UInt8], fence: Fence?) async throws -> SetIfAbsentOutcome {
        state.withLock { state in
            if let existing = state.runs[key.run]?.values[key.name] { return .exists(existing) }
            if let fence, !Self.pass(fence, in: &state) { return .fenced }
            state.runs[key.run, default: RunRecords()].values[key.name] = value
            return .stored
        }
    }

    public func compareAndSet(_ key: StoreKey, expected: [UInt8]?, new: [UInt8], fence: Fence?) async throws
        -> CompareAndSetOutcome
    {
        state.withLock { state in
            let current = state.runs[key.run]?.values[key.name]
            guard current == expected else { return .mismatch(current) }
            if let fence, !Self.pass(fence, in: &state) { return .fenced }
            state.runs[key.run, default: RunRecords()].values[key.name] = new
            return .swapped
        }
    }

    public func removeValue(at key: StoreKey) async throws {
        _ = state.withLock { $0.runs[key.run]?.values.removeValue(forKey: key.name) }
    }

    /// Whether a write carrying `fence` may proceed; if so, its token becomes the highest seen.
    private static func pass(_ fence: Fence, in state: inout State) -> Bool {
        let highest = state.runs[fence.key.run]?.fences[fence.key.name] ?? 0
        guard fence.token >= highest else { return false }
        state.runs[fence.key.run, default: RunRecords()].fences[fence.key.name] = fence.token
        return true
    }

    // MARK: Sets and counters

    public func addToSet(_ key: StoreKey, member: String) async throws -> Int {
        state.withLock { state in
            state.runs[key.run, default: RunRecords()].sets[key.name, default: []].insert(member)
            return state.runs[key.run]?.sets[key.name]?.count ?? 0
        }
    }

    public func members(of key: StoreKey) async throws -> [String] {
        state.withLock { Array($0.runs[key.run]?.sets[key.name] ?? []) }
    }

    public func increment(_ key: StoreKey, by delta: Int64) async throws -> Int64 {
        state.withLock { state in
            let value = (state.runs[key.run]?.counters[key.name] ?? 0) &+ delta
            state.runs[key.run, default: RunRecords()].counters[key.name] = value
            return value
        }
    }

    // MARK: Leases

    public func acquireLease(_ key: StoreKey, owner: String, ttl: Duration) async throws -> Lease? {
        let now = clock.now
        return state.withLock { state in
            let current = state.runs[key.run]?.leases[key.name]
            if let current, current.owner != owner, current.expires > now { return nil }
            let token = current.map { $0.owner == owner && $0.expires > now ? $0.token : $0.token + 1 } ?? 1
            state.runs[key.run, default: RunRecords()].leases[key.name] = LeaseState(
                owner: owner, expires: now + ttl, token: token)
            return Lease(key: key, owner: owner, token: token)
        }
    }

    public func renewLease(_ lease: Lease, ttl: Duration) async throws -> Bool {
        let now = clock.now
        return state.withLock { state in
            guard var current = state.runs[lease.key.run]?.leases[lease.key.name], current.owner == lease.owner,
                current.token == lease.token
            else { return false }
            current.expires = now + ttl
            state.runs[lease.key.run, default: RunRecords()].leases[lease.key.name] = current
            return true
        }
    }

    public func releaseLease(_ lease: Lease) async throws {
        state.withLock { state in
            guard var current = state.runs[lease.key.run]?.leases[lease.key.name], current.owner == lease.owner,
                current.token == lease.token
            else { return }
            // Keep the token, so that the next acquisition gets a higher one.
            current.expires = .zero
            current.owner = ""
            state.runs[lease.key.run]?.leases[lease.key.name] = current
        }
    }

    // MARK: Durable timers

    @discardableResult
    public func scheduleTimer(_ key: StoreKey, after delay: Duration, payload: [UInt8]) async throws -> Bool {
        let due = clock.now + delay
        return state.withLock { state in
            let records = state.runs[key.run]
            if records?.timers[key.name] != nil || records?.firedTimers.contains(key.name) == true { return false }
            state.runs[key.run, default: RunRecords()].timers[key.name] = TimerState(due: due, payload: payload)
            state.sequence += 1
            state.timerHeap.insert(TimerEntry(due: due, sequence: state.sequence, key: key))
            return true
        }
    }

    public func claimDueTimers(limit: Int, claimFor: Duration) async throws -> [DueTimer] {
        let now = clock.now
        return state.withLock { state in
            var claimed: [DueTimer] = []
            while claimed.count < limit, let first = state.timerHeap.min, first.due <= now {
                state.timerHeap.removeMin()
                guard let timer = state.runs[first.key.run]?.timers[first.key.name], timer.due == first.due else {
                    continue  // cancelled, fired or re-claimed since
                }
                let reclaim = now + claimFor
                state.runs[first.key.run]?.timers[first.key.name]?.due = reclaim
                state.sequence += 1
                state.timerHeap.insert(TimerEntry(due: reclaim, sequence: state.sequence, key: first.key))
                claimed.append(DueTimer(key: first.key, payload: timer.payload))
            }
            return claimed
        }
    }

    public func completeTimer(_ key: StoreKey) async throws {
        state.withLock { state in
            guard state.runs[key.run]?.timers.removeValue(forKey: key.name) != nil else { return }
            state.runs[key.run]?.firedTimers.insert(key.name)
        }
    }

    public func cancelTimer(_ key: StoreKey) async throws {
        state.withLock { state in
            state.runs[key.run, default: RunRecords()].timers.removeValue(forKey: key.name)
            state.runs[key.run]?.firedTimers.insert(key.name)
        }
    }

    public func nextTimerDue() async throws -> Duration? {
        let now = clock.now
        return state.withLock { state in
            while let first = state.timerHeap.min {
                guard let timer = state.runs[first.key.run]?.timers[first.key.name], timer.due == first.due else {
                    state.timerHeap.removeMin()
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
        state.withLock { state in
            if let current = state.progress[run], current > now { return }
            state.progress[run] = now
        }
    }

    public func runsWithoutProgress(for age: Duration, limit: Int) async throws -> [String] {
        let cutoff = clock.now - age
        return state.withLock { state in
            state.progress.filter { $0.value <= cutoff }.sorted { ($0.value, $0.key) < ($1.value, $1.key) }
                .prefix(limit).map(\.key)
        }
    }

    public func forgetProgress(run: String) async throws {
        _ = state.withLock { $0.progress.removeValue(forKey: run) }
    }

    public func deleteRun(_ run: String) async throws {
        state.withLock { state in
            state.runs.removeValue(forKey: run)
            state.progress.removeValue(forKey: run)
        }
    }

    /// How many runs have records: for tests of retention.
    public var runCount: Int { state.withLock { $0.runs.count } }
}
