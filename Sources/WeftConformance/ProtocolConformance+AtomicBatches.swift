import Synchronization
import Weft

extension ProtocolConformance {
    // MARK: Coordination store: atomic batches

    /// For a store that applies a batch atomically (its own ``CoordinationStore/apply(_:)``):
    /// no other caller sees part of a batch, and a batch that fails or whose caller goes away
    /// mid-call leaves all of it or nothing, across runs too. The protocol's default batch,
    /// applied one operation at a time, does not meet these.
    public static let atomicBatches: [ProtocolCheck] = [
        ProtocolCheck(.coordination, "atomic batches: concurrent callers never see part of a batch, across runs") { harness, failures in
            let store = try await harness.makeBackends().coordinationStore
            // Two counters in two runs and a set, moved together by each writer's batch; readers
            // read both counters in one batch and must always find them equal.
            let (first, second) = (unique("atomic-a"), unique("atomic-b"))
            let a = StoreKey(run: first, name: "a")
            let b = StoreKey(run: second, name: "b")
            let moved = StoreKey(run: second, name: "moved")
            _ = try await store.setIfAbsent(a, encode(0))
            _ = try await store.setIfAbsent(b, encode(0))
            let torn = LockedArray<String>()
            let writes = LockedArray<Int>()
            let stop = LockedArray<Bool>()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<4 {
                    group.addTask {
                        for _ in 0..<40 {
                            guard let current = try await store.value(at: a) else { return }
                            let next = decode(current) + 1
                            var batch = StoreBatch()
                            let swapped = batch.compareAndSet(a, expected: current, new: encode(next))
                            batch.compareAndSet(b, expected: current, new: encode(next), when: [.swapped(swapped)])
                            batch.addToSet(moved, member: "\(next)", when: [.swapped(swapped)])
                            if try await store.apply(batch)[swapped] == .swapped { writes.append(next) }
                            _ = writer
                        }
                    }
                }
                group.addTask {
                    while stop.all.isEmpty {
                        var batch = StoreBatch()
                        let (readA, readB) = (batch.read(a), batch.read(b))
                        let results = try await store.apply(batch)
                        if results[readA] != results[readB] {
                            torn.append("read a=\(decode(results[readA] ?? [])) b=\(decode(results[readB] ?? []))")
                        }
                        await Task.yield()
                    }
                }
                for _ in 0..<4 { try await group.next() }
                stop.append(true)
                try await group.waitForAll()
            }
            expect(torn.all.isEmpty, "a reader saw part of a batch: \(torn.all.prefix(3))", into: &failures)
            let total = writes.all.count
            let (finalA, finalB) = (decode(try await store.value(at: a) ?? []), decode(try await store.value(at: b) ?? []))
            let members = try await store.members(of: moved).count
            expect(finalA == total && finalB == total && members == total, "\(total) swaps but a=\(finalA) b=\(finalB) set=\(members)", into: &failures)
        },
        ProtocolCheck(.coordination, "atomic batches: a batch that fails leaves nothing") { harness, failures in
            let store = try await harness.makeBackends().coordinationStore
            let run = unique("run")
            var batch = StoreBatch()
            batch.setIfAbsent(StoreKey(run: run, name: "k"), [1])
            batch.addToSet(StoreKey(run: run, name: "s"), member: "1")
            batch.recordProgress(run: run, quietFor: .zero)
            // A fence of another run cannot guard a key: the batch fails, as a whole.
            batch.setIfAbsent(StoreKey(run: run, name: "k2"), [2], fence: Fence(key: StoreKey(run: unique("other"), name: "f"), token: 1))
            do {
                _ = try await store.apply(batch)
                failures.append("a batch with a fence of another run was applied")
            } catch {
                expect(try await store.value(at: StoreKey(run: run, name: "k")) == nil, "a failed batch left its first write", into: &failures)
                expect(try await store.members(of: StoreKey(run: run, name: "s")).isEmpty, "a failed batch left its addition", into: &failures)
                expect(!(try await store.runsWithoutProgress(for: .zero, limit: 10_000)).contains(run), "a failed batch left its progress", into: &failures)
            }
        },
        ProtocolCheck(.coordination, "atomic batches: a batch whose caller goes away mid-call is applied whole or not at all") {
            harness, failures in
            let store = try await harness.makeBackends().coordinationStore
            let run = unique("run")
            let members = StoreKey(run: run, name: "s")
            // Many batches in flight, their callers cancelled at once: each batch's three writes
            // are all there or none is.
            let tasks = (0..<64).map { index in
                Task {
                    var batch = StoreBatch()
                    let stored = batch.setIfAbsent(StoreKey(run: run, name: "k\(index)"), [1])
                    batch.addToSet(members, member: "\(index)", when: [.stored(stored)])
                    batch.increment(StoreKey(run: run, name: "c\(index)"), by: 1)
                    _ = try await store.apply(batch)
                }
            }
            await Task.yield()
            for task in tasks { task.cancel() }
            for task in tasks { _ = await task.result }
            let added = Set(try await store.members(of: members))
            for index in 0..<64 {
                let value = try await store.value(at: StoreKey(run: run, name: "k\(index)"))
                let counted = try await store.increment(StoreKey(run: run, name: "c\(index)"), by: 0)
                let parts = [value != nil, added.contains("\(index)"), counted == 1]
                expect(parts.allSatisfy { $0 } || parts.allSatisfy { !$0 }, "batch \(index) left part of itself: \(parts)", into: &failures)
            }
        },
    ]

    private static func encode(_ value: Int) -> [UInt8] { Array(String(value).utf8) }
    private static func decode(_ bytes: [UInt8]) -> Int { Int(String(decoding: bytes, as: UTF8.self)) ?? -1 }
}
