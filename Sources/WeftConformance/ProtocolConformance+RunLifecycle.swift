import Weft

extension ProtocolConformance {
    // MARK: Coordination store: a run's start and end

    /// The coordination store's calls that record a run's start and end together: part of
    /// ``coordination``.
    static let runLifecycle: [ProtocolCheck] = [
        ProtocolCheck(.coordination, "a run's start and end records are written together") { harness, failures in
            let store = try await harness.makeBackends().coordinationStore
            let run = unique("run")
            let meta = StoreKey(run: run, name: "m")
            expect(try await store.recordStart(run: run, meta, [1], quietFor: .zero) == .stored, "a first start", into: &failures)
            expect(try await store.recordStart(run: run, meta, [2], quietFor: .zero) == .exists([1]), "a second start", into: &failures)
            // A run started with a delay may stay quiet that long before it counts as stalled.
            let delayed = unique("delayed")
            _ = try await store.recordStart(run: delayed, StoreKey(run: delayed, name: "m"), [1], quietFor: .seconds(60))
            try await harness.passTime(.seconds(20))
            let stalled = try await store.runsWithoutProgress(for: .seconds(10), limit: 1000)
            expect(stalled.contains(run), "the started run is not indexed", into: &failures)
            expect(!stalled.contains(delayed), "a run started with a delay counts as stalled before it", into: &failures)
            let deadline = StoreKey(run: run, name: "deadline")
            let expiry = StoreKey(run: run, name: "expiry")
            try await store.scheduleTimer(deadline, after: .seconds(5), payload: [1])
            try await store.recordEnd(
                run: run, marker: StoreKey(run: run, name: "a"), cancelling: deadline,
                expiry: RunExpiry(key: expiry, after: .seconds(30), payload: [2]))
            try await store.recordEnd(run: run, marker: StoreKey(run: run, name: "a"), cancelling: deadline, expiry: nil)
            expect(try await store.value(at: StoreKey(run: run, name: "a")) == [1], "the marker", into: &failures)
            expect(!(try await store.runsWithoutProgress(for: .seconds(0), limit: 1000)).contains(run), "the ended run is still indexed", into: &failures)
            expect(try await store.scheduleTimer(deadline, after: .seconds(1), payload: [1]) == false, "the cancelled timer came back", into: &failures)
            try await harness.passTime(.seconds(31))
            let due = try await store.claimDueTimers(limit: 100, claimFor: .seconds(30)).filter { $0.key.run == run }
            expect(due == [DueTimer(key: expiry, payload: [2])], "due after the end: \(due)", into: &failures)
            try await store.completeTimer(expiry)
            try await store.recordEnd(run: unique("never-started"), marker: nil, cancelling: nil, expiry: nil)
        },
        ProtocolCheck(.coordination, "a run's status and its end records are written together, once") { harness, failures in
            let (store, run, status, marker) = try await startedRun(harness, &failures)
            let deadline = StoreKey(run: run, name: "deadline")
            let expiry = StoreKey(run: run, name: "expiry")
            try await store.scheduleTimer(deadline, after: .seconds(5), payload: [1])
            let first = try await store.finishRun(
                run, status: status, terminal: [7], marker: marker, cancelling: deadline,
                expiry: RunExpiry(key: expiry, after: .seconds(30), payload: [2]))
            expect(first == .swapped, "the first end: \(first)", into: &failures)
            expect(try await store.value(at: status) == [7], "the status", into: &failures)
            expect(try await store.value(at: marker) == [1], "the marker", into: &failures)
            expect(!(try await store.runsWithoutProgress(for: .seconds(0), limit: 1000)).contains(run), "the ended run is still indexed", into: &failures)
            expect(try await store.scheduleTimer(deadline, after: .seconds(1), payload: [1]) == false, "the cancelled timer came back", into: &failures)
            // A second end changes nothing: not the status, not the marker, no second expiry.
            try await store.removeValue(at: marker)
            let second = try await store.finishRun(
                run, status: status, terminal: [8], marker: marker, cancelling: nil,
                expiry: RunExpiry(key: StoreKey(run: run, name: "expiry-2"), after: .seconds(1), payload: [3]))
            expect(second == .mismatch([7]), "a second end: \(second)", into: &failures)
            expect(try await store.value(at: status) == [7], "the status changed", into: &failures)
            expect(try await store.value(at: marker) == nil, "a refused end wrote its marker", into: &failures)
            try await harness.passTime(.seconds(31))
            let due = try await store.claimDueTimers(limit: 100, claimFor: .seconds(30)).filter { $0.key.run == run }
            expect(due == [DueTimer(key: expiry, payload: [2])], "due after the end: \(due)", into: &failures)
            try await store.completeTimer(expiry)
            // Without a marker or timers.
            let bare = unique("bare")
            let ended = try await store.finishRun(
                bare, status: StoreKey(run: bare, name: "s"), terminal: [1], marker: nil, cancelling: nil, expiry: nil)
            expect(ended == .swapped, "a bare end: \(ended)", into: &failures)
        },
        ProtocolCheck(.coordination, "a run's last record ends the run only when the sets' sizes say so") { harness, failures in
            let (store, run, status, marker) = try await startedRun(harness, &failures)
            let done = StoreKey(run: run, name: "done")
            let fence = Fence(key: StoreKey(run: run, name: "f"), token: 5)
            let end = RunEnd(
                run: run, requiredSizes: [0: 2], status: status, terminal: [7], marker: marker, cancelling: nil,
                expiry: RunExpiry(key: StoreKey(run: run, name: "expiry"), after: .seconds(30), payload: [2]))
            // The first of two: stored, added, not the end.
            let first = try await store.setIfAbsent(
                StoreKey(run: run, name: "n1"), [1], fence: fence, thenAddToSets: [SetAddition(key: done, member: "1")], thenFinish: end)
            expect(first.0 == .stored && first.1 == [1] && first.2 == nil, "the first record: \(first)", into: &failures)
            expect(try await store.value(at: status) == nil, "a record that is not the last ended the run", into: &failures)
            // A stale token and an existing record: nothing written, no end.
            let stale = try await store.setIfAbsent(
                StoreKey(run: run, name: "n2"), [2], fence: Fence(key: fence.key, token: 4),
                thenAddToSets: [SetAddition(key: done, member: "2")], thenFinish: end)
            expect(stale.0 == .fenced && stale.1.isEmpty && stale.2 == nil, "a stale record: \(stale)", into: &failures)
            let again = try await store.setIfAbsent(
                StoreKey(run: run, name: "n1"), [9], fence: fence, thenAddToSets: [SetAddition(key: done, member: "2")], thenFinish: end)
            expect(again.0 == .exists([1]) && again.2 == nil, "an existing record: \(again)", into: &failures)
            expect(try await store.members(of: done).sorted() == ["1"], "a refused record added to its sets", into: &failures)
            // The last: stored, added, and the end with its records.
            let last = try await store.setIfAbsent(
                StoreKey(run: run, name: "n2"), [2], fence: fence, thenAddToSets: [SetAddition(key: done, member: "2")], thenFinish: end)
            expect(last.0 == .stored && last.1 == [2] && last.2 == .swapped, "the last record: \(last)", into: &failures)
            expect(try await store.value(at: status) == [7], "the status", into: &failures)
            expect(try await store.value(at: marker) == [1], "the marker", into: &failures)
            expect(!(try await store.runsWithoutProgress(for: .seconds(0), limit: 1000)).contains(run), "the ended run is still indexed", into: &failures)
            // A run already ended: the record is stored, the status stays.
            let late = try await store.setIfAbsent(
                StoreKey(run: run, name: "n3"), [3], fence: nil, thenAddToSets: [SetAddition(key: StoreKey(run: run, name: "other"), member: "3")],
                thenFinish: RunEnd(run: run, requiredSizes: [0: 1], status: status, terminal: [8], marker: nil, cancelling: nil, expiry: nil))
            expect(late.0 == .stored && late.2 == .mismatch([7]), "a record after the end: \(late)", into: &failures)
            expect(try await store.value(at: status) == [7], "the status changed", into: &failures)
            try await harness.passTime(.seconds(31))
            let due = try await store.claimDueTimers(limit: 100, claimFor: .seconds(30)).filter { $0.key.run == run }
            expect(due.map(\.key.name) == ["expiry"], "due after the end: \(due)", into: &failures)
            for timer in due { try await store.completeTimer(timer.key) }
        },
    ]

    /// A fresh store with a run started in it (its meta at `m`), and the keys of the run's
    /// status (`s`) and announcement marker (`a`).
    private static func startedRun(_ harness: BackendHarness, _ failures: inout [String]) async throws
        -> (store: any CoordinationStore, run: String, status: StoreKey, marker: StoreKey)
    {
        let store = try await harness.makeBackends().coordinationStore
        let run = unique("run")
        let started = try await store.recordStart(run: run, StoreKey(run: run, name: "m"), [1], quietFor: .zero)
        expect(started == .stored, "a start: \(started)", into: &failures)
        return (store, run, StoreKey(run: run, name: "s"), StoreKey(run: run, name: "a"))
    }
}
