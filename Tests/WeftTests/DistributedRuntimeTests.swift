import Testing
import Weft
import WeftTesting

@Suite("Distributed runtime: jobs, timers, recovery")
struct DistributedRuntimeTests {
    static let chain = Workflow("chain") {
        Node("a") { context in JSONValue(context.input.intValue! + 1) }
        Node("b") { context in JSONValue(context.input.intValue! * 10) }
        Chain("a", "b")
    }

    @Test("A retry waits in a durable timer, not in a worker: the failed job is acked at once")
    func retryThroughDurableTimer() async throws {
        let flaky = Workflow("flaky") {
            Node("flaky") { context in
                if context.attempt == 1 { throw NodeError.transient("not yet") }
                return JSONValue(context.attempt)
            }.retry(maxAttempts: 2, backoff: .fixed(.seconds(30)))
        }
        let fleet = try ManualFleet([flaky])
        let handle = try await fleet.client.start(flaky.blueprint)
        #expect(try await fleet.step() == .retryScheduled(attempt: 2, after: .seconds(30)))
        #expect(fleet.transport.unsettledCount == 0)
        #expect(try await fleet.transport.depth(of: fleet.jobs) == 0)
        let status = try await handle.status()
        #expect(status.nodes.first?.state == .retrying)
        #expect(status.nodes.first?.lastError == "not yet")
        #expect(try await fleet.workers[0].fireDueTimers() == 0)
        fleet.clock.advance(by: .seconds(29))
        #expect(try await fleet.workers[0].fireDueTimers() == 0)
        fleet.clock.advance(by: .seconds(1))
        #expect(try await fleet.workers[0].fireDueTimers() == 1)
        #expect(try await fleet.step() == .completed)
        let result = try await handle.result()
        #expect(result.status == .completed)
        #expect(result.output == 2)
        #expect(result[node: "flaky"]?.attempts == 2)
        await fleet.shutdown()
    }

    @Test("A run's deadline is a durable timer that fails the run")
    func deadline() async throws {
        let fleet = try ManualFleet([Self.chain])
        let handle = try await fleet.client.start(Self.chain.blueprint, input: 1, options: RunOptions(deadline: .seconds(10)))
        fleet.clock.advance(by: .seconds(10))
        #expect(try await fleet.workers[0].fireDueTimers() == 1)
        let result = try await handle.result()
        #expect(result.status == .failed)
        #expect(result.failure?.cause.code == WeftError.Code.deadlineExceeded.rawValue)
        // The job still queued is dropped: the run is over.
        #expect(try await fleet.step() == .dropped(reason: "the run is already failed"))
        await fleet.shutdown()
    }

    @Test("Cancelling a run drops its queued jobs and keeps its status")
    func cancelDropsJobs() async throws {
        let fleet = try ManualFleet([Self.chain])
        let handle = try await fleet.client.start(Self.chain.blueprint, input: 1)
        #expect(try await handle.cancel() == .cancelled)
        #expect(try await fleet.step() == .dropped(reason: "the run is already cancelled"))
        let result = try await handle.result()
        #expect(result.status == .cancelled)
        #expect(result.failure?.cause.code == WeftError.Code.cancelled.rawValue)
        #expect(try await fleet.client.cancel(handle.runID) == .cancelled)  // again: no change
        await fleet.shutdown()
    }

    /// One node that opens `started`, runs until it is cancelled, then opens `stopped`.
    static func cancellable(_ id: String, started: Gate, stopped: Gate) -> Workflow {
        Workflow(id) {
            Node("wait") { _ in
                started.open()
                do {
                    try await untilCancelled()
                } catch {
                    stopped.open()
                    throw error
                }
                return "never"
            }
        }
    }

    @Test("A running attempt is cancelled when its run is cancelled from another process")
    func cancelRunningAttempt() async throws {
        let started = Gate()
        let stopped = Gate()
        let slow = Self.cancellable("slow", started: started, stopped: stopped)
        var configuration = Worker.Configuration(cancellationCheckInterval: .milliseconds(20), logger: quiet)
        configuration.concurrency = 1
        let fleet = try await InProcessFleet.start(
            registry: slow.registry, blueprints: [slow.blueprint], workers: 1, worker: configuration,
            client: DistributedRuntime.Configuration(logger: quiet))
        let handle = try await fleet.client.start(slow.blueprint)
        await started.wait()
        try await handle.cancel()
        await stopped.wait()  // the node saw its cancellation
        #expect(try await handle.result().status == .cancelled)
        await fleet.shutdown()
        #expect(fleet.workers[0].statistics.dropped == 1)
    }

