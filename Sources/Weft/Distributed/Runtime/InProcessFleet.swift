import Logging

/// A fleet inside this process: a client and `workers` workers over one set of backends
/// (in memory by default). What tests and samples use to run blueprints "distributed" without
/// a broker; the same code runs unchanged on real backends.
///
/// ```swift
/// let fleet = try await InProcessFleet.start(registry: registry, blueprints: [blueprint], workers: 3)
/// let result = try await fleet.run(blueprint, input: ["orderId": "A-17"])
/// await fleet.shutdown()
/// ```
public final class InProcessFleet: Sendable {
    /// The client.
    public let client: DistributedRuntime
    /// The workers.
    public let workers: [Worker]
    /// The backends they share.
    public let backends: WeftBackends
    private let tasks: [Task<Void, any Error>]

    private init(client: DistributedRuntime, workers: [Worker], backends: WeftBackends, tasks: [Task<Void, any Error>]) {
        self.client = client
        self.workers = workers
        self.backends = backends
        self.tasks = tasks
    }

    /// Starts `workers` workers for `blueprints` over `backends`, and a client.
    ///
    /// - Throws: ``WeftError`` when a blueprint is invalid.
    public static func start(
        registry: NodeRegistry, blueprints: [Blueprint], workers count: Int = 2, backends: WeftBackends = .inMemory(),
        worker configuration: Worker.Configuration = Worker.Configuration(),
        client clientConfiguration: DistributedRuntime.Configuration = DistributedRuntime.Configuration()
    ) async throws -> InProcessFleet {
        var workers: [Worker] = []
        var tasks: [Task<Void, any Error>] = []
        for index in 0..<max(1, count) {
            var configuration = configuration
            configuration.logger[metadataKey: "weft.worker"] = "\(index)"
            let worker = try Worker(registry: registry, blueprints: blueprints, backends: backends, configuration: configuration)
            workers.append(worker)
            tasks.append(Task { try await worker.run() })
        }
        let client = try DistributedRuntime(registry: registry, backends: backends, configuration: clientConfiguration)
        for blueprint in blueprints { try client.catalog.register(blueprint) }
        return InProcessFleet(client: client, workers: workers, backends: backends, tasks: tasks)
    }

    /// Runs `blueprint` on the fleet and waits for its result.
    public func run(_ blueprint: Blueprint, input: JSONValue = .null, options: RunOptions = RunOptions()) async throws
        -> RunResult
    {
        try await client.start(blueprint, input: input, options: options).result()
    }

    /// Stops the workers gracefully (jobs in hand finish) and the client.
    public func shutdown() async {
        for worker in workers { await worker.shutdown() }
        for task in tasks { _ = try? await task.value }
        await client.shutdown()
    }
}
