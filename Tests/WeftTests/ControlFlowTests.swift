import Foundation
import Synchronization
import Testing
import Weft
import WeftConformance
import WeftTesting

/// Loops, sub-workflows, batches, waits and sleeps in the embedded runtime.
@Suite("Control flow, embedded")
struct ControlFlowTests {
    @Test("A five-pass loop runs its two-node body exactly five times")
    func fivePasses() async throws {
        let steps = Atomic<Int>(0)
        let workflow = Workflow("loop") {
            Node.loop("repeat", while: "state.count < 5", maxIterations: 10) {
                Node("step") { context in
                    steps.add(1, ordering: .relaxed)
                    return ["count": JSONValue(context.input["count"]!.intValue! + 1)]
                }
                Node("note") { $0.input }
                Edge("step", to: "note")
            }
        }
        let result = try await LocalRuntime(workflow).run(workflow.blueprint, input: ["count": 0])
        #expect(result.status == .completed)
        #expect(result.output == ["count": 5])
        #expect(steps.load(ordering: .relaxed) == 5)
    }

    @Test("An early exit at pass 3 fires once and ends the loop with its input")
    func earlyExit() async throws {
        let exits = Atomic<Int>(0)
        var workflow = EngineScenario.loopEarlyExit.workflow
        workflow.registry.register(workflow.blueprint.node("after")!.uses) { context in
            exits.add(1, ordering: .relaxed)
            return ["exited with": context.input]
        }
        let result = try await LocalRuntime(workflow).run(workflow.blueprint, input: ["n": 0])
        #expect(result.status == .completed)
        #expect(result.output == ["exited with": ["n": 3, "stop": true]])
        #expect(exits.load(ordering: .relaxed) == 1)
    }

    @Test("A loop body with a fan-out and a join")
    func fanOutBody() async throws {
        let workflow = EngineScenario.loopWithFanOut.workflow
        let result = try await LocalRuntime(workflow).run(workflow.blueprint, input: 1)
        // 1 → 5 → 25 → 125.
        #expect(result.output == 125)
    }

    @Test("A loop that would pass its limit fails with loop_limit_exceeded")
    func limit() async throws {
        let workflow = EngineScenario.loopLimit.workflow
        let result = try await LocalRuntime(workflow).run(workflow.blueprint, input: 0)
        #expect(result.status == .failed)
        #expect(result.failure?.nodeID == "forever")
        #expect(result.failure?.cause.code == WeftError.Code.loopLimitExceeded.rawValue)
    }

    @Test("Sub-workflows three levels deep map their inputs and outputs")
    func nested() async throws {
        let workflow = EngineScenario.nestedSubworkflows.workflow
        let result = try await LocalRuntime(workflow).run(workflow.blueprint, input: ["value": 4])
        #expect(result.status == .completed)
        #expect(result.output == ["result": 50])
    }

    @Test("A failed sub-workflow fails the node's attempt: retries, then the fallback")
    func failingChild() async throws {
        let workflow = EngineScenario.failingSubworkflow.workflow
        let runtime = LocalRuntime(workflow)
        let events = runtime.events()
        let result = try await runtime.run(workflow.blueprint)
        #expect(result.output == "fallback used")
        var failures = 0
        for await event in events {
            if case .nodeFailed(let node, _, let failure, _) = event.kind, node == "call" {
                failures += 1
                #expect(failure.code == WeftError.Code.childRunFailed.rawValue)
            }
            if case .runFinished = event.kind, event.runID == result.runID { break }
        }
        #expect(failures == 2)
    }

    @Test("A batch of 1,000 items, 16 at a time, keeps input order")
    func batchOrder() async throws {
        let running = Atomic<Int>(0)
        let peak = Atomic<Int>(0)
        let workflow = Workflow("batch") {
            Node.batch("square", items: "input", concurrency: 16) { context in
                let now = running.add(1, ordering: .relaxed).newValue
                peak.max(now, ordering: .relaxed)
                await Task.yield()
                running.subtract(1, ordering: .relaxed)
                return JSONValue(context.input.intValue! * context.input.intValue!)
            }
        }
        let items = (0..<1000).map { JSONValue($0) }
        let result = try await LocalRuntime(workflow, configuration: .init(maxConcurrentNodes: 64))
            .run(workflow.blueprint, input: .array(items))
        #expect(result.output == .array((0..<1000).map { JSONValue($0 * $0) }))
        #expect(peak.load(ordering: .relaxed) <= 16)
    }

    @Test("An empty batch gives [] and the flow continues")
    func emptyBatch() async throws {
        let workflow = EngineScenario.emptyBatch.workflow
        let result = try await LocalRuntime(workflow).run(workflow.blueprint, input: ["items": []])
        #expect(result.output == ["got": []])
    }

