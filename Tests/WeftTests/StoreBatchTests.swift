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
}
