import Logging
import Weft
import WeftTesting

/// A fleet driven by hand: in-memory backends on a manual clock, a client, and workers whose
/// loops do not run; the test takes each delivery and hands it to a worker, fires timers and
/// reconciles when it chooses. Nothing depends on timing. Workers run one job per delivery
/// unless `inline` lets them run successors themselves (``Worker/Configuration/maxInlineSuccessors``).
struct ManualFleet {
    let clock = ManualClock()
    let transport = InMemoryQueueTransport()
    let backends: WeftBackends
    let client: DistributedRuntime
    let workers: [Worker]
    let fleet: FleetOptions

    init(
        _ workflows: [Workflow], workers count: Int = 1, fleet: FleetOptions = FleetOptions(), inline: Int = 0,
        faults: [Int: any FaultInjector] = [:]
    ) throws {
        let backends = WeftBackends(
            transport: transport, contextStore: InMemoryContextStore(),
            coordinationStore: InMemoryCoordinationStore(clock: StoreClock(clock)))
        self.backends = backends
        var registry = NodeRegistry()
        for workflow in workflows { registry.merge(workflow.registry) }
        var configuration = Worker.Configuration(
            fleet: fleet, concurrency: 1, clock: self.clock, reconcileInterval: nil, cancellationCheckInterval: nil,
            logger: quiet)
        configuration.maxInlineSuccessors = inline
        workers = try (0..<count).map { index in
            var configuration = configuration
            configuration.faults = faults[index]
            return try Worker(
                registry: registry, blueprints: workflows.map(\.blueprint), backends: backends, configuration: configuration)
        }
        client = try DistributedRuntime(
            registry: registry, backends: backends,
            configuration: DistributedRuntime.Configuration(fleet: fleet, clientID: "test", logger: quiet))
        self.fleet = fleet
    }

    var jobs: String { fleet.jobQueue(label: nil) }

    /// The next delivery of `queue`, if one waits.
    func take(from queue: String? = nil) async throws -> QueueDelivery? {
        let queue = queue ?? jobs
        try await transport.declare(queue)
        guard try await transport.depth(of: queue) > 0 else { return nil }
        let consumer = try await transport.consume(queue, prefetch: 1)
        var iterator = consumer.makeAsyncIterator()
        let delivery = try await iterator.next()
        await consumer.stop()
        return delivery
    }

    /// Hands the next delivery to worker `worker`; `nil` when none waits.
    @discardableResult
    func step(worker: Int = 0, queue: String? = nil) async throws -> DeliveryOutcome? {
        guard let delivery = try await take(from: queue) else { return nil }
        return await workers[worker].process(delivery)
    }

    /// Steps until no delivery waits; returns the outcomes.
    @discardableResult
    func drain(worker: Int = 0, queue: String? = nil) async throws -> [DeliveryOutcome] {
        var outcomes: [DeliveryOutcome] = []
        while let outcome = try await step(worker: worker, queue: queue) { outcomes.append(outcome) }
        return outcomes
    }

    func publish(_ bytes: [UInt8], to queue: String? = nil) async throws {
        try await transport.declare(queue ?? jobs)
        try await transport.publish(QueueMessage(body: bytes), to: queue ?? jobs)
    }

    func shutdown() async {
        await client.shutdown()
        await transport.shutdown()
    }
}

/// A logger that stays quiet below errors.
let quiet: Logger = {
    var logger = Logger(label: "weft.test")
    logger.logLevel = .error
    return logger
}()