    @Test("A batch collecting errors lists them by index; fail-fast fails the node")
    func batchErrors() async throws {
        let workflow = EngineScenario.batchCollectingErrors.workflow
        let collected = try await LocalRuntime(workflow).run(workflow.blueprint, input: [1, 2, 3, 4])
        #expect(collected.output?["results"] == [1, .null, 3, .null])
        #expect(collected.output?["errors"]?.arrayValue?.map { $0["index"] } == [1, 3])

        let failFast = Workflow("fail-fast") {
            Node.batch("each") { context -> JSONValue in
                guard context.input.intValue! != 2 else { throw NodeError("two", isRetryable: false) }
                return context.input
            }
        }
        let failed = try await LocalRuntime(failFast).run(failFast.blueprint, input: [1, 2, 3])
        #expect(failed.status == .failed)
        #expect(failed.failure?.nodeID == "each")
        #expect(failed.failure?.cause.code == WeftError.Code.childRunFailed.rawValue)
    }

    @Test("A batch whose items are not an array fails with invalid_batch_items")
    func batchNotArray() async throws {
        let workflow = Workflow("bad-items") { Node.batch("each", items: "input.missing") { $0.input } }
        let result = try await LocalRuntime(workflow).run(workflow.blueprint, input: ["other": 1])
        #expect(result.failure?.cause.code == WeftError.Code.invalidBatchItems.rawValue)
    }

    @Test("A wait resumed with approve runs only the approve branch, with the signal's payload")
    func waitApprove() async throws {
        let workflow = Self.approval
        let runtime = LocalRuntime(workflow)
        let events = runtime.events()
        let handle = try runtime.start(workflow.blueprint, input: ["order": 7])
        for await event in events where event.runID == handle.runID {
            if case .nodeWaiting("approval") = event.kind { break }
        }
        #expect(runtime.waitingNodes(runID: handle.runID) == ["approval"])
        #expect(throws: WeftError.self) {
            try runtime.signal(runID: handle.runID, nodeID: "approval", action: "maybe")
        }
        try runtime.signal(runID: handle.runID, nodeID: "approval", action: "approve", payload: ["by": "ada"])
        let result = await handle.result()
        #expect(result.status == .completed)
        #expect(result.output == ["shipped": ["by": "ada"]])
        #expect(result[node: "reject"]?.status == .skipped)
        #expect(runtime.waitingNodes(runID: handle.runID).isEmpty)
        do {
            try runtime.signal(runID: handle.runID, nodeID: "approval", action: "approve")
            Issue.record("a signal for a finished run was accepted")
        } catch let error as WeftError {
            #expect(error.code == .notWaiting)
        }
    }

    @Test("A wait's timeout ends it with the timeout action")
    func waitTimeout() async throws {
        let clock = ManualClock()
        let workflow = Self.approval
        let runtime = LocalRuntime(workflow, configuration: .init(clock: clock))
        let handle = try runtime.start(workflow.blueprint, input: ["order": 8])
        await clock.waitForSleepers(1)
        clock.advance(by: .seconds(3600))
        let result = await handle.result()
        #expect(result.output == ["expired": ["order": 8]])
    }

    @Test("A sleep waits on the runtime's clock; a delayed start starts on it")
    func sleepAndDelayedStart() async throws {
        let clock = ManualClock()
        let workflow = EngineScenario.shortSleep.workflow
        let runtime = LocalRuntime(workflow, configuration: .init(clock: clock))
        let handle = try runtime.start(workflow.blueprint, input: "x", after: .seconds(60))
        await clock.waitForSleepers(1)
        clock.advance(by: .seconds(60))
        await clock.waitForSleepers(1)
        clock.advance(by: .milliseconds(20))
        let result = await handle.result()
        #expect(result.output == ["woke with": "x"])
    }

    @Test("Cancelling a run cancels its waiting node and its sub-workflow")
    func cancelWaiting() async throws {
        let child = Workflow("waits", version: "1") { Node.waitForSignal("hold") }
        let parent = Workflow("parent") { Node.subworkflow("call", child) }
        let runtime = LocalRuntime(parent)
        let events = runtime.events()
        let handle = try runtime.start(parent.blueprint)
        for await event in events {
            if case .nodeWaiting("hold") = event.kind { break }
        }
        handle.cancel()
        let result = await handle.result()
        #expect(result.status == .cancelled)
    }

    /// `approval` waits for approve or reject (timeout after an hour: expire).
    static let approval = Workflow("approval") {
        Node("receive") { $0.input }
        Node.waitForSignal("approval", actions: ["approve", "reject"], timeout: .seconds(3600), timeoutAction: "expire")
        Node("ship") { context in ["shipped": context.input] }
        Node("reject") { context in ["rejected": context.input] }
        Node("expired") { context in ["expired": context.input] }
        Edge("receive", to: "approval")
        Edge("approval", to: "ship", action: "approve")
        Edge("approval", to: "reject", action: "reject")
        Edge("approval", to: "expired", action: "expire")
    }
}

