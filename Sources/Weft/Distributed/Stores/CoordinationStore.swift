/// The atomic primitives a fleet coordinates with: the coordination seam of Weft.
///
/// Every operation is atomic on its own: of concurrent ``setIfAbsent(_:_:fence:)`` calls on one
/// key, exactly one stores; of concurrent ``compareAndSet(_:expected:new:fence:)`` calls with
/// the same expectation, exactly one swaps. Time (lease expiry, timers) is the store's own, so
/// that workers with drifting clocks agree.
///
/// Records are grouped by run (``StoreKey/run``); ``deleteRun(_:)`` removes a run's records,
/// sets, counters, fences, leases and timers together.
public protocol CoordinationStore: Sendable {
    // MARK: Values

    /// The value at `key`.
    func value(at key: StoreKey) async throws -> [UInt8]?

    /// The values at `keys`, in order: one round trip for several reads (a store may read them
    /// together, in one transaction or statement).
    func values(at keys: [StoreKey]) async throws -> [[UInt8]?]

    /// Stores `value` at `key` unless it has one. With a `fence`, the write is refused when a
    /// higher token was seen for the fence's key; otherwise the fence's token becomes the highest.
    func setIfAbsent(_ key: StoreKey, _ value: [UInt8], fence: Fence?) async throws -> SetIfAbsentOutcome

    /// ``setIfAbsent(_:_:fence:)``, and when the value was stored, `additions` too, as by
    /// ``addToSets(_:)``: one round trip for a write and what follows from it. Returns the
    /// outcome and, when stored, the sets' sizes (else none). A store may do both atomically.
    func setIfAbsent(_ key: StoreKey, _ value: [UInt8], fence: Fence?, thenAddToSets additions: [SetAddition])
        async throws -> (SetIfAbsentOutcome, [Int])

    /// ``setIfAbsent(_:_:fence:thenAddToSets:)``, and when the value was stored, the values at
    /// `reads` too, as by ``values(at:)``: a node's record with the first read of the job that
    /// follows it, in one round trip. The reads see the store no earlier than just before the
    /// write. Returns the outcome, the sets' sizes and the values read (both empty unless stored).
    func setIfAbsent(
        _ key: StoreKey, _ value: [UInt8], fence: Fence?, thenAddToSets additions: [SetAddition], thenRead reads: [StoreKey]
    ) async throws -> (SetIfAbsentOutcome, [Int], [[UInt8]?])

    /// ``setIfAbsent(_:_:fence:thenAddToSets:)``, and when the value was stored and the sets'
    /// sizes meet `end`'s requirements, the run's end as by
    /// ``finishRun(_:status:terminal:marker:cancelling:expiry:)``: a run's last node's record and
    /// the run's end in one round trip. Returns the outcome, the sets' sizes (empty unless
    /// stored), and the end's outcome (`nil` when it was not attempted). A store may do it all
    /// in one commit; the default makes the two calls in turn.
    func setIfAbsent(_ key: StoreKey, _ value: [UInt8], fence: Fence?, thenAddToSets additions: [SetAddition], thenFinish end: RunEnd)
        async throws -> (SetIfAbsentOutcome, [Int], CompareAndSetOutcome?)

    /// Replaces the value at `key` with `new` if it equals `expected` (`nil`: absent), under
    /// the same fencing rule as ``setIfAbsent(_:_:fence:)``.
    func compareAndSet(_ key: StoreKey, expected: [UInt8]?, new: [UInt8], fence: Fence?) async throws
        -> CompareAndSetOutcome

    /// Removes the value at `key`, if any.
    func removeValue(at key: StoreKey) async throws

    // MARK: Sets and counters

    /// Adds `member` to the set at `key` and returns the set's size afterwards. Adding a member
    /// again changes nothing, so a duplicate cannot inflate the count.
    func addToSet(_ key: StoreKey, member: String) async throws -> Int

    /// Adds each member to its set, in order, and returns each set's size right after its
    /// addition: one round trip for several additions (a store may apply them together).
    func addToSets(_ additions: [SetAddition]) async throws -> [Int]

    /// The members of the set at `key`, in no particular order.
    func members(of key: StoreKey) async throws -> [String]

    /// Adds `delta` to the counter at `key` (absent counts as 0) and returns the new value.
    func increment(_ key: StoreKey, by delta: Int64) async throws -> Int64

    // MARK: Leases

    /// Takes the lease on `key` for `owner` for `ttl`, unless another owner holds an unexpired
    /// lease on it. The owner may take it again (which renews it).
    func acquireLease(_ key: StoreKey, owner: String, ttl: Duration) async throws -> Lease?

    /// Extends `lease` by `ttl` from now; `false` when it expired and another owner took it.
    func renewLease(_ lease: Lease, ttl: Duration) async throws -> Bool

