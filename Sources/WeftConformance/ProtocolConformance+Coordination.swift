import Synchronization
import Weft

extension ProtocolConformance {
    // MARK: Coordination store

    /// The coordination store's contract: its primitives, and its batches' order, conditions and
    /// outcomes (``batches``), which the protocol's default batch meets. A store that applies
    /// batches atomically also runs ``atomicBatches``.
    public static let coordination: [ProtocolCheck] = primitives + batches

    /// Values, sets, counters, fences, timers, progress and deletion.
    static let primitives: [ProtocolCheck] = [
        ProtocolCheck(.coordination, "set-if-absent has exactly one winner among concurrent callers") { harness, failures in
            let store = try await harness.makeBackends().coordinationStore
            let key = StoreKey(run: unique("run"), name: "n1.0")
            let outcomes = try await withThrowingTaskGroup(of: (Int, SetIfAbsentOutcome).self) { group in
                for index in 0..<64 { group.addTask { (index, try await store.setIfAbsent(key, [UInt8(index)], fence: nil)) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let winners = outcomes.filter { $0.1 == .stored }
            expect(winners.count == 1, "\(winners.count) winners", into: &failures)
            if let winner = winners.first {
                let stored = try await store.value(at: key)
                expect(stored == [UInt8(winner.0)], "stored \(stored ?? []) but \(winner.0) won", into: &failures)
                let losersSawWinner = outcomes.allSatisfy { $0.1 == .stored || $0.1 == .exists([UInt8(winner.0)]) }
                expect(losersSawWinner, "a loser did not see the winner's value", into: &failures)
            }
        },
        ProtocolCheck(.coordination, "compare-and-set swaps once among concurrent callers") { harness, failures in
            let store = try await harness.makeBackends().coordinationStore
            let key = StoreKey(run: unique("run"), name: "s")
            let outcomes = try await withThrowingTaskGroup(of: CompareAndSetOutcome.self) { group in
                for index in 0..<64 {
                    group.addTask { try await store.compareAndSet(key, expected: nil, new: [UInt8(index)], fence: nil) }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            expect(outcomes.filter { $0 == .swapped }.count == 1, "\(outcomes.filter { $0 == .swapped }.count) swaps", into: &failures)
            let current = try await store.value(at: key)
            let mismatch = try await store.compareAndSet(key, expected: [255, 255], new: [1], fence: nil)
            expect(mismatch == .mismatch(current), "a wrong expectation gave \(mismatch)", into: &failures)
            let swap = try await store.compareAndSet(key, expected: current, new: [200], fence: nil)
            expect(swap == .swapped, "a right expectation gave \(swap)", into: &failures)
            expect(try await store.value(at: key) == [200], "the swapped value", into: &failures)
        },
        ProtocolCheck(.coordination, "sets count distinct members and counters add up under concurrency") { harness, failures in
            let store = try await harness.makeBackends().coordinationStore
            let run = unique("run")
            let set = StoreKey(run: run, name: "j1.0")
            let counter = StoreKey(run: run, name: "c")
            try await withThrowingTaskGroup(of: Void.self) { group in
                for task in 0..<8 {
                    group.addTask {
                        for member in 0..<25 {
                            _ = try await store.addToSet(set, member: "m\(member)")  // every task adds the same members
                            _ = try await store.increment(counter, by: 1)
                        }
                        _ = task
                    }
                }
                try await group.waitForAll()
            }
            let size = try await store.addToSet(set, member: "m0")
            expect(size == 25, "a duplicate member changed the size to \(size)", into: &failures)
            expect(Set(try await store.members(of: set)).count == 25, "members", into: &failures)
            let total = try await store.increment(counter, by: 0)
            expect(total == 200, "counter \(total) after 200 increments", into: &failures)
        },
        ProtocolCheck(.coordination, "batched set additions report each set's size after its addition") { harness, failures in
            let store = try await harness.makeBackends().coordinationStore
            let run = unique("run")
            let a = StoreKey(run: run, name: "a")
            let b = StoreKey(run: run, name: "b")
            let sizes = try await store.addToSets([
                SetAddition(key: a, member: "1"), SetAddition(key: b, member: "1"), SetAddition(key: a, member: "2"),
                SetAddition(key: a, member: "1"),
            ])
            expect(sizes == [1, 1, 2, 2], "sizes \(sizes)", into: &failures)
            expect(Set(try await store.members(of: a)) == ["1", "2"], "members of a", into: &failures)
        },
        ProtocolCheck(.coordination, "a write with a stale fencing token is refused") { harness, failures in
            let store = try await harness.makeBackends().coordinationStore
            let run = unique("run")
            let fenceKey = StoreKey(run: run, name: "n1.0")
            let newer = try await store.setIfAbsent(
                StoreKey(run: run, name: "a"), [1], fence: Fence(key: fenceKey, token: 10))
            expect(newer == .stored, "first fenced write gave \(newer)", into: &failures)
            let stale = try await store.setIfAbsent(StoreKey(run: run, name: "b"), [2], fence: Fence(key: fenceKey, token: 9))
            expect(stale == .fenced, "a stale token gave \(stale)", into: &failures)
            expect(try await store.value(at: StoreKey(run: run, name: "b")) == nil, "a fenced write was stored", into: &failures)
            let staleSwap = try await store.compareAndSet(
                StoreKey(run: run, name: "c"), expected: nil, new: [3], fence: Fence(key: fenceKey, token: 3))
            expect(staleSwap == .fenced, "a stale compare-and-set gave \(staleSwap)", into: &failures)
            let equal = try await store.setIfAbsent(StoreKey(run: run, name: "d"), [4], fence: Fence(key: fenceKey, token: 10))
            expect(equal == .stored, "an equal token gave \(equal)", into: &failures)
        },
        ProtocolCheck(.coordination, "durable timers fire once when due, and again only if not retired") { harness, failures in
            let store = try await harness.makeBackends().coordinationStore
            let run = unique("run")
            let late = StoreKey(run: run, name: "late")
            let early = StoreKey(run: run, name: "early")
            let cancelled = StoreKey(run: run, name: "cancelled")
            expect(try await store.scheduleTimer(late, after: .seconds(100), payload: [1]), "schedule late", into: &failures)
            expect(try await store.scheduleTimer(early, after: .seconds(10), payload: [2]), "schedule early", into: &failures)
            try await store.scheduleTimer(cancelled, after: .seconds(5), payload: [3])
            try await store.retireTimer(cancelled)
            expect(try await store.scheduleTimer(early, after: .seconds(1), payload: [9]) == false, "a timer was scheduled twice", into: &failures)
            let peek = try await store.claimDueTimers(limit: 0, claimFor: .seconds(30))
            expect(peek.timers.isEmpty, "a claim of none claimed \(peek.timers)", into: &failures)
            expect(peek.nextDue.map { $0 > .zero && $0 <= .seconds(10) } ?? false, "the next timer is due in \(String(describing: peek.nextDue))", into: &failures)
            expect(try await store.claimDueTimers(limit: 10, claimFor: .seconds(30)).timers.filter { $0.key.run == run }.isEmpty, "a timer fired early", into: &failures)
            try await harness.passTime(.seconds(11))
            let due = try await store.claimDueTimers(limit: 10, claimFor: .seconds(30)).timers.filter { $0.key.run == run }
            expect(due == [DueTimer(key: early, payload: [2])], "due after 11 s: \(due)", into: &failures)
            try await store.retireTimer(early)
            expect(try await store.scheduleTimer(early, after: .seconds(1), payload: [2]) == false, "a fired timer was scheduled again", into: &failures)
            try await harness.passTime(.seconds(90))
            let claimed = try await store.claimDueTimers(limit: 10, claimFor: .seconds(30)).timers.filter { $0.key.run == run }
            expect(claimed.map(\.key) == [late], "due after 101 s: \(claimed.map(\.key))", into: &failures)
            // Not retired: it comes back when the claim lapses.
            expect(try await store.claimDueTimers(limit: 10, claimFor: .seconds(30)).timers.filter { $0.key.run == run }.isEmpty, "a claimed timer was claimed twice", into: &failures)
            try await harness.passTime(.seconds(31))
            let again = try await store.claimDueTimers(limit: 10, claimFor: .seconds(30)).timers.filter { $0.key.run == run }
            expect(again.map(\.key) == [late], "a timer not retired did not come back: \(again.map(\.key))", into: &failures)
            try await store.retireTimer(late)
        },
        ProtocolCheck(.coordination, "the progress index finds runs without progress") { harness, failures in
            let store = try await harness.makeBackends().coordinationStore
            let stalled = unique("stalled")
            let fresh = unique("fresh")
            let waiting = unique("waiting")
            try await store.recordProgress(run: stalled, quietFor: .zero)
            try await store.recordProgress(run: waiting, quietFor: .seconds(100))
            try await harness.passTime(.seconds(20))
            try await store.recordProgress(run: fresh, quietFor: .zero)
            let found = try await store.runsWithoutProgress(for: .seconds(10), limit: 1000)
            expect(found.contains(stalled), "a stalled run was not found", into: &failures)
            expect(!found.contains(fresh), "a fresh run was found", into: &failures)
            expect(!found.contains(waiting), "a run allowed to be quiet was found", into: &failures)
            try await store.forgetProgress(run: stalled)
            expect(!(try await store.runsWithoutProgress(for: .seconds(10), limit: 1000)).contains(stalled), "a forgotten run was found", into: &failures)
        },
        ProtocolCheck(.coordination, "deleting a run removes its records and only its") { harness, failures in
            let store = try await harness.makeBackends().coordinationStore
            let run = unique("run")
            let other = unique("other")
            _ = try await store.setIfAbsent(StoreKey(run: run, name: "m"), [1], fence: nil)
            _ = try await store.addToSet(StoreKey(run: run, name: "d"), member: "1")
            _ = try await store.increment(StoreKey(run: run, name: "c"), by: 3)
            try await store.scheduleTimer(StoreKey(run: run, name: "t"), after: .seconds(1), payload: [1])
            _ = try await store.setIfAbsent(StoreKey(run: other, name: "m"), [2], fence: nil)
            try await store.deleteRun(run)
            expect(try await store.value(at: StoreKey(run: run, name: "m")) == nil, "a value survived", into: &failures)
            expect(try await store.members(of: StoreKey(run: run, name: "d")).isEmpty, "a set survived", into: &failures)
            expect(try await store.increment(StoreKey(run: run, name: "c"), by: 0) == 0, "a counter survived", into: &failures)
            try await harness.passTime(.seconds(2))
            let timers = try await store.claimDueTimers(limit: 100, claimFor: .seconds(30)).timers.filter { $0.key.run == run }
            expect(timers.isEmpty, "a timer survived", into: &failures)
            expect(try await store.value(at: StoreKey(run: other, name: "m")) == [2], "another run was touched", into: &failures)
        },
    ]
}