@Suite("Control flow, validation and rendering")
struct ControlFlowValidationTests {
    @Test("Durations too long for a clock are invalid settings, not a crash (found by fuzzing)")
    func hugeDurations() {
        for seconds: JSONValue in [.double(1e11), .double(-1e11), .int(Int64.max), .double(9.5e9)] {
            let workflow = Workflow("long") {
                Node("start") { $0.input }
                Node("nap", uses: "weft.sleep", params: ["seconds": seconds])
                Edge("start", to: "nap")
            }
            let issues = workflow.validate().issues
            #expect(issues.contains { $0.code == .invalidControl && $0.nodeID == "nap" }, "\(seconds): \(issues)")
        }
    }

    @Test("Timeouts and backoffs too long for a clock, or negative, are decoding errors, not a crash (found by fuzzing)")
    func hugeConfigurationDurations() throws {
        let fields = [
            #""timeout": 5e51"#, #""timeout": -1"#, #""backoff": {"kind": "exponential", "initial": 5e51}"#,
            #""backoff": {"kind": "exponential", "maximum": 1e300}"#, #""backoff": {"kind": "fixed", "delay": 9e9}"#,
        ]
        for field in fields {
            let json = #"{"id": "x", "nodes": [{"id": "a", "uses": "util.pass", "config": {\#(field)}}]}"#
            #expect(throws: DecodingError.self, "\(field)") { try JSONDecoder().decode(Blueprint.self, from: Data(json.utf8)) }
        }
        let fine = #"{"id": "x", "nodes": [{"id": "a", "uses": "util.pass", "config": {"timeout": 8.9e9, "backoff": {"kind": "fixed", "delay": 0.25}}}]}"#
        let blueprint = try JSONDecoder().decode(Blueprint.self, from: Data(fine.utf8))
        #expect(blueprint.nodes[0].config.backoff == .fixed(.milliseconds(250)))
    }

    @Test("The validator knows loops, sub-workflows, batches, waits and breaks")
    func validation() {
        let workflow = Workflow("checks") {
            Node("start") { $0.input }
            Node.subworkflow("missing", blueprint: "nowhere", version: "3")
            Node.batch("each", node: "unregistered")
            Node.waitForSignal("wait", actions: ["yes", "no"])
            Node("yes") { $0.input }
            Node.breakLoop("stray")
            Node("bad-loop", uses: "weft.loop", params: ["while": "state <"])
            Node("typo", uses: "weft.lop")
            Chain("start", "missing", "each", "wait")
            Edge("wait", to: "yes", action: "yes")
            Edge("start", to: "stray")
            Edge("start", to: "bad-loop")
            Edge("start", to: "typo")
        }
        let codes = Set(workflow.validate().issues.map(\.code))
        #expect(codes.isSuperset(of: [
            .unknownBlueprint, .missingImplementation, .missingActionEdge, .breakOutsideLoop, .invalidControl,
        ]))
        let issues = workflow.validate().issues
        #expect(issues.contains { $0.code == .missingActionEdge && $0.message.contains("\"no\"") })
        #expect(issues.filter { $0.code == .invalidControl }.count == 2)
    }

    @Test("A loop body's own problems are reported under the loop")
    func bodyIssues() {
        let workflow = Workflow("outer") {
            Node.loop("l", while: "state < 3") {
                Node("a") { $0.input }
                Edge("a", to: "ghost")
            }
        }
        let issues = workflow.validate().issues
        #expect(issues.contains { $0.code == .unknownEdgeNode && $0.nodeID == "l" && $0.message.contains("body of \"l\"") })
    }

    @Test("A sub-workflow that starts itself is reported")
    func recursion() {
        var registry = NodeRegistry()
        let selfCalling = Blueprint(
            id: "again", nodes: [NodeDefinition(id: "call", uses: "weft.subworkflow", params: ["blueprint": "again"])])
        registry.register(selfCalling)
        #expect(selfCalling.validate(against: registry).issues.contains { $0.code == .recursiveBlueprint })
    }

    @Test("Blueprints with control nodes round-trip through JSON")
    func roundTrip() throws {
        let blueprint = EngineScenario.loopEarlyExit.workflow.blueprint
        let data = try JSONEncoder().encode(blueprint)
        #expect(try JSONDecoder().decode(Blueprint.self, from: data) == blueprint)
    }

    @Test("Mermaid draws loop bodies as subgraphs and names sub-workflows")
    func mermaid() {
        let text = GraphRenderer.mermaid(EngineScenario.loopEarlyExit.workflow.blueprint)
        #expect(text.contains("subgraph"))
        #expect(text.contains("loop"))
        let nested = GraphRenderer.mermaid(EngineScenario.nestedSubworkflows.workflow.blueprint)
        #expect(nested.contains("middle v1"))
    }
}

