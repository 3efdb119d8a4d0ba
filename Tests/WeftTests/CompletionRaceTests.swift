import Synchronization
import Testing
import Weft
import WeftConformance

/// Issue 23's repro: a run's last node to finish was taken for its only terminal node because
/// its addition to the terminal set came first, though another terminal node finished between
/// that addition and the skip that completed the run.
@Suite("A run's result when terminal nodes finish concurrently")
struct CompletionRaceTests {
    /// `S → X, S → T, X → Y when output.x > 1000`: X and T run, X's edge is skipped, so both are
    /// terminal and the result is an object of both (design rule 10).
    static let workflow = EngineScenario.terminalBesideSkippedEdge.workflow

    /// When worker 0 has recorded X's result (and its additions), T's whole job runs on worker 1
    /// before X's worker resolves X's skipped edge: the interleaving of two concurrent workers.
    final class RunTBetweenXsRecordAndItsSkip: FaultInjector {
        let pending = Mutex<(delivery: QueueDelivery?, worker: Worker?)>((nil, nil))

        func checkpoint(_ step: WorkerStep, envelope: Envelope) async throws {
            guard step == .recorded, envelope.nodeID == "X" else { return }
            let (delivery, worker) = pending.withLock { state in
                defer { state = (nil, nil) }
                return state
            }
            if let delivery, let worker { _ = await worker.process(delivery) }
        }
    }

    @Test("X's skipped edge completes the run after T finished: the result holds both X and T")
    func interleavedTerminals() async throws {
        let injector = RunTBetweenXsRecordAndItsSkip()
        let fleet = try ManualFleet([Self.workflow], workers: 2, faults: [0: injector])
        let handle = try await fleet.client.start(Self.workflow.blueprint, input: 1)
        try await fleet.step(worker: 1)  // S
        let first = try #require(try await fleet.take())
        let second = try #require(try await fleet.take())
        let (x, t) = try Envelope(decoding: first.body).nodeID == "X" ? (first, second) : (second, first)
        injector.pending.withLock { $0 = (t, fleet.workers[1]) }
        _ = await fleet.workers[0].process(x)
        let result = try await handle.result()
        let local = try await LocalRuntime(Self.workflow).run(Self.workflow.blueprint, input: 1)
        #expect(local.output == ["X": ["x": 1], "T": ["t": 1]])
        #expect(result.status == .completed)
        #expect(result.output == local.output)
        await fleet.shutdown()
    }
}
