/// Settings every process of a fleet must agree on: queue names and the rules of recovery.
public struct FleetOptions: Sendable {
    /// Prefixes every queue name, so that several deployments can share a broker. Default `weft`.
    public var queuePrefix: String
    /// How many deliveries of one job may be lost (the worker died before settling it) before
    /// the job is quarantined instead of run again. Default 5.
    public var maxLostDeliveries: Int
    /// How long a run may go without progress before the reconciler re-publishes what its
    /// records say is ready. Default 30 s.
    public var stallTimeout: Duration
    /// How long a worker owns a timer it claimed before another may fire it. Default 30 s.
    public var timerClaim: Duration
    /// How long a job for a blueprint version this worker lacks waits before it is offered
    /// again. Default 1 s.
    public var unknownBlueprintDelay: Duration
    /// How long a finished run's records stay readable (its result, status and context) before
    /// they are deleted from the stores; `nil` keeps them forever. Default one hour.
    public var retention: Duration?
    /// The largest message the fleet carries, in bytes: a run's input, a node's record (its
    /// output, which its successors' jobs carry) and any delivery. Larger ones are refused with
    /// ``WeftError/Code/payloadTooLarge``: a start throws, a node fails (not retried), a
    /// delivery is dead-lettered. Default 8 MiB (RabbitMQ's own limit is 128 MiB).
    public var maxMessageSize: Int
    /// How many times a job goes back on its queue because a backend failed before it is
    /// dead-lettered with the error: a failure that retrying cannot fix must not bring it back
    /// for ever. A failure a backend reports as permanent (``BackendFailure``) dead-letters it at
    /// once. Counted where the transport counts retries (``QueueDelivery/retries``; the in-memory
    /// and AMQP transports do). Default 100: with the worker's back-off of up to 5 s, a lone
    /// job rides out several minutes of outage; re-drive the dead letters after a longer one.
    public var maxBackendRetries: Int

    /// Creates options; every member has a default.
    public init(
        queuePrefix: String = "weft", maxLostDeliveries: Int = 5, stallTimeout: Duration = .seconds(30),
        timerClaim: Duration = .seconds(30), unknownBlueprintDelay: Duration = .seconds(1),
        retention: Duration? = .seconds(3600), maxMessageSize: Int = 8 << 20, maxBackendRetries: Int = 100
    ) {
        self.maxBackendRetries = max(1, maxBackendRetries)
        self.queuePrefix = queuePrefix
        self.maxLostDeliveries = maxLostDeliveries
        self.stallTimeout = stallTimeout
        self.timerClaim = timerClaim
        self.unknownBlueprintDelay = unknownBlueprintDelay
        self.retention = retention
        self.maxMessageSize = max(1024, maxMessageSize)
    }

    /// The queue of jobs for nodes with queue label `label` (`nil`: the default queue):
    /// `<prefix>.jobs` or `<prefix>.jobs.<label>`.
    public func jobQueue(label: String?) -> String {
        guard let label, !label.isEmpty else { return queuePrefix + ".jobs" }
        return queuePrefix + ".jobs." + label
    }

    /// The queue on which client `client` hears that its runs ended: `<prefix>.replies.<client>`.
    public func replyQueue(client: String) -> String {
        queuePrefix + ".replies." + client
    }
}

/// The three backends a distributed runtime runs on.
public struct WeftBackends: Sendable {
    /// Moves jobs.
    public var transport: any QueueTransport
    /// Holds runs' contexts.
    public var contextStore: any ContextStore
    /// Holds runs' records and coordinates workers.
    public var coordinationStore: any CoordinationStore

    /// Creates a set of backends.
    public init(transport: any QueueTransport, contextStore: any ContextStore, coordinationStore: any CoordinationStore) {
        self.transport = transport
        self.contextStore = contextStore
        self.coordinationStore = coordinationStore
    }

    /// Fresh in-memory backends, shared by every worker and client given them: a fleet inside
    /// one process. Leases and timers follow `clock`.
    public static func inMemory(clock: StoreClock = .continuous) -> WeftBackends {
        WeftBackends(
            transport: InMemoryQueueTransport(), contextStore: InMemoryContextStore(),
            coordinationStore: InMemoryCoordinationStore(clock: clock))
    }
}