    /// Gives `lease` up, if it is still held.
    func releaseLease(_ lease: Lease) async throws

    // MARK: Durable timers

    /// Schedules a timer at `key`, due `delay` from now, carrying `payload`. Idempotent: returns
    /// `false`, changing nothing, when a timer with this key is scheduled or has already fired
    /// (fired timers are remembered until their run is deleted).
    @discardableResult
    func scheduleTimer(_ key: StoreKey, after delay: Duration, payload: [UInt8]) async throws -> Bool

    /// Claims up to `limit` due timers for `claimFor`: nobody else receives them in that time.
    /// Complete each with ``completeTimer(_:)`` once its effect is durable; a claimed timer
    /// that is not completed comes due again when the claim lapses.
    func claimDueTimers(limit: Int, claimFor: Duration) async throws -> [DueTimer]

    /// Marks a claimed timer fired.
    func completeTimer(_ key: StoreKey) async throws

    /// Cancels a timer that has not fired; it can no longer be scheduled again.
    func cancelTimer(_ key: StoreKey) async throws

    /// How long until the earliest unclaimed timer is due (zero when one is due now), or `nil`
    /// when there is none.
    func nextTimerDue() async throws -> Duration?

    // MARK: Progress of runs

    /// Notes that `run` made progress now, and that it may stay quiet for `quietFor` (a retry's
    /// backoff) before it counts as stalled.
    func recordProgress(run: String, quietFor: Duration) async throws

    /// Runs whose last progress (plus its allowed quiet time) is older than `age`, oldest
    /// first, at most `limit`.
    func runsWithoutProgress(for age: Duration, limit: Int) async throws -> [String]

    /// Removes `run` from the progress index: it is over.
    func forgetProgress(run: String) async throws

    /// Records a run's start: `record` at `key` unless it has one (as by
    /// ``setIfAbsent(_:_:fence:)``, unfenced), and `run` in the progress index (as by
    /// ``recordProgress(run:quietFor:)``) whatever the outcome. A store may do both in one commit.
    func recordStart(run: String, _ key: StoreKey, _ record: [UInt8], quietFor: Duration) async throws -> SetIfAbsentOutcome

    /// Records what a run's end leaves behind, together: the marker `marker` (stored if absent),
    /// the timer `cancelling` cancelled, `run` removed from the progress index, and the timer
    /// `expiry` scheduled. A store may apply them in one commit.
    func recordEnd(run: String, marker: StoreKey?, cancelling: StoreKey?, expiry: RunExpiry?) async throws

    /// Ends a run: stores `terminal` at `status` unless a value is there (a compare-and-set
    /// from absent), and only when it stored it, records what the end leaves behind, as
    /// ``recordEnd(run:marker:cancelling:expiry:)`` does. Returns `.swapped`, or `.mismatch`
    /// with the value found (then nothing was written). A store may do it all in one commit;
    /// the default makes the two calls in turn.
    func finishRun(
        _ run: String, status: StoreKey, terminal: [UInt8], marker: StoreKey?, cancelling: StoreKey?, expiry: RunExpiry?
    ) async throws -> CompareAndSetOutcome

    /// Removes every record of `run`.
    func deleteRun(_ run: String) async throws
}

/// The timer that removes a finished run's records once its retention ends (see
/// ``CoordinationStore/recordEnd(run:marker:cancelling:expiry:)``).
public struct RunExpiry: Sendable, Hashable {
    /// The timer's key.
    public var key: StoreKey
    /// How long from now it is due.
    public var after: Duration
    /// What it carries.
    public var payload: [UInt8]

    /// An expiry timer at `key`, due `after` from now, carrying `payload`.
    public init(key: StoreKey, after: Duration, payload: [UInt8]) {
        self.key = key
        self.after = after
        self.payload = payload
    }
}

/// A run's end that follows a node's record when the record's set additions leave the sets at
/// the sizes required (the node was the run's last): see
/// ``CoordinationStore/setIfAbsent(_:_:fence:thenAddToSets:thenFinish:)``. Its fields are the
/// arguments of ``CoordinationStore/finishRun(_:status:terminal:marker:cancelling:expiry:)``.
public struct RunEnd: Sendable, Hashable {
    /// The run.
    public var run: String
    /// For each set addition (by its index among the additions), the size its set must have
    /// right after it for the run to end.
    public var requiredSizes: [Int: Int]
    /// The run's status key.
    public var status: StoreKey
    /// The terminal status to store there.
    public var terminal: [UInt8]
    /// The marker stored (if absent) with the end.
    public var marker: StoreKey?
    /// The timer cancelled with the end.
    public var cancelling: StoreKey?
    /// The expiry timer scheduled with the end.
    public var expiry: RunExpiry?

