import Synchronization
import Testing
import Weft
import WeftTesting

@Suite("Distributed runtime: inline successors")
struct InlineSuccessorTests {
    /// A chain n1 → … → n6, each adding one to its input; `ran` hears of every attempt.
    static func chain(_ ran: Trail) -> Workflow {
        Workflow("inline-chain") {
            for index in 1...6 {
                Node("n\(index)") { context in
                    ran.add(context.nodeID)
                    return JSONValue(context.input.intValue! + 1)
                }
            }
            Chain((1...6).map { "n\($0)" })
        }
    }

    static let nodes = (1...6).map { "n\($0)" }

    @Test("A chain runs within one delivery: every node once, nothing left on the queue, the same result")
    func chainInOneDelivery() async throws {
        let ran = Trail()
        let fleet = try ManualFleet([Self.chain(ran)], inline: 32)
        let handle = try await fleet.client.start(Self.chain(ran).blueprint, input: 0)
        #expect(try await fleet.step() == .completed)
        #expect(try await fleet.transport.depth(of: fleet.jobs) == 0)
        let result = try await handle.result()
        #expect(result.status == .completed)
        #expect(result.output == 6)
        #expect(ran.all == Self.nodes)
        #expect(fleet.workers[0].statistics.completed == 6)
        await fleet.shutdown()
    }

    @Test("The limit caps how many successors one delivery runs; the next is published")
    func limit() async throws {
        let ran = Trail()
        let fleet = try ManualFleet([Self.chain(ran)], inline: 2)
        let handle = try await fleet.client.start(Self.chain(ran).blueprint, input: 0)
        #expect(try await fleet.step() == .completed)
        #expect(ran.all == ["n1", "n2", "n3"])
        #expect(try await fleet.transport.depth(of: fleet.jobs) == 1)
        #expect(try await fleet.drain() == [.completed])
        #expect(try await handle.result().output == 6)
        #expect(ran.all == Self.nodes)
        await fleet.shutdown()
    }

    @Test("A crash part-way leaves the delivery unacked; its redelivery replays from the records, running only what has no result")
    func crashReplaysFromRecords() async throws {
        let ran = Trail()
        let harness = try CrashingFleet(Self.chain(ran), faults: CrashOnce(node: "n4", at: .executed))
        let handle = try await harness.client.start(harness.workflow.blueprint, input: 0)
        let deliveries = try await harness.drain()
        let outcomes = deliveries.map(\.outcome)
        let deliveryCounts = deliveries.map(\.count)
        // n1's delivery ran n1…n4 and crashed after n4 ran; redelivered, it only publishes n2
        // (recorded) without running anything, and n2's fresh delivery goes on inline.
        #expect(outcomes == [.crashed(at: .executed), .completed, .completed])
        #expect(deliveryCounts == [1, 2, 1])
        #expect(ran.all == ["n1", "n2", "n3", "n4", "n4", "n5", "n6"])
        #expect(try await harness.transport.deadLetters(of: harness.queue, limit: 10).isEmpty)
        #expect(try await handle.result().output == 6)
        await harness.shutdown()
    }

    @Test("A node that keeps crashing its workers inside a chain is still quarantined, under its own name")
    func crashLoopInsideChain() async throws {
        let ran = Trail()
        let harness = try CrashingFleet(Self.chain(ran), faults: CrashAlways(node: "n3"), fleet: FleetOptions(maxLostDeliveries: 2))
        let handle = try await harness.client.start(harness.workflow.blueprint, input: 0)
        let last = try await harness.drain(limit: 50).last?.outcome
        guard case .quarantined(let signature) = last else {
            Issue.record("expected a quarantine, got \(String(describing: last))")
            return
        }
        #expect(signature.contains("node \"n3\""))
        #expect(try await harness.transport.deadLetters(of: harness.queue, limit: 10).count == 1)
        let status = try await handle.status()
        #expect(status.nodes.first { $0.nodeID == "n3" }?.state == .quarantined)
        #expect(ran.count("n1") == 1 && ran.count("n2") == 1 && ran.count("n4") == 0)
        await harness.shutdown()
    }

    @Test("A successor on a queue the worker does not serve is published to that queue")
    func unservedQueue() async throws {
        let workflow = Workflow("inline-labels") {
            Node("cpu") { _ in 1 }
            Node("gpu") { context in JSONValue(context.input.intValue! + 1) }.queue("gpu")
            Chain("cpu", "gpu")
        }
        let fleet = try ManualFleet([workflow])
        var configuration = Worker.Configuration(
            concurrency: 1, queueLabels: [""], reconcileInterval: nil, cancellationCheckInterval: nil, logger: quiet)
        configuration.maxInlineSuccessors = 32
        let general = try Worker(
            registry: workflow.registry, blueprints: [workflow.blueprint], backends: fleet.backends, configuration: configuration)
        let handle = try await fleet.client.start(workflow.blueprint)
        let gpuQueue = fleet.fleet.jobQueue(label: "gpu")
        try await fleet.transport.declare(gpuQueue)
        #expect(await general.process(try #require(try await fleet.take())) == .completed)
        #expect(try await fleet.transport.depth(of: gpuQueue) == 1)
        #expect(try await fleet.drain(queue: gpuQueue) == [.completed])
        #expect(try await handle.result().output == 2)
        await fleet.shutdown()
    }

