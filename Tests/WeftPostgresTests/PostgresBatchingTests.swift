import Foundation
import Testing
import Weft
import WeftPostgres

extension PostgresTests {
    @Suite("Group commit of batches")
    struct Batching {
        @Test("Concurrent batches of many runs share transactions, and each keeps its own outcomes")
        func concurrentRecordsShareTransactions() async throws {
            let stores = StoreList()
            defer { Task { await stores.closeAll() } }
            let store = try await Database.scratchStore(in: stores)
            let coordination = store.coordinationStore
            let runs = (0..<256).map { "run-\($0)" }
            // Half the runs have a record already: their calls must see it, not another call's.
            for run in runs where run.hasSuffix("0") || run.hasSuffix("5") {
                _ = try await coordination.setIfAbsent(StoreKey(run: run, name: "n0.0"), Array(run.utf8), fence: nil)
            }
            _ = try await coordination.setIfAbsent(StoreKey(run: "other", name: "s"), [42], fence: nil)
            let before = store.statementCount
            let outcomes = try await withThrowingTaskGroup(of: (String, SetIfAbsentOutcome, [Int], [[UInt8]?]).self) { group in
                for run in runs {
                    group.addTask {
                        var batch = StoreBatch()
                        let stored = batch.setIfAbsent(
                            StoreKey(run: run, name: "n0.0"), [1], fence: Fence(key: StoreKey(run: run, name: "f0.0"), token: 1))
                        let size = batch.addToSet(StoreKey(run: run, name: "d"), member: "0", when: [.stored(stored)])
                        let reads = [StoreKey(run: "other", name: "s"), StoreKey(run: run, name: "n1.0")].map {
                            batch.read($0, when: [.stored(stored)])
                        }
                        let results = try await coordination.apply(batch)
                        let outcome = results[stored] ?? .fenced
                        return (run, outcome, results[size].map { [$0] } ?? [], outcome == .stored ? reads.map { results[$0] } : [])
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let statements = store.statementCount - before
            #expect(statements < runs.count / 2, "\(statements) statements for \(runs.count) concurrent calls")
            for (run, outcome, sizes, reads) in outcomes {
                if run.hasSuffix("0") || run.hasSuffix("5") {
                    #expect(outcome == .exists(Array(run.utf8)) && sizes.isEmpty && reads.isEmpty, "\(run): \(outcome)")
                } else {
                    #expect(outcome == .stored && sizes == [1] && reads == [[42], nil], "\(run): \(outcome) \(sizes) \(reads)")
                }
            }
            // Reads of several values are grouped the same way.
            let reads = try await withThrowingTaskGroup(of: (String, [[UInt8]?]).self) { group in
                for run in runs {
                    group.addTask {
                        (run, try await coordination.values(at: [StoreKey(run: run, name: "n0.0"), StoreKey(run: run, name: "none")]))
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            for (run, values) in reads {
                let expected: [UInt8] = run.hasSuffix("0") || run.hasSuffix("5") ? Array(run.utf8) : [1]
                #expect(values == [expected, nil], "\(run): \(values)")
            }
        }
    }
}