    /// Creates an end.
    public init(
        run: String, requiredSizes: [Int: Int], status: StoreKey, terminal: [UInt8], marker: StoreKey?, cancelling: StoreKey?,
        expiry: RunExpiry?
    ) {
        self.run = run
        self.requiredSizes = requiredSizes
        self.status = status
        self.terminal = terminal
        self.marker = marker
        self.cancelling = cancelling
        self.expiry = expiry
    }

    /// Whether `sizes`, the sizes after each addition, meet the requirements.
    public func isDue(after sizes: [Int]) -> Bool {
        requiredSizes.allSatisfy { $0.key >= 0 && $0.key < sizes.count && sizes[$0.key] == $0.value }
    }
}

/// A member to add to the set at a key: see ``CoordinationStore/addToSets(_:)``.
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

extension CoordinationStore {
    /// Stores, then adds; stores that can do both in one step should.
    public func setIfAbsent(_ key: StoreKey, _ value: [UInt8], fence: Fence?, thenAddToSets additions: [SetAddition])
        async throws -> (SetIfAbsentOutcome, [Int])
    {
        let outcome = try await setIfAbsent(key, value, fence: fence)
        guard outcome == .stored, !additions.isEmpty else { return (outcome, []) }
        return (outcome, try await addToSets(additions))
    }

    /// Stores, adds, then reads; stores that can do it in one step should.
    public func setIfAbsent(
        _ key: StoreKey, _ value: [UInt8], fence: Fence?, thenAddToSets additions: [SetAddition], thenRead reads: [StoreKey]
    ) async throws -> (SetIfAbsentOutcome, [Int], [[UInt8]?]) {
        let (outcome, sizes) = try await setIfAbsent(key, value, fence: fence, thenAddToSets: additions)
        guard outcome == .stored, !reads.isEmpty else { return (outcome, sizes, []) }
        return (outcome, sizes, try await values(at: reads))
    }

    /// Stores and adds, then, when the sizes say so, ends the run; stores that can do it in one
    /// step should.
    public func setIfAbsent(
        _ key: StoreKey, _ value: [UInt8], fence: Fence?, thenAddToSets additions: [SetAddition], thenFinish end: RunEnd
    ) async throws -> (SetIfAbsentOutcome, [Int], CompareAndSetOutcome?) {
        let (outcome, sizes) = try await setIfAbsent(key, value, fence: fence, thenAddToSets: additions)
        guard outcome == .stored, end.isDue(after: sizes) else { return (outcome, sizes, nil) }
        let ended = try await finishRun(
            end.run, status: end.status, terminal: end.terminal, marker: end.marker, cancelling: end.cancelling, expiry: end.expiry)
        return (outcome, sizes, ended)
    }

    /// Issues the two writes together, so that a group-committing store makes them one commit.
    public func recordStart(run: String, _ key: StoreKey, _ record: [UInt8], quietFor: Duration) async throws
        -> SetIfAbsentOutcome
    {
        async let progress: Void = recordProgress(run: run, quietFor: quietFor)
        let stored = try await setIfAbsent(key, record, fence: nil)
        try await progress
        return stored
    }

    /// Sets the status, then, when it did, records the end.
    public func finishRun(
        _ run: String, status: StoreKey, terminal: [UInt8], marker: StoreKey?, cancelling: StoreKey?, expiry: RunExpiry?
    ) async throws -> CompareAndSetOutcome {
        let outcome = try await compareAndSet(status, expected: nil, new: terminal, fence: nil)
        if outcome == .swapped { try await recordEnd(run: run, marker: marker, cancelling: cancelling, expiry: expiry) }
        return outcome
    }

    /// Issues the writes together, so that a group-committing store makes them one commit.
    public func recordEnd(run: String, marker: StoreKey?, cancelling: StoreKey?, expiry: RunExpiry?) async throws {
        try await withThrowingDiscardingTaskGroup { group in
            if let marker { group.addTask { _ = try await self.setIfAbsent(marker, [1], fence: nil) } }
            if let cancelling { group.addTask { try await self.cancelTimer(cancelling) } }
            group.addTask { try await self.forgetProgress(run: run) }
            if let expiry {
                group.addTask { _ = try await self.scheduleTimer(expiry.key, after: expiry.after, payload: expiry.payload) }
            }
        }
    }

    /// Adds the members one by one; stores that can apply several at once should do so.
    public func addToSets(_ additions: [SetAddition]) async throws -> [Int] {
        var sizes: [Int] = []
        sizes.reserveCapacity(additions.count)
        for addition in additions { sizes.append(try await addToSet(addition.key, member: addition.member)) }
        return sizes
    }

    /// Reads the keys one by one; stores that can read several at once should do so.
    public func values(at keys: [StoreKey]) async throws -> [[UInt8]?] {
        var values: [[UInt8]?] = []
        values.reserveCapacity(keys.count)
        for key in keys { values.append(try await value(at: key)) }
        return values
    }
}
