/// The atomic primitives a fleet coordinates with: the coordination seam of Weft.
///
/// Twelve primitives and one batch. Every primitive is atomic on its own: of concurrent
/// compare-and-set calls with the same expectation, exactly one swaps; a set counts each member
/// once. Time (timers, the progress index) is the store's own, so that workers with drifting
/// clocks agree.
///
/// ``apply(_:)`` applies a ``StoreBatch`` of operations in order. Its default applies them one
/// by one through the primitives, which is correct: Weft's runtime never needs a batch to be
/// atomic. A store that overrides it to apply the whole batch atomically (one lock, one
/// transaction, one statement) makes every hop of a run one commit instead of several; the
/// conformance suite then checks that it is atomic under concurrency and failures
/// (`ProtocolConformance.atomicBatches` in WeftConformance).
///
/// Records are grouped by run (``StoreKey/run``); ``deleteRun(_:)`` removes a run's records,
/// sets, counters, fences and timers together.
public protocol CoordinationStore: Sendable {
    // MARK: Values

    /// The value at `key`.
    func value(at key: StoreKey) async throws -> [UInt8]?

    /// Replaces the value at `key` with `new` if it equals `expected` (`nil`: absent). With a
    /// `fence`, the write is refused (`.fenced`) when a higher token was seen for the fence's key,
    /// which must be of `key`'s run; otherwise the fence's token becomes the highest.
    func compareAndSet(_ key: StoreKey, expected: [UInt8]?, new: [UInt8], fence: Fence?) async throws
        -> CompareAndSetOutcome

    // MARK: Sets and counters

    /// Adds `member` to the set at `key` and returns the set's size afterwards. Adding a member
    /// again changes nothing, so a duplicate cannot inflate the count.
    func addToSet(_ key: StoreKey, member: String) async throws -> Int

    /// The members of the set at `key`, in no particular order.
    func members(of key: StoreKey) async throws -> [String]

    /// Adds `delta` to the counter at `key` (absent counts as 0) and returns the new value.
    func increment(_ key: StoreKey, by delta: Int64) async throws -> Int64

    // MARK: Durable timers

    /// Schedules a timer at `key`, due `delay` from now, carrying `payload`. Idempotent: returns
    /// `false`, changing nothing, when a timer with this key is scheduled or was retired
    /// (retired timers are remembered until their run is deleted).
    @discardableResult
    func scheduleTimer(_ key: StoreKey, after delay: Duration, payload: [UInt8]) async throws -> Bool

    /// Claims up to `limit` due timers for `claimFor`: nobody else receives them in that time.
    /// Retire each with ``retireTimer(_:)`` once its effect is durable; a claimed timer that is
    /// not retired comes due again when the claim lapses. The claim also says when the earliest
    /// timer left is due, for the caller's sleep (`limit` 0 only asks that).
    func claimDueTimers(limit: Int, claimFor: Duration) async throws -> TimerClaim

    /// Retires the timer at `key`: a claimed timer has fired, a scheduled one is cancelled, and
    /// none can be scheduled at `key` again.
    func retireTimer(_ key: StoreKey) async throws

    // MARK: Progress of runs

    /// Notes that `run` made progress now, and that it may stay quiet for `quietFor` (a retry's
    /// backoff, a delayed start) before it counts as stalled. Never moves a run's time earlier.
    func recordProgress(run: String, quietFor: Duration) async throws

    /// Runs whose last progress (plus its allowed quiet time) is older than `age`, oldest
    /// first, at most `limit`.
    func runsWithoutProgress(for age: Duration, limit: Int) async throws -> [String]

    /// Removes `run` from the progress index: it is over.
    func forgetProgress(run: String) async throws

    /// Removes every record of `run`.
    func deleteRun(_ run: String) async throws

    // MARK: Batches

    /// Applies `batch`'s operations in order, each only when its conditions on earlier outcomes
    /// hold, and returns every outcome. A store should apply it atomically (nothing of it seen
    /// by others, or left after a failure or crash, until all of it is); the default applies
    /// the operations one by one (see ``applyOneByOne(_:)``).
    func apply(_ batch: StoreBatch) async throws -> StoreBatch.Results
}

