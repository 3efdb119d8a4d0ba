import Synchronization
import Weft

extension ProtocolConformance {
    // MARK: Coordination store

    /// The coordination store's contract: its primitives, and the calls that record a run's
    /// start and end (``runLifecycle``).
    public static let coordination: [ProtocolCheck] = primitives + runLifecycle

    /// Values, sets, counters, fences, leases, timers, progress and deletion.
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
            try await store.removeValue(at: key)
            expect(try await store.value(at: key) == nil, "removeValue left the value", into: &failures)
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
        ProtocolCheck(.coordination, "a set-if-absent with additions adds them only when it stores") { harness, failures in
            let store = try await harness.makeBackends().coordinationStore
            let run = unique("run")
            let key = StoreKey(run: run, name: "n1.0")
            let done = StoreKey(run: run, name: "d")
            let fence = Fence(key: key, token: 5)
            let first = try await store.setIfAbsent(key, [1], fence: fence, thenAddToSets: [SetAddition(key: done, member: "1")])
            expect(first.0 == .stored && first.1 == [1], "first write gave \(first)", into: &failures)
            let second = try await store.setIfAbsent(key, [2], fence: fence, thenAddToSets: [SetAddition(key: done, member: "2")])
            expect(second.0 == .exists([1]) && second.1.isEmpty, "second write gave \(second)", into: &failures)
            let stale = try await store.setIfAbsent(
                StoreKey(run: run, name: "n2.0"), [3], fence: Fence(key: key, token: 4),
                thenAddToSets: [SetAddition(key: done, member: "3")])
            expect(stale.0 == .fenced && stale.1.isEmpty, "a stale write gave \(stale)", into: &failures)
            expect(try await store.members(of: done) == ["1"], "additions of refused writes were made", into: &failures)
        },
        ProtocolCheck(.coordination, "a set-if-absent with reads returns them only when it stores") { harness, failures in
            let store = try await harness.makeBackends().coordinationStore
            let run = unique("run")
            let status = StoreKey(run: run, name: "s")
            let next = StoreKey(run: run, name: "n2.0")
            _ = try await store.setIfAbsent(next, [7], fence: nil)
            let first = try await store.setIfAbsent(
                StoreKey(run: run, name: "n1.0"), [1], fence: Fence(key: StoreKey(run: run, name: "f1.0"), token: 1),
                thenAddToSets: [SetAddition(key: StoreKey(run: run, name: "d"), member: "1")], thenRead: [status, next])
            expect(first.0 == .stored && first.1 == [1], "the write gave \(first.0), sizes \(first.1)", into: &failures)
            expect(first.2 == [nil, [7]], "the reads gave \(first.2)", into: &failures)
            let again = try await store.setIfAbsent(StoreKey(run: run, name: "n1.0"), [2], fence: nil, thenAddToSets: [], thenRead: [next])
            expect(again.0 == .exists([1]) && again.2.isEmpty, "a second write gave \(again)", into: &failures)
        },
        ProtocolCheck(.coordination, "concurrent writes of many runs, stored, existing and fenced, each get their own outcome") {
            harness, failures in
            // Stores that group concurrent calls into one transaction must keep their outcomes apart.
            let store = try await harness.makeBackends().coordinationStore
            let runs = (0..<48).map { unique("run\($0)") }
            for run in runs.prefix(16) { _ = try await store.setIfAbsent(StoreKey(run: run, name: "n"), [9], fence: nil) }
            for run in runs.suffix(16) {
                _ = try await store.setIfAbsent(StoreKey(run: run, name: "x"), [], fence: Fence(key: StoreKey(run: run, name: "f"), token: 5))
            }
            let outcomes = try await withThrowingTaskGroup(of: (Int, SetIfAbsentOutcome, [Int], [[UInt8]?]).self) { group in
                for (index, run) in runs.enumerated() {
                    group.addTask {
                        let (outcome, sizes, reads) = try await store.setIfAbsent(
                            StoreKey(run: run, name: "n"), [UInt8(index)], fence: Fence(key: StoreKey(run: run, name: "f"), token: 4),
                            thenAddToSets: [SetAddition(key: StoreKey(run: run, name: "d"), member: "\(index)")],
                            thenRead: [StoreKey(run: run, name: "n")])
                        return (index, outcome, sizes, reads)
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            for (index, outcome, sizes, reads) in outcomes {
                switch index {
                case 0..<16:
                    expect(outcome == .exists([9]) && sizes.isEmpty, "run \(index): \(outcome) \(sizes)", into: &failures)
                case 32..<48:
                    expect(outcome == .fenced && sizes.isEmpty, "run \(index): \(outcome) \(sizes)", into: &failures)
                default:
                    expect(outcome == .stored && sizes == [1], "run \(index): \(outcome) \(sizes)", into: &failures)
                    expect(reads.count == 1, "run \(index) read \(reads)", into: &failures)
                }
            }
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
        ProtocolCheck(.coordination, "leases exclude other owners until they expire, with growing tokens") { harness, failures in
            let store = try await harness.makeBackends().coordinationStore
            let key = StoreKey(run: unique("run"), name: "lease")
            guard let first = try await store.acquireLease(key, owner: "one", ttl: .seconds(10)) else {
                return failures.append("a free lease was refused")
            }
            expect(try await store.acquireLease(key, owner: "two", ttl: .seconds(10)) == nil, "a held lease was granted", into: &failures)
            expect(try await store.renewLease(first, ttl: .seconds(10)), "the holder could not renew", into: &failures)
            try await harness.passTime(.seconds(11))
            guard let second = try await store.acquireLease(key, owner: "two", ttl: .seconds(10)) else {
                return failures.append("an expired lease was refused")
            }
            expect(second.token > first.token, "tokens \(first.token) then \(second.token)", into: &failures)
            expect(try await store.renewLease(first, ttl: .seconds(10)) == false, "a lost lease was renewed", into: &failures)
            try await store.releaseLease(second)
            let third = try await store.acquireLease(key, owner: "one", ttl: .seconds(10))
            expect(third != nil && third!.token > second.token, "after release: \(String(describing: third))", into: &failures)
        },
        ProtocolCheck(.coordination, "durable timers fire once when due, and again only if not completed") { harness, failures in
            let store = try await harness.makeBackends().coordinationStore
            let run = unique("run")
            let late = StoreKey(run: run, name: "late")
            let early = StoreKey(run: run, name: "early")
            let cancelled = StoreKey(run: run, name: "cancelled")
            expect(try await store.scheduleTimer(late, after: .seconds(100), payload: [1]), "schedule late", into: &failures)
            expect(try await store.scheduleTimer(early, after: .seconds(10), payload: [2]), "schedule early", into: &failures)
            try await store.scheduleTimer(cancelled, after: .seconds(5), payload: [3])
            try await store.cancelTimer(cancelled)
            expect(try await store.scheduleTimer(early, after: .seconds(1), payload: [9]) == false, "a timer was scheduled twice", into: &failures)
            expect(try await store.claimDueTimers(limit: 10, claimFor: .seconds(30)).filter { $0.key.run == run }.isEmpty, "a timer fired early", into: &failures)
            try await harness.passTime(.seconds(11))
            let due = try await store.claimDueTimers(limit: 10, claimFor: .seconds(30)).filter { $0.key.run == run }
            expect(due == [DueTimer(key: early, payload: [2])], "due after 11 s: \(due)", into: &failures)
            try await store.completeTimer(early)
            expect(try await store.scheduleTimer(early, after: .seconds(1), payload: [2]) == false, "a fired timer was scheduled again", into: &failures)
            try await harness.passTime(.seconds(90))
            let claimed = try await store.claimDueTimers(limit: 10, claimFor: .seconds(30)).filter { $0.key.run == run }
            expect(claimed.map(\.key) == [late], "due after 101 s: \(claimed.map(\.key))", into: &failures)
            // Not completed: it comes back when the claim lapses.
            expect(try await store.claimDueTimers(limit: 10, claimFor: .seconds(30)).filter { $0.key.run == run }.isEmpty, "a claimed timer was claimed twice", into: &failures)
            try await harness.passTime(.seconds(31))
            let again = try await store.claimDueTimers(limit: 10, claimFor: .seconds(30)).filter { $0.key.run == run }
            expect(again.map(\.key) == [late], "an uncompleted timer did not come back: \(again.map(\.key))", into: &failures)
            try await store.completeTimer(late)
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
            let timers = try await store.claimDueTimers(limit: 100, claimFor: .seconds(30)).filter { $0.key.run == run }
            expect(timers.isEmpty, "a timer survived", into: &failures)
            expect(try await store.value(at: StoreKey(run: other, name: "m")) == [2], "another run was touched", into: &failures)
        },
    ]
}
