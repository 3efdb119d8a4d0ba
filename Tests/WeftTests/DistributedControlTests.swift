import Synchronization
import Testing
import Weft
import WeftConformance
import WeftTesting

/// Loops, sub-workflows, batches, waits, sleeps and delayed starts on a fleet driven by hand.
@Suite("Control flow on the fleet")
struct DistributedControlTests {
    /// The error code `body` throws, if it throws a ``WeftError``.
    func code(_ body: () async throws -> Void) async -> WeftError.Code? {
        do {
            try await body()
            return nil
        } catch let error as WeftError {
            return error.code
        } catch {
            return nil
        }
    }

    @Test("A wait pauses the run (status waiting, nothing enqueued); approve runs only the approve branch")
    func waitForApproval() async throws {
        let workflow = ControlFlowTests.approval
        let fleet = try ManualFleet([workflow])
        let handle = try await fleet.client.start(workflow.blueprint, input: ["order": 7])
        let client = fleet.client
        #expect(await code { try await client.signal(runID: handle.runID, nodeID: "approval", action: "approve") } == .notWaiting)
        let outcomes = try await fleet.drain()
        #expect(outcomes.last == .suspended(reason: "waiting for a signal"))

        let paused = try await handle.status()
        #expect(paused.status == .waiting)
        #expect(paused.nodes.first { $0.nodeID == "approval" }?.state == .waiting)
        for node in ["ship", "reject", "expired"] {
            let entry = paused.nodes.first { $0.nodeID == node }
            #expect(entry?.state == .pending && entry?.ready == false)
        }
        #expect(try await fleet.transport.depth(of: fleet.jobs) == 0)

        #expect(await code { try await client.signal(runID: handle.runID, nodeID: "approval", action: "maybe") } == .invalidSignal)
        #expect(await code { try await client.signal(runID: handle.runID, nodeID: "receive", action: "approve") } == .notWaiting)
        #expect(await code { try await client.signal(runID: "no-such-run", nodeID: "approval", action: "approve") } == .unknownRun)
        try await client.signal(runID: handle.runID, nodeID: "approval", action: "approve", payload: ["by": "ada"])
        try await fleet.drain()
        let result = try await handle.result()
        #expect(result.status == .completed)
        #expect(result.output == ["shipped": ["by": "ada"]])
        #expect(result[node: "reject"]?.status == .skipped)
        #expect(result[node: "expired"]?.status == .skipped)
        #expect(await code { try await client.signal(runID: handle.runID, nodeID: "approval", action: "approve") } == .runFinished)
        await fleet.shutdown()
    }

    @Test("A wait's timeout is a durable timer; a signal after it is refused")
    func waitTimeout() async throws {
        let workflow = ControlFlowTests.approval
        let fleet = try ManualFleet([workflow])
        let handle = try await fleet.client.start(workflow.blueprint, input: ["order": 8])
        try await fleet.drain()
        fleet.clock.advance(by: .seconds(3599))
        #expect(try await fleet.workers[0].fireDueTimers() == 0)
        fleet.clock.advance(by: .seconds(1))
        #expect(try await fleet.workers[0].fireDueTimers() == 1)
        try await fleet.drain()
        let result = try await handle.result()
        #expect(result.output == ["expired": ["order": 8]])
        await fleet.shutdown()
    }

    @Test("A sleep spanning a worker restart completes after the restart, on the new worker")
    func sleepAcrossRestart() async throws {
        let woke = Mutex<[String]>([])
        func workflow(_ name: String) -> Workflow {
            Workflow("nap") {
                Node("before") { $0.input }
                Node.sleep("nap", for: .seconds(600))
                Node("after", uses: "after") { context in
                    woke.withLock { $0.append(name) }
                    return ["woke with": context.input]
                }
                Chain("before", "nap", "after")
            }
        }
        // Two workers on one store: the first takes the run to its sleep and is then gone for
        // good (its process died); the second, started afterwards, finishes it.
        let fleet = try ManualFleet([workflow("first")])
        let handle = try await fleet.client.start(workflow("first").blueprint, input: "x")
        #expect(try await fleet.drain().last == .suspended(reason: "sleeping for 600.0 seconds"))
        #expect(try await handle.status().status == .waiting)

        var configuration = Worker.Configuration(
            fleet: fleet.fleet, concurrency: 1, clock: fleet.clock, reconcileInterval: nil, cancellationCheckInterval: nil,
            logger: quiet)
        configuration.maxInlineSuccessors = 0
        let restarted = try Worker(
            registry: workflow("second").registry, blueprints: [workflow("second").blueprint], backends: fleet.backends,
            configuration: configuration)
        fleet.clock.advance(by: .seconds(600))
        #expect(try await restarted.fireDueTimers() == 1)
        while let delivery = try await fleet.take() { _ = await restarted.process(delivery) }
        let result = try await handle.result()
        #expect(result.output == ["woke with": "x"])
        #expect(woke.withLock { $0 } == ["second"])
        await fleet.shutdown()
    }