    @Test("An attempt hears of its run's cancellation at the worker's next check, however young it is")
    func cancellationAtNextCheck() async throws {
        let started = Gate()
        let stopped = Gate()
        let slow = Self.cancellable("slow-young", started: started, stopped: stopped)
        // The worker's loops sleep on a manual clock: its timer loop and its cancellation check.
        let clock = ManualClock()
        var configuration = Worker.Configuration(
            clock: clock, timerPollInterval: .seconds(3600), reconcileInterval: nil, cancellationCheckInterval: .milliseconds(50),
            logger: quiet)
        configuration.concurrency = 1
        let fleet = try await InProcessFleet.start(
            registry: slow.registry, blueprints: [slow.blueprint], workers: 1, worker: configuration,
            client: DistributedRuntime.Configuration(logger: quiet))
        let handle = try await fleet.client.start(slow.blueprint)
        await started.wait()
        await clock.waitForSleepers(2)
        try await handle.cancel()
        // One check, 50 ms of the worker's clock after the attempt began, cancels it.
        clock.advance(by: .milliseconds(50))
        let heard = await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await stopped.wait()
                return true
            }
            group.addTask {
                try? await Task.sleep(for: .seconds(30))  // a guard against a hang, not a timing
                return false
            }
            defer { group.cancelAll() }
            return await group.next() ?? false
        }
        #expect(heard, "the attempt did not hear of its run's cancellation at the next check")
        #expect(try await handle.result().status == .cancelled)
        await fleet.shutdown()
    }

    @Test("The reconciler re-publishes what a stalled run's records say is ready, and nothing else")
    func reconcilerRepublishes() async throws {
        let fleet = try ManualFleet([Self.chain])
        let handle = try await fleet.client.start(Self.chain.blueprint, input: 1)
        #expect(try await fleet.step() == .completed)  // a, which publishes b
        // b's message is lost (acked unprocessed, as a broker that lost it would).
        try await fleet.take()?.ack()
        #expect(try await fleet.workers[0].reconcile() == 0)  // not stalled yet
        fleet.clock.advance(by: fleet.fleet.stallTimeout)
        #expect(try await fleet.workers[0].reconcile() == 1)  // b only: a is complete
        #expect(try await fleet.transport.depth(of: fleet.jobs) == 1)
        #expect(try await fleet.step() == .completed)
        let result = try await handle.result()
        #expect(result.output == 20)
        fleet.clock.advance(by: fleet.fleet.stallTimeout)
        #expect(try await fleet.workers[0].reconcile() == 0)  // a finished run is not touched
        await fleet.shutdown()
    }

    @Test("A job that keeps crashing its workers is quarantined, shown in the status, and can be re-driven")
    func quarantineAndRedrive() async throws {
        let fleet = try ManualFleet([Self.chain], fleet: FleetOptions(maxLostDeliveries: 3))
        let handle = try await fleet.client.start(Self.chain.blueprint, input: 1)
        for _ in 0..<3 { try fleet.transport.abandon(try #require(try await fleet.take())) }  // the worker "died" 3 times
        let outcome = try await fleet.step()
        guard case .quarantined(let signature) = outcome else {
            Issue.record("expected a quarantine, got \(String(describing: outcome))")
            return
        }
        #expect(signature.contains("node \"a\" attempt 1 lost 3 deliveries"))
        // Says who counted: here the transport itself, which no message can change.
        #expect(signature.contains("as the transport counted"))
        let letters = try await fleet.transport.deadLetters(of: fleet.jobs, limit: 10)
        #expect(letters.map(\.reason) == [signature])
        let status = try await handle.status()
        #expect(status.status == .running)
        #expect(status.nodes.first { $0.nodeID == "a" }?.state == .quarantined)
        #expect(try await fleet.client.redriveQuarantined() == 1)
        #expect(try await handle.status().nodes.first { $0.nodeID == "a" }?.state == .pending)
        #expect(try await fleet.drain() == [.completed, .completed])
        #expect(try await handle.result().output == 20)
        await fleet.shutdown()
    }

    @Test("A worker without the run's blueprint version leaves the job for one that has it")
    func versionPinning() async throws {
        let v1 = Workflow("pinned", version: "1") { Node("step") { _ in "v1" } }
        let v2 = Workflow("pinned", version: "2") { Node("step", uses: "step2") { _ in "v2" } }
        let fleet = try ManualFleet([v1, v2], workers: 1)
        let older = try ManualFleetWorker(fleet, [v1])
        let handle = try await fleet.client.start(v2.blueprint)
        let outcome = try await older.step()
        #expect(outcome == .left(reason: "this worker lacks blueprint \"pinned\" v2"))
        #expect(try await fleet.transport.depth(of: fleet.jobs) == 0)
        fleet.clock.advance(by: fleet.fleet.unknownBlueprintDelay)
        #expect(try await older.worker.fireDueTimers() == 1)  // handed back
        #expect(try await fleet.step() == .completed)  // by the worker that has v2
        #expect(try await handle.result().output == "v2")
        await fleet.shutdown()
    }

    @Test("Queue labels route nodes to the workers that serve them")
    func queueLabels() async throws {
        let ran = Trail()
        let workflow = Workflow("labels") {
            Node("cpu") { _ in 1 }
            Node("gpu") { context in JSONValue(context.input.intValue! + 1) }.queue("gpu")
            Chain("cpu", "gpu")
        }
        func worker(_ name: String, labels: Set<String>) -> Worker.Configuration {
            Worker.Configuration(
                concurrency: 1, queueLabels: labels,
                middleware: [.before { context in ran.add("\(name):\(context.nodeID)") }], logger: quiet)
        }
        let backends = WeftBackends.inMemory()
        let general = try await InProcessFleet.start(
            registry: workflow.registry, blueprints: [workflow.blueprint], workers: 1, backends: backends,
            worker: worker("general", labels: [""]), client: DistributedRuntime.Configuration(logger: quiet))
        let gpu = try Worker(
            registry: workflow.registry, blueprints: [workflow.blueprint], backends: backends,
            configuration: worker("gpu", labels: ["gpu"]))
        #expect(gpu.queues == ["weft.jobs.gpu"])
        let gpuTask = Task { try await gpu.run() }
        let result = try await general.run(workflow.blueprint)
        #expect(result.output == 2)
        #expect(ran.all == ["general:cpu", "gpu:gpu"])
        await gpu.shutdown()
        try await gpuTask.value
        await general.shutdown()
    }

    @Test("Status shows each node's state while a run is under way")
    func status() async throws {
        let fleet = try ManualFleet([Self.chain])
        let handle = try await fleet.client.start(Self.chain.blueprint, input: 1)
        #expect(try await handle.status().nodes.map(\.state) == [.pending, .pending])
        try await fleet.step()
        let status = try await handle.status()
        #expect(status.status == .running)
        #expect(status.nodes.map(\.state) == [.completed, .pending])
        #expect(status.nodes.map(\.attempts) == [1, 0])
        await #expect(throws: WeftError.self) { try await fleet.client.status("no-such-run") }
        await fleet.shutdown()
    }
}

/// A second worker on a ``ManualFleet``'s backends, with its own blueprints.
struct ManualFleetWorker {
    let fleet: ManualFleet
    let worker: Worker

    init(_ fleet: ManualFleet, _ workflows: [Workflow]) throws {
        self.fleet = fleet
        var registry = NodeRegistry()
        for workflow in workflows { registry.merge(workflow.registry) }
        var configuration = Worker.Configuration(
            concurrency: 1, clock: fleet.clock, reconcileInterval: nil, cancellationCheckInterval: nil, logger: quiet)
        configuration.maxInlineSuccessors = 0
        worker = try Worker(
            registry: registry, blueprints: workflows.map(\.blueprint), backends: fleet.backends, configuration: configuration)
    }

    func step() async throws -> DeliveryOutcome? {
        guard let delivery = try await fleet.take() else { return nil }
        return await worker.process(delivery)
    }
}

@Suite("Distributed runtime: retention")
struct RetentionTests {
    @Test("A finished run's records are deleted once its retention passes")
    func retention() async throws {
        let fleet = try ManualFleet([DistributedRuntimeTests.chain], fleet: FleetOptions(retention: .seconds(60)))
        let context = RunOptions(context: ["note": "kept until retention"])
        let handle = try await fleet.client.start(DistributedRuntimeTests.chain.blueprint, input: 1, options: context)
        try await fleet.drain()
        #expect(try await handle.result().output == 20)
        fleet.clock.advance(by: .seconds(59))
        #expect(try await fleet.workers[0].fireDueTimers() == 0)
        #expect(try await handle.result().context["note"] == "kept until retention")
        fleet.clock.advance(by: .seconds(1))
        #expect(try await fleet.workers[0].fireDueTimers() == 1)
        await #expect(throws: WeftError.self) { try await fleet.client.status(handle.runID) }
        let contexts = try #require(fleet.backends.contextStore as? InMemoryContextStore)
        let records = try #require(fleet.backends.coordinationStore as? InMemoryCoordinationStore)
        #expect(contexts.runCount == 0)
        #expect(records.runCount == 0)
        await fleet.shutdown()
    }
}