/// The timers claimed by ``CoordinationStore/claimDueTimers(limit:claimFor:)``, and when the
/// earliest timer left is due.
public struct TimerClaim: Sendable, Hashable {
    /// The timers claimed, earliest first.
    public var timers: [DueTimer]
    /// How long until the earliest unclaimed timer is due (zero when one is due now), or `nil`
    /// when there is none.
    public var nextDue: Duration?

    /// Creates a claim. Stores create these.
    public init(timers: [DueTimer], nextDue: Duration?) {
        self.timers = timers
        self.nextDue = nextDue
    }
}

extension CoordinationStore {
    /// Applies the operations one by one through the store's primitives: correct, not atomic.
    public func apply(_ batch: StoreBatch) async throws -> StoreBatch.Results {
        try await applyOneByOne(batch)
    }

    /// Applies `batch`'s operations one by one through the primitives, in order, skipping those
    /// whose conditions do not hold. A store's own ``apply(_:)`` may fall back on it for batches
    /// it cannot apply at once.
    public func applyOneByOne(_ batch: StoreBatch) async throws -> StoreBatch.Results {
        var results = StoreBatch.Results(capacity: batch.steps.count)
        for step in batch.steps {
            guard results.allows(step) else {
                results.append(.notAttempted)
                continue
            }
            switch step.operation {
            case .read(let key):
                results.append(.read(try await value(at: key)))
            case .setIfAbsent(let key, let value, let fence):
                results.append(.set(try await setIfAbsent(key, value, fence: fence)))
            case .compareAndSet(let key, let expected, let new, let fence):
                results.append(.swap(try await compareAndSet(key, expected: expected, new: new, fence: fence)))
            case .addToSet(let key, let member):
                results.append(.size(try await addToSet(key, member: member)))
            case .increment(let key, let delta):
                results.append(.count(try await increment(key, by: delta)))
            case .scheduleTimer(let key, let delay, let payload):
                results.append(.scheduled(try await scheduleTimer(key, after: delay, payload: payload)))
            case .retireTimer(let key):
                try await retireTimer(key)
                results.append(.done)
            case .recordProgress(let run, let quietFor):
                try await recordProgress(run: run, quietFor: quietFor)
                results.append(.done)
            case .forgetProgress(let run):
                try await forgetProgress(run: run)
                results.append(.done)
            }
        }
        return results
    }

    /// Stores `value` at `key` unless it has one: of concurrent calls on one key, exactly one
    /// stores. With a `fence`, as ``compareAndSet(_:expected:new:fence:)``. A compare-and-set
    /// from absent, with the value found returned.
    public func setIfAbsent(_ key: StoreKey, _ value: [UInt8], fence: Fence? = nil) async throws -> SetIfAbsentOutcome {
        switch try await compareAndSet(key, expected: nil, new: value, fence: fence) {
        case .swapped: .stored
        case .mismatch(let current): .exists(current ?? [])
        case .fenced: .fenced
        }
    }

    /// The values at `keys`, in order, read in one batch.
    public func values(at keys: [StoreKey]) async throws -> [[UInt8]?] {
        guard keys.count > 1 else { return keys.isEmpty ? [] : [try await value(at: keys[0])] }
        var batch = StoreBatch(capacity: keys.count)
        for key in keys { batch.read(key) }
        return try await apply(batch).outcomes.map { outcome in
            if case .read(let value) = outcome { value } else { nil }
        }
    }

    /// Adds each member to its set, in order, in one batch, and returns each set's size right
    /// after its addition.
    public func addToSets(_ additions: [SetAddition]) async throws -> [Int] {
        var batch = StoreBatch(capacity: additions.count)
        let labels = additions.map { batch.addToSet($0.key, member: $0.member) }
        let results = try await apply(batch)
        return labels.map { results[$0] ?? 0 }
    }
}

/// A member to add to the set at a key.
public struct SetAddition: Sendable, Hashable {
    /// The set's key.
    public var key: StoreKey
    /// The member.
    public var member: String

    /// Creates an addition.
    public init(key: StoreKey, member: String) {
        self.key = key
        self.member = member
    }
}
