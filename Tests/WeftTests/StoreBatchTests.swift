import Testing

@testable import Weft

/// The batch type alone: what it notes as operations are added (the run they share, whether
/// they write or need the store's time, a fence guarding another run's key) and its conditions.
@Suite("Store batches")
struct StoreBatchTests {
    private let key = StoreKey(run: "a", name: "k")

    @Test("A batch knows the one run its operations touch, and forgets it when a second run appears")
    func onlyRun() throws {
        var batch = StoreBatch()
        #expect(batch.onlyRun == nil)
        batch.read(key)
        batch.addToSet(StoreKey(run: "a", name: "s"), member: "m")
        #expect(batch.onlyRun == "a")
        batch.forgetProgress(run: "b")
        #expect(batch.onlyRun == nil)
        batch.read(key)
        #expect(batch.onlyRun == nil)
        #expect(batch.count == 4)

        let built = try StoreBatch([.init(.read(key)), .init(.recordProgress(run: "a", quietFor: .zero))])
        #expect(built.onlyRun == "a")
    }

    @Test("Reads alone are read-only; a timer or progress needs the store's time")
    func readOnlyAndTime() {
        var batch = StoreBatch()
        batch.read(key)
        #expect(batch.isReadOnly && !batch.usesTime)
        batch.increment(key, by: 1)
        #expect(!batch.isReadOnly && !batch.usesTime)
        var timed = StoreBatch()
        timed.scheduleTimer(key, after: .seconds(1), payload: [])
        #expect(timed.usesTime)
        var progressed = StoreBatch()
        progressed.recordProgress(run: "a")
        #expect(progressed.usesTime)
    }

    @Test("A fence guarding another run's key is refused, naming both keys")
    func misfencedBatch() throws {
        var batch = StoreBatch()
        batch.setIfAbsent(key, [1], fence: Fence(key: StoreKey(run: "a", name: "f"), token: 1))
        try batch.checkFences()
        batch.compareAndSet(key, expected: nil, new: [2], fence: Fence(key: StoreKey(run: "b", name: "f"), token: 1))
        let error = #expect(throws: WeftError.self) { try batch.checkFences() }
        #expect(error?.code == .invalidFence)
        #expect(error.map { "\($0)".contains("b/f") && "\($0)".contains("a/k") } == true)
    }

    @Test("One condition is written without an array and reads back as one")
    func conditions() throws {
        var batch = StoreBatch()
        let stored = batch.setIfAbsent(key, [1])
        let size = batch.addToSet(StoreKey(run: "a", name: "s"), member: "m", when: .stored(stored))
        batch.read(key, when: [.stored(stored), .size(size, equals: 1)])
        batch.read(key, when: .always)
        #expect(batch.steps[1].conditions == [.stored(step: 0)])
        #expect(batch.steps[2].conditions == [.stored(step: 0), .size(step: 1, equals: 1)])
        #expect(batch.steps[3].conditions.isEmpty)
        #expect(StoreBatch.Conditions.size(size, equals: 2).all == [.size(step: 1, equals: 2)])
        #expect(throws: WeftError.self) { try batch.append(.init(.read(key), when: [.stored(step: 9)])) }
    }

    @Test("Every operation reads back from its step as it was given, fences of another run and odd conditions included")
    func operationsRoundTrip() {
        let other = StoreKey(run: "b", name: "f")
        let operations: [StoreBatch.Operation] = [
            .read(key),
            .setIfAbsent(key, value: [1, 2], fence: nil),
            .setIfAbsent(key, value: [3], fence: Fence(key: StoreKey(run: "a", name: "f"), token: .max)),
            .setIfAbsent(key, value: [], fence: Fence(key: other, token: 0)),
            .compareAndSet(key, expected: nil, new: [4], fence: nil),
            .compareAndSet(key, expected: [5], new: [], fence: Fence(key: other, token: 7)),
            .addToSet(key, member: "member"),
            .increment(key, by: -3),
            .increment(key, by: .min),
            .scheduleTimer(key, after: .seconds(-2) + .nanoseconds(1), payload: [9]),
            .scheduleTimer(key, after: .zero, payload: []),
            .retireTimer(key),
            .recordProgress(run: "a", quietFor: .milliseconds(1500)),
            .forgetProgress(run: "a"),
        ]
        for operation in operations {
            #expect(StoreBatch.Step(operation).operation == operation)
        }
        let conditions: [StoreBatch.Condition] = [.stored(step: 0), .swapped(step: 3), .size(step: 2, equals: 100)]
        #expect(StoreBatch.Step(.read(key), when: conditions).conditions == conditions)
        // A size beyond any set's reads back as one no set has.
        #expect(StoreBatch.Step(.read(key), when: [.size(step: 1, equals: .max)]).conditions == [.size(step: 1, equals: -1)])
    }

    @Test("A step stays small: a hop's batch of eight steps fits the allocator's per-thread cache (1,032 bytes)")
    func stepSize() {
        #expect(MemoryLayout<StoreBatch.Step>.stride * 8 + 32 <= 1032)
    }
}