    @Test("A stopping worker publishes successors instead of running them, to keep its drain short")
    func stoppingWorkerPublishes() async throws {
        let ran = Trail()
        let fleet = try ManualFleet([Self.chain(ran)], inline: 32)
        let handle = try await fleet.client.start(Self.chain(ran).blueprint, input: 0)
        await fleet.workers[0].shutdown()
        #expect(try await fleet.step() == .completed)
        #expect(ran.all == ["n1"])
        #expect(try await fleet.transport.depth(of: fleet.jobs) == 1)
        try await fleet.drain()
        #expect(try await handle.result().output == 6)
        await fleet.shutdown()
    }

    @Test("A worker that begins to stop while a node runs publishes that node's successor instead of running it")
    func stopDuringJob() async throws {
        let started = Gate()
        let release = Gate()
        let ran = Trail()
        let workflow = Workflow("inline-stop") {
            Node("slow") { context in
                ran.add("slow")
                started.open()
                await release.wait()
                return context.input
            }
            Node("next") { context in
                ran.add("next")
                return context.input
            }
            Chain("slow", "next")
        }
        let fleet = try ManualFleet([workflow], inline: 32)
        let handle = try await fleet.client.start(workflow.blueprint, input: 1)
        let delivery = try #require(try await fleet.take())
        let processing = Task { await fleet.workers[0].process(delivery) }
        await started.wait()
        await fleet.workers[0].shutdown()
        release.open()
        #expect(await processing.value == .completed)
        #expect(ran.all == ["slow"])
        #expect(try await fleet.transport.depth(of: fleet.jobs) == 1)
        try await fleet.drain()
        #expect(try await handle.result().output == 1)
        await fleet.shutdown()
    }
}

/// One worker with inline successors and a fault injector on in-memory backends, and a client;
/// the test hands the worker each delivery.
private struct CrashingFleet {
    let workflow: Workflow
    let transport = InMemoryQueueTransport()
    let worker: Worker
    let client: DistributedRuntime
    var queue: String { worker.queues[0] }

    init(_ workflow: Workflow, faults: any FaultInjector, fleet: FleetOptions = FleetOptions()) throws {
        self.workflow = workflow
        let backends = WeftBackends(
            transport: transport, contextStore: InMemoryContextStore(), coordinationStore: InMemoryCoordinationStore())
        var configuration = Worker.Configuration(
            fleet: fleet, concurrency: 1, reconcileInterval: nil, cancellationCheckInterval: nil, logger: quiet)
        configuration.faults = faults
        configuration.maxInlineSuccessors = 32
        worker = try Worker(registry: workflow.registry, blueprints: [workflow.blueprint], backends: backends, configuration: configuration)
        client = try DistributedRuntime(
            registry: workflow.registry, backends: backends, configuration: DistributedRuntime.Configuration(fleet: fleet, logger: quiet))
    }

    /// Hands the worker each delivery until none waits (or `limit` were handled): their outcomes
    /// and delivery counts.
    func drain(limit: Int = 100) async throws -> [(outcome: DeliveryOutcome, count: Int)] {
        var handled: [(outcome: DeliveryOutcome, count: Int)] = []
        while try await transport.depth(of: queue) > 0, handled.count < limit {
            let consumer = try await transport.consume(queue, prefetch: 1)
            var iterator = consumer.makeAsyncIterator()
            let delivery = try #require(try await iterator.next())
            await consumer.stop()
            handled.append((await worker.process(delivery), delivery.deliveryCount))
        }
        return handled
    }

    func shutdown() async {
        await client.shutdown()
        await transport.shutdown()
    }
}

/// Crashes the worker once, at `step` of `node`.
private final class CrashOnce: FaultInjector {
    let node: String
    let step: WorkerStep
    private let crashed = Mutex(false)

    init(node: String, at step: WorkerStep) {
        self.node = node
        self.step = step
    }

    func checkpoint(_ step: WorkerStep, envelope: Envelope) async throws {
        guard envelope.nodeID == node, step == self.step else { return }
        if crashed.withLock({ let was = $0; $0 = true; return was }) { return }
        throw SimulatedCrash(step: step)
    }
}

/// Crashes the worker every time `node` has run, before its result is recorded.
private struct CrashAlways: FaultInjector {
    let node: String

    func checkpoint(_ step: WorkerStep, envelope: Envelope) async throws {
        if envelope.nodeID == node, step == .executed { throw SimulatedCrash(step: step) }
    }
}
