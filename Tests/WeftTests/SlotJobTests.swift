import Testing

@testable import Weft

/// The cancellation loop cancels a slot's consuming task only while the job it checked is still
/// in hand: a slot that took up another job since (of a run that goes on) keeps it.
@Suite("A worker slot's job in hand")
struct SlotJobTests {
    private func envelope(run: String) -> Envelope {
        Envelope(kind: .job, runID: run, blueprintID: "b", blueprintVersion: "1", nodeID: "n", attempt: 1, fencingToken: 1 << 32)
    }

    @Test("A job taken up after the check is not cancelled; the job checked is")
    func cancelsOnlyTheJobChecked() async throws {
        let slot = Worker.SlotJob()
        // Stands for the slot's consuming task: it ends only when cancelled.
        let task = Task<Void, Never> { try? await Task.sleep(for: .seconds(3600)) }
        slot.set(envelope(run: "ended"), at: .now)
        let checked = try #require(slot.current)
        #expect(checked.run == "ended")
        // The slot finishes that job and takes up one of a run that goes on.
        slot.clear()
        slot.set(envelope(run: "live"), at: .now)
        #expect(!slot.cancel(task, ifStillHandling: checked.number))
        #expect(!task.isCancelled)
        let current = try #require(slot.current)
        #expect(current.run == "live" && current.number != checked.number)
        #expect(slot.cancel(task, ifStillHandling: current.number))
        #expect(task.isCancelled)
        await task.value
        slot.clear()
        #expect(!slot.cancel(task, ifStillHandling: current.number))
    }
}
