import Synchronization
import Weft

extension ProtocolConformance {
    // MARK: Coordination store: batches

    /// A batch's order, conditions and outcomes, in the shapes Weft's runtime uses (a node's
    /// record with its set additions and the next job's first read; a run's start; a run's end,
    /// alone or with its last record): part of ``coordination``. The protocol's default batch
    /// meets them.
    static let batches: [ProtocolCheck] = [
        ProtocolCheck(.coordination, "a batch applies each operation in order when its conditions hold, outcomes by label") {
            harness, failures in
            let store = try await harness.makeBackends().coordinationStore
            let run = unique("run")
            let (key, set, counter, timer) = (
                StoreKey(run: run, name: "k"), StoreKey(run: run, name: "s"), StoreKey(run: run, name: "c"), StoreKey(run: run, name: "t")
            )
            var batch = StoreBatch()
            let before = batch.read(key)
            let stored = batch.setIfAbsent(key, [1])
            let after = batch.read(key, when: [.stored(stored)])
            let size = batch.addToSet(set, member: "a", when: [.stored(stored)])
            let sizeTwo = batch.addToSet(set, member: "b", when: [.size(size, equals: 1)])
            let skipped = batch.addToSet(set, member: "c", when: [.size(sizeTwo, equals: 5)])
            let count = batch.increment(counter, by: 4)
            let swapped = batch.compareAndSet(key, expected: [1], new: [2])
            let scheduled = batch.scheduleTimer(timer, after: .seconds(10), payload: [9], when: [.swapped(swapped)])
            batch.recordProgress(run: run, quietFor: .zero)
            let results = try await store.apply(batch)
            expect(results.outcomes.count == batch.steps.count, "\(results.outcomes.count) outcomes", into: &failures)
            expect(results[before] == nil && results.attempted(before), "the read before: \(String(describing: results[before]))", into: &failures)
            expect(results[stored] == .stored, "the set-if-absent: \(String(describing: results[stored]))", into: &failures)
            expect(results[after] == [1], "the read after it: \(String(describing: results[after]))", into: &failures)
            expect(results[size] == 1 && results[sizeTwo] == 2, "the additions: \(results.outcomes)", into: &failures)
            expect(results[skipped] == nil && !results.attempted(skipped), "an addition whose condition fails was attempted", into: &failures)
            expect(results[count] == 4, "the increment: \(String(describing: results[count]))", into: &failures)
            expect(results[swapped] == .swapped && results[scheduled] == true, "the swap and timer: \(results.outcomes)", into: &failures)
            let held = Set(try await store.members(of: set))
            expect(held == ["a", "b"], "the set holds \(held)", into: &failures)
            expect(try await store.value(at: key) == [2], "the value", into: &failures)
            // Again: the set-if-absent finds the value, so nothing that depends on it happens.
            var again = StoreBatch()
            let exists = again.setIfAbsent(key, [3])
            let notAdded = again.addToSet(set, member: "z", when: [.stored(exists)])
            let mismatch = again.compareAndSet(key, expected: [1], new: [4])
            let notScheduled = again.scheduleTimer(StoreKey(run: run, name: "t2"), after: .seconds(1), payload: [], when: [.swapped(mismatch)])
            let retried = again.scheduleTimer(timer, after: .seconds(1), payload: [8])
            let second = try await store.apply(again)
            expect(second[exists] == .exists([2]), "a second set-if-absent: \(String(describing: second[exists]))", into: &failures)
            expect(!second.attempted(notAdded) && !second.attempted(notScheduled), "dependent steps ran: \(second.outcomes)", into: &failures)
            expect(second[mismatch] == .mismatch([2]), "a mismatch: \(String(describing: second[mismatch]))", into: &failures)
            expect(second[retried] == false, "a timer scheduled twice", into: &failures)
            expect(try await store.members(of: set).count == 2, "an addition of a refused write was made", into: &failures)
            expect(try await store.apply(StoreBatch()).outcomes.isEmpty, "an empty batch", into: &failures)
            expect(try await store.values(at: [key, StoreKey(run: run, name: "none"), key]) == [[2], nil, [2]], "values(at:)", into: &failures)
        },
        ProtocolCheck(.coordination, "a node's record with additions and reads: added and read only when stored, not when fenced") {
            harness, failures in
            let store = try await harness.makeBackends().coordinationStore
            let run = unique("run")
            let (done, status, next) = (StoreKey(run: run, name: "d"), StoreKey(run: run, name: "s"), StoreKey(run: run, name: "n2.0"))
            let fence = Fence(key: StoreKey(run: run, name: "n1.0"), token: 5)
            _ = try await store.setIfAbsent(next, [7])
            let first = try await record(store, StoreKey(run: run, name: "n1.0"), [1], fence: fence, adding: [(done, "1")], reading: [status, next])
            expect(first.outcome == .stored && first.sizes == [1] && first.reads == [nil, [7]], "the first record: \(first)", into: &failures)
            let second = try await record(store, StoreKey(run: run, name: "n1.0"), [2], fence: fence, adding: [(done, "2")], reading: [next])
            expect(second.outcome == .exists([1]) && second.sizes == [nil] && second.reads == [nil], "a second record: \(second)", into: &failures)
            let stale = try await record(
                store, StoreKey(run: run, name: "n3.0"), [3], fence: Fence(key: fence.key, token: 4), adding: [(done, "3")], reading: [])
            expect(stale.outcome == .fenced && stale.sizes == [nil], "a stale record: \(stale)", into: &failures)
            expect(try await store.value(at: StoreKey(run: run, name: "n3.0")) == nil, "a fenced record was stored", into: &failures)
            expect(try await store.members(of: done) == ["1"], "additions of refused records were made", into: &failures)
        },
        ProtocolCheck(.coordination, "concurrent batches of many runs, stored, existing and fenced, each get their own outcomes") {
            harness, failures in
            // Stores that group concurrent batches into one transaction must keep their outcomes apart.
            let store = try await harness.makeBackends().coordinationStore
            let runs = (0..<48).map { unique("run\($0)") }
            for run in runs.prefix(16) { _ = try await store.setIfAbsent(StoreKey(run: run, name: "n"), [9]) }
            for run in runs.suffix(16) {
                _ = try await store.setIfAbsent(StoreKey(run: run, name: "x"), [], fence: Fence(key: StoreKey(run: run, name: "f"), token: 5))
            }
            let outcomes = try await withThrowingTaskGroup(of: (Int, Recorded).self) { group in
                for (index, run) in runs.enumerated() {
                    group.addTask {
                        (index, try await record(
                            store, StoreKey(run: run, name: "n"), [UInt8(index)], fence: Fence(key: StoreKey(run: run, name: "f"), token: 4),
                            adding: [(StoreKey(run: run, name: "d"), "\(index)")], reading: [StoreKey(run: run, name: "n")]))
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            for (index, outcome) in outcomes {
                switch index {
                case 0..<16:
                    expect(outcome.outcome == .exists([9]) && outcome.sizes == [nil], "run \(index): \(outcome)", into: &failures)
                case 32..<48:
                    expect(outcome.outcome == .fenced && outcome.sizes == [nil], "run \(index): \(outcome)", into: &failures)
                default:
                    expect(outcome.outcome == .stored && outcome.sizes == [1], "run \(index): \(outcome)", into: &failures)
                    expect(outcome.reads == [[UInt8(index)]], "run \(index) read \(outcome.reads)", into: &failures)
                }
            }
        },
        ProtocolCheck(.coordination, "a run's start and end in batches: the end's records only with the status, once") { harness, failures in
            let store = try await harness.makeBackends().coordinationStore
            let run = unique("run")
            let (meta, status, marker) = (StoreKey(run: run, name: "m"), StoreKey(run: run, name: "s"), StoreKey(run: run, name: "a"))
            let (deadline, expiry) = (StoreKey(run: run, name: "deadline"), StoreKey(run: run, name: "expiry"))
            expect(try await start(store, run, meta, [1]) == .stored, "a first start", into: &failures)
            expect(try await start(store, run, meta, [2]) == .exists([1]), "a second start", into: &failures)
            // A run started with a delay may stay quiet that long before it counts as stalled.
            let delayed = unique("delayed")
            _ = try await start(store, delayed, StoreKey(run: delayed, name: "m"), [1], quietFor: .seconds(60))
            try await harness.passTime(.seconds(20))
            let stalled = try await store.runsWithoutProgress(for: .seconds(10), limit: 1000)
            expect(stalled.contains(run), "the started run is not indexed", into: &failures)
            expect(!stalled.contains(delayed), "a run started with a delay counts as stalled before it", into: &failures)
            try await store.scheduleTimer(deadline, after: .seconds(5), payload: [1])
            let first = try await end(store, run, status: status, [7], marker: marker, retiring: deadline, expiry: expiry)
            expect(first == .swapped, "the first end: \(String(describing: first))", into: &failures)
            expect(try await store.value(at: status) == [7], "the status", into: &failures)
            expect(try await store.value(at: marker) == [1], "the marker", into: &failures)
            expect(!(try await store.runsWithoutProgress(for: .zero, limit: 1000)).contains(run), "the ended run is still indexed", into: &failures)
            expect(try await store.scheduleTimer(deadline, after: .seconds(1), payload: [1]) == false, "the retired timer came back", into: &failures)
            // A second end changes nothing: not the status, no second expiry, no marker of its own.
            let otherMarker = StoreKey(run: run, name: "a2")
            let second = try await end(store, run, status: status, [8], marker: otherMarker, retiring: nil, expiry: StoreKey(run: run, name: "expiry-2"))
            expect(second == .mismatch([7]), "a second end: \(String(describing: second))", into: &failures)
            expect(try await store.value(at: status) == [7], "the status changed", into: &failures)
            expect(try await store.value(at: otherMarker) == nil, "a refused end wrote its marker", into: &failures)
            try await harness.passTime(.seconds(31))
            let due = try await store.claimDueTimers(limit: 100, claimFor: .seconds(30)).timers.filter { $0.key.run == run }
            expect(due == [DueTimer(key: expiry, payload: [2])], "due after the end: \(due)", into: &failures)
            for timer in due { try await store.retireTimer(timer.key) }
        },
        ProtocolCheck(.coordination, "a run's last record ends the run in its batch only when the sets' sizes say so") { harness, failures in
            let store = try await harness.makeBackends().coordinationStore
            let run = unique("run")
            let (status, done) = (StoreKey(run: run, name: "s"), StoreKey(run: run, name: "done"))
            _ = try await start(store, run, StoreKey(run: run, name: "m"), [1])
            let fence = Fence(key: StoreKey(run: run, name: "f"), token: 5)
            func last(_ name: String, _ value: UInt8, fence: Fence?, member: String) async throws
                -> (SetIfAbsentOutcome?, Int?, CompareAndSetOutcome?)
            {
                var batch = StoreBatch()
                let stored = batch.setIfAbsent(StoreKey(run: run, name: name), [value], fence: fence)
                let size = batch.addToSet(done, member: member, when: [.stored(stored)])
                let swapped = batch.compareAndSet(status, expected: nil, new: [7], when: [.stored(stored), .size(size, equals: 2)])
                batch.forgetProgress(run: run, when: [.swapped(swapped)])
                let results = try await store.apply(batch)
                return (results[stored], results[size], results[swapped])
            }
            let first = try await last("n1", 1, fence: fence, member: "1")
            expect(first == (.stored, 1, nil), "the first of two records: \(first)", into: &failures)
            let stale = try await last("n2", 2, fence: Fence(key: fence.key, token: 4), member: "2")
            expect(stale == (.fenced, nil, nil), "a stale record: \(stale)", into: &failures)
            expect(try await store.value(at: status) == nil, "a record that is not the last ended the run", into: &failures)
            let final = try await last("n2", 2, fence: fence, member: "2")
            expect(final == (.stored, 2, .swapped), "the last record: \(final)", into: &failures)
            expect(try await store.value(at: status) == [7], "the status", into: &failures)
            expect(!(try await store.runsWithoutProgress(for: .zero, limit: 1000)).contains(run), "the ended run is still indexed", into: &failures)
        },
    ]

    /// What a record batch did: the set-if-absent's outcome, each addition's size (`nil`: not
    /// made) and each read (`nil`: absent or not made).
    struct Recorded: Sendable, CustomStringConvertible {
        var outcome: SetIfAbsentOutcome?
        var sizes: [Int?]
        var reads: [[UInt8]?]
        var description: String { "\(String(describing: outcome)) sizes \(sizes) reads \(reads)" }
    }

    /// A node's record as the runtime writes it: the record, then, when it was stored, its set
    /// additions and reads.
    static func record(
        _ store: any CoordinationStore, _ key: StoreKey, _ value: [UInt8], fence: Fence?, adding additions: [(StoreKey, String)],
        reading reads: [StoreKey]
    ) async throws -> Recorded {
        var batch = StoreBatch()
        let stored = batch.setIfAbsent(key, value, fence: fence)
        let sizes = additions.map { batch.addToSet($0.0, member: $0.1, when: [.stored(stored)]) }
        let values = reads.map { batch.read($0, when: [.stored(stored)]) }
        let results = try await store.apply(batch)
        return Recorded(outcome: results[stored], sizes: sizes.map { results[$0] }, reads: values.map { results[$0] })
    }

    /// A run's start as the runtime writes it: its record, and its entry in the progress index.
    static func start(_ store: any CoordinationStore, _ run: String, _ key: StoreKey, _ value: [UInt8], quietFor: Duration = .zero)
        async throws -> SetIfAbsentOutcome?
    {
        var batch = StoreBatch()
        let stored = batch.setIfAbsent(key, value)
        batch.recordProgress(run: run, quietFor: quietFor)
        return try await store.apply(batch)[stored]
    }

    /// A run's end as the runtime writes it: the status from absent, then, when it was set, the
    /// marker, the deadline timer retired, the run out of the progress index and its expiry
    /// timer (due in 30 s, payload `[2]`).
    static func end(
        _ store: any CoordinationStore, _ run: String, status: StoreKey, _ terminal: [UInt8], marker: StoreKey?, retiring: StoreKey?,
        expiry: StoreKey?
    ) async throws -> CompareAndSetOutcome? {
        var batch = StoreBatch()
        let swapped = batch.compareAndSet(status, expected: nil, new: terminal)
        if let marker { batch.setIfAbsent(marker, [1], when: [.swapped(swapped)]) }
        if let retiring { batch.retireTimer(retiring, when: [.swapped(swapped)]) }
        batch.forgetProgress(run: run, when: [.swapped(swapped)])
        if let expiry { batch.scheduleTimer(expiry, after: .seconds(30), payload: [2], when: [.swapped(swapped)]) }
        return try await store.apply(batch)[swapped]
    }
}
