import Testing
import Weft

/// Issue 23 part 9: a delivered job is a claim to check against the run's records, never an
/// order. Hand-made jobs that the records do not make ready, or that no worker would publish,
/// are dead-lettered with their reason, and the run ends as the embedded runtime's does.
@Suite("Distributed runtime: a job runs only when the records make its node ready")
struct JobReadinessTests {
    /// `a → b when output > 0`, `a → c when output <= 0`, `b, c → j`, `c → s`.
    static let gated = Workflow("gated") {
        Node("a") { $0.input }
        Node("b") { context in JSONValue(context.input.intValue! + 1) }
        Node("c") { _ in "c" }
        Node("j") { $0.input }
        Node("s") { _ in "s" }
        Edge("a", to: "b", when: "output > 0")
        Edge("a", to: "c", when: "output <= 0")
        Edge("b", to: "j")
        Edge("c", to: "j")
        Edge("c", to: "s")
    }

    func job(_ run: String, _ node: String, iteration: Int = 0, attempt: Int = 1, token: UInt64? = nil) -> [UInt8] {
        Envelope(
            kind: .job, runID: run, blueprintID: "gated", blueprintVersion: "1", nodeID: node, iteration: iteration,
            attempt: attempt, fencingToken: token ?? UInt64(attempt) << 32, payload: "forged"
        ).encoded()
    }

    @Test("Jobs for nodes not ready, for a loop pass that cannot exist, beyond the node's attempts or with a foreign token are dead-lettered")
    func forgedJobs() async throws {
        let fleet = try ManualFleet([Self.gated])
        let handle = try await fleet.client.start(Self.gated.blueprint, input: 1)
        let first = try #require(try await fleet.take())  // a's own job, held back
        let run = handle.runID
        let forged: [(bytes: [UInt8], reason: String)] = [
            (job(run, "b"), "node \"b\" is not ready: 0 of its 1 incoming edges are resolved"),
            (job(run, "j"), "node \"j\" is not ready: 0 of its 2 incoming edges are resolved"),
            (job(run, "a", iteration: 7), "iteration 7 of node \"a\""),
            (job(run, "a", attempt: 5), "attempt 5 of node \"a\", which has at most 1"),
            (job(run, "a", token: 3 << 32), "does not belong to attempt 1"),
        ]
        for (bytes, _) in forged { try await fleet.publish(bytes) }
        let outcomes = try await fleet.drain()
        #expect(outcomes.count == forged.count)
        for (outcome, (_, reason)) in zip(outcomes, forged) {
            guard case .deadLettered(let actual) = outcome else {
                Issue.record("not dead-lettered (\(reason)): \(outcome)")
                continue
            }
            #expect(actual.contains(reason), "\(actual)")
        }
        #expect(try await fleet.transport.deadLetters(of: fleet.jobs, limit: 10).count == forged.count)

        // a runs; c and s are skipped; a job for skipped s changes nothing.
        #expect(await fleet.workers[0].process(first) == .completed)
        try await fleet.publish(job(run, "s"))
        let skipped = try await fleet.drain()
        #expect(skipped.contains(.dropped(reason: "node \"s\" was skipped (its incoming edges were all skipped)")), "\(skipped)")
        let result = try await handle.result()
        let local = try await LocalRuntime(Self.gated).run(Self.gated.blueprint, input: 1)
        #expect(result.status == .completed && result.output == local.output)
        #expect(result.nodes.map(\.status) == local.nodes.map(\.status))
        #expect(result.nodes.map(\.output) == local.nodes.map(\.output))
        await fleet.shutdown()
    }

    /// `a → b, a → c, b, c → j`; b writes the run's context, so its record and its arrival at
    /// j are two writes.
    static let writing = Workflow("writing") {
        Node("a") { $0.input }
        Node("b") { context in
            context.context.set("b", context.input)
            return "b"
        }
        Node("c") { _ in "c" }
        Node("j") { $0.input }
        Edge("a", to: "b")
        Edge("a", to: "c")
        Edge("b", to: "j")
        Edge("c", to: "j")
    }

    /// Crashes the worker right after b's record is written, before its arrival at j.
    struct CrashAfterRecordingB: FaultInjector {
        func checkpoint(_ step: WorkerStep, envelope: Envelope) async throws {
            if step == .recorded && envelope.nodeID == "b" { throw SimulatedCrash(step: step) }
        }
    }

    @Test("A join whose arrivals a dead worker left short is checked against its predecessors' records, and runs")
    func joinReadyByRecords() async throws {
        let fleet = try ManualFleet([Self.writing], workers: 2, faults: [1: CrashAfterRecordingB()])
        let handle = try await fleet.client.start(Self.writing.blueprint, input: 1)
        #expect(try await fleet.step() == .completed)  // a
        var crashed = false
        var held: QueueDelivery?
        while let delivery = try await fleet.take() {
            if try Envelope(decoding: delivery.body).nodeID == "b" {
                if crashed {
                    held = delivery  // b's delivery, back from its dead worker, waits
                    continue
                }
                let outcome = await fleet.workers[1].process(delivery)
                #expect(outcome == .crashed(at: .recorded), "\(outcome)")
                crashed = true
            } else {
                #expect(await fleet.workers[0].process(delivery) == .completed)  // c, which arrives at j
            }
        }
        // The reconciler replays the records: b completed, c completed, so j is ready; the
        // arrivals hold c's alone. j's job runs all the same.
        fleet.clock.advance(by: fleet.fleet.stallTimeout + .seconds(1))
        #expect(try await fleet.workers[0].reconcile() == 1)
        #expect(try await fleet.step() == .completed)
        #expect(try await fleet.transport.deadLetters(of: fleet.jobs, limit: 10).isEmpty)
        // b's delivery comes back (its worker died) and finishes what it began.
        #expect(await fleet.workers[0].process(try #require(held)) == .completed)
        try await fleet.drain()
        let local = try await LocalRuntime(Self.writing).run(Self.writing.blueprint, input: 1)
        let result = try await handle.result()
        #expect(result.status == .completed && result.output == local.output)
        #expect(try await fleet.transport.deadLetters(of: fleet.jobs, limit: 10).isEmpty)
        await fleet.shutdown()
    }
}