@Suite("Suspending and resuming embedded runs")
struct SnapshotTests {
    @Test("A waiting run suspends to JSON and resumes in another runtime with the same outcome")
    func suspendAndResume() async throws {
        let workflow = ControlFlowTests.approval
        let first = LocalRuntime(workflow)
        let events = first.events()
        let handle = try first.start(workflow.blueprint, input: ["order": 9], options: RunOptions(context: ["tier": "gold"]))
        for await event in events where event.runID == handle.runID {
            if case .nodeWaiting("approval") = event.kind { break }
        }
        let snapshot = try await first.suspend(runID: handle.runID)
        #expect(await handle.result().status == .waiting)
        #expect(first.waitingNodes(runID: handle.runID).isEmpty)
        let data = try JSONEncoder().encode(snapshot)

        // Another runtime, as another process would have, with the same code.
        let second = LocalRuntime(ControlFlowTests.approval)
        let restored = try JSONDecoder().decode(RunSnapshot.self, from: data)
        let events2 = second.events()
        let resumed = try second.resume(restored)
        #expect(resumed.runID == handle.runID)
        for await event in events2 where event.runID == handle.runID {
            if case .nodeWaiting("approval") = event.kind { break }
        }
        try second.signal(runID: handle.runID, nodeID: "approval", action: "approve", payload: ["by": "lin"])
        let result = await resumed.result()
        #expect(result.status == .completed)
        #expect(result.output == ["shipped": ["by": "lin"]])
        #expect(result.context == ["tier": "gold"])
        #expect(result[node: "receive"]?.status == .completed)
        #expect(result[node: "reject"]?.status == .skipped)
    }

    @Test("A sleep that ended while the run was suspended ends at once on resume")
    func sleepEndedMeanwhile() async throws {
        let clock = ManualClock()
        let workflow = EngineScenario.shortSleep.workflow
        let runtime = LocalRuntime(workflow, configuration: .init(clock: clock))
        let handle = try runtime.start(workflow.blueprint, input: "y")
        await clock.waitForSleepers(1)
        var snapshot = try await runtime.suspend(runID: handle.runID)
        #expect(snapshot.paused.map(\.nodeID) == ["nap"])
        snapshot.paused[0].endsAt = Date(timeIntervalSinceNow: -1)
        let result = try await LocalRuntime(workflow, configuration: .init(clock: clock)).resume(snapshot).result()
        #expect(result.output == ["woke with": "y"])
    }

    @Test("A run with a node attempt in progress, or unknown, cannot be suspended; a newer format is refused")
    func refusals() async throws {
        let gate = Gate()
        let workflow = Workflow("busy") {
            Node.waitForSignal("wait")
            Node("work") { context in
                await gate.wait()
                return context.input
            }
        }
        let runtime = LocalRuntime(workflow)
        let events = runtime.events()
        let handle = try runtime.start(workflow.blueprint)
        for await event in events where event.runID == handle.runID {
            if case .nodeWaiting = event.kind { break }
        }
        do {
            _ = try await runtime.suspend(runID: handle.runID)
            Issue.record("a busy run was suspended")
        } catch let error as WeftError {
            #expect(error.code == .notWaiting)
            #expect(error.message.contains("cannot be suspended now"))
        }
        await #expect(throws: WeftError.self) { try await runtime.suspend(runID: "unknown") }
        gate.open()
        try runtime.signal(runID: handle.runID, nodeID: "wait", action: "go")
        #expect(await handle.result().status == .completed)

        var snapshot = RunSnapshot(
            format: RunSnapshot.currentFormat + 1, runID: "r", blueprint: workflow.blueprint, input: .null, context: [:],
            nodes: [], edges: [], edgeValues: [:], retainedInputs: [:], paused: [])
        #expect(throws: WeftError.self) { try runtime.resume(snapshot) }
        snapshot.format = RunSnapshot.currentFormat
        #expect(throws: WeftError.self) { try runtime.resume(snapshot) }
    }
}