    @Test("A delayed start waits in durable timers: nothing is enqueued until it is due")
    func delayedStart() async throws {
        let workflow = DistributedRuntimeTests.chain
        let fleet = try ManualFleet([workflow])
        let handle = try await fleet.client.start(workflow.blueprint, input: 1, after: .seconds(60))
        #expect(try await fleet.transport.depth(of: fleet.jobs) == 0)
        #expect(try await handle.status().status == .running)
        fleet.clock.advance(by: .seconds(59))
        #expect(try await fleet.workers[0].fireDueTimers() == 0)
        fleet.clock.advance(by: .seconds(1))
        #expect(try await fleet.workers[0].fireDueTimers() == 1)
        try await fleet.drain()
        #expect(try await handle.result().output == 20)
        await fleet.shutdown()
    }

    @Test("Cancelling a parent cancels its sub-workflow, which is a run of its own")
    func cancelCascades() async throws {
        let child = Workflow("holds", version: "1") { Node.waitForSignal("hold") }
        let parent = Workflow("parent") { Node.subworkflow("call", child) }
        let fleet = try ManualFleet([parent])
        let handle = try await fleet.client.start(parent.blueprint)
        try await fleet.drain()
        let childID = "\(handle.runID)/call#1.0"
        #expect(try await fleet.client.status(childID).status == .waiting)
        #expect(try await fleet.client.status(handle.runID).nodes.first?.state == .runningChildren)
        #expect(try await handle.cancel() == .cancelled)
        #expect(try await fleet.client.status(childID).status == .cancelled)
        try await fleet.drain()
        #expect(try await handle.result().status == .cancelled)
        await fleet.shutdown()
    }

    @Test("A redelivered resume of pass 2 never starts or touches pass 3 again: the body runs exactly 5 times")
    func loopRedeliveries() async throws {
        let steps = Atomic<Int>(0)
        let workflow = Workflow("loop") {
            Node.loop("repeat", while: "state.count < 5", maxIterations: 10) {
                Node("step") { context in
                    steps.add(1, ordering: .relaxed)
                    return ["count": JSONValue(context.input["count"]!.intValue! + 1)]
                }
            }
        }
        let fleet = try ManualFleet([workflow])
        let handle = try await fleet.client.start(workflow.blueprint, input: ["count": 0])
        var resumes: [[UInt8]] = []
        while let delivery = try await fleet.take() {
            if let envelope = try? Envelope(decoding: delivery.body), envelope.kind == .resume { resumes.append(delivery.body) }
            _ = await fleet.workers[0].process(delivery)
            // Every old resume again, as a broker redelivering them would.
            if resumes.count == 3 {
                for body in resumes { try await fleet.publish(body) }
                resumes.append([])
            }
        }
        let result = try await handle.result()
        #expect(result.output == ["count": 5])
        #expect(steps.load(ordering: .relaxed) == 5)
        await fleet.shutdown()
    }

    @Test("Bad resume messages are dead-lettered with a reason; the run is unaffected")
    func badResumes() async throws {
        let workflow = ControlFlowTests.approval
        let fleet = try ManualFleet([workflow])
        let handle = try await fleet.client.start(workflow.blueprint, input: 1)
        try await fleet.drain()
        func resume(_ node: String, _ payload: JSONValue) -> [UInt8] {
            Envelope(
                kind: .resume, runID: handle.runID, blueprintID: "approval", blueprintVersion: "1", nodeID: node,
                fencingToken: 1 << 32, payload: payload
            ).encoded()
        }
        try await fleet.publish(resume("receive", ["event": "timer"]))
        try await fleet.publish(resume("approval", ["event": "fireworks"]))
        let outcomes = try await fleet.drain()
        #expect(outcomes.count == 2 && outcomes.allSatisfy { if case .deadLettered = $0 { true } else { false } }, "\(outcomes)")
        #expect(try await handle.status().status == .waiting)
        await fleet.shutdown()
    }
}
