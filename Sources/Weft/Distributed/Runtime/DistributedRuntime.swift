import Foundation
import Logging
import Synchronization

/// The client of a worker fleet: starts runs, waits for their results, inspects and cancels
/// them. The fleet's ``Worker``s run the nodes; this type runs none.
///
/// The same blueprint and node code run here as under ``LocalRuntime``, with the same results:
/// switching is configuration.
///
/// ```swift
/// let backends = WeftBackends.inMemory()
/// let runtime = try DistributedRuntime(registry: registry, backends: backends)
/// let handle = try await runtime.start(blueprint, input: ["orderId": "A-17"])
/// let result = try await handle.result()
/// ```
public final class DistributedRuntime: Sendable {
    /// How the client runs.
    public struct Configuration: Sendable {
        /// Settings the whole fleet shares.
        public var fleet: FleetOptions
        /// Names this client's reply queue, on which it hears that its runs ended. Unique per
        /// client process; random by default.
        public var clientID: String
        /// How often ``DistributedRuntime/result(_:)`` reads a run's status when no
        /// announcement arrives (a run started by another client). Default 1 s.
        public var resultPollInterval: Duration
        /// The logger.
        public var logger: Logger

        /// Creates a configuration; every member has a default.
        public init(
            fleet: FleetOptions = FleetOptions(), clientID: String = String(UInt64.random(in: 1...UInt64.max), radix: 36),
            resultPollInterval: Duration = .seconds(1), logger: Logger = Logger(label: "weft.client")
        ) {
            self.fleet = fleet
            self.clientID = clientID
            self.resultPollInterval = resultPollInterval
            self.logger = logger
        }
    }

    private struct ListenerState {
        var started = false
        /// Whether the reply queue was declared (once is enough: a transport that loses its
        /// broker declares what it declared again).
        var replyQueueDeclared = false
        var consumer: QueueConsumer?
        var task: Task<Void, Never>?
        /// Wakes every waiter periodically, to read the store.
        var ticker: Task<Void, Never>?
    }

    /// The blueprints this client can start.
    public let catalog: BlueprintCatalog
    /// Its backends.
    public let backends: WeftBackends
    /// How it runs.
    public let configuration: Configuration
    let coordinator: RunCoordinator
    private let announcements = RunAnnouncements()
    /// Subscribers to the events of this client's runs, and the runs started while someone
    /// listened (their events come from the workers; their end is told here).
    private let bus = RunEventBus()
    private let reportedRuns = Mutex<Set<String>>([])
    private let listener = Mutex(ListenerState())
    private let runIDs = RunIDGenerator()
    /// Queues this client declared already.
    private let declared = Mutex<Set<String>>([])

    /// Creates a client over `backends` for the blueprints of `catalog` (``start(_:input:options:)``
    /// adds the blueprints it is given).
    public init(catalog: BlueprintCatalog, backends: WeftBackends, configuration: Configuration = Configuration()) {
        self.catalog = catalog
        self.backends = backends
        self.configuration = configuration
        self.coordinator = RunCoordinator(
            backends: backends, catalog: catalog, options: configuration.fleet, execution: .init(),
            logger: configuration.logger)
    }

    /// Creates a client whose blueprints compile against `registry`.
    public convenience init(
        registry: NodeRegistry, backends: WeftBackends, configuration: Configuration = Configuration()
    ) throws {
        self.init(
            catalog: try BlueprintCatalog(registry: registry, options: configuration.fleet), backends: backends,
            configuration: configuration)
    }

    /// The queue on which this client hears that its runs ended.
    public var replyQueue: String { configuration.fleet.replyQueue(client: configuration.clientID) }

    /// Starts a run of `blueprint` on the fleet and returns at once. Starting a run id that
    /// exists changes nothing and returns its handle.
    ///
    /// - Throws: ``WeftError`` when the blueprint is invalid, or when a backend fails.
    public func start(_ blueprint: Blueprint, input: JSONValue = .null, options: RunOptions = RunOptions()) async throws
        -> DistributedRunHandle
    {
        try await start(blueprint, input: input, options: options, delay: nil)
    }

    private func start(_ blueprint: Blueprint, input: JSONValue, options: RunOptions, delay: Duration?) async throws
        -> DistributedRunHandle
    {
        if let runID = options.runID { try Identifier.check(runID, as: .run) }
        try catalog.register(blueprint)
        guard let plan = catalog.plan(id: blueprint.id, version: blueprint.version) else {
            throw WeftError(.unknownBlueprint, "Blueprint \"\(blueprint.id)\" v\(blueprint.version) is not registered")
        }
        try await coordinator.claims.claimStore()
        try await coordinator.claims.check([blueprint])
        try await startListening()
        for queue in plan.queues where !declared.withLock({ $0.contains(queue) }) {
            try await backends.transport.declare(queue)
            declared.withLock { _ = $0.insert(queue) }
        }
        let runID = options.runID ?? runIDs.next()
        let reportsEvents = bus.hasSubscribers
        if reportsEvents { reportedRuns.withLock { _ = $0.insert(runID) } }
        let started = try await coordinator.starter.start(
            plan: plan, input: input, runID: runID, options: options, replyTo: replyQueue, delay: delay, reportsEvents: reportsEvents)
        if reportsEvents && started {
            bus.emit(RunEvent(runID: runID, kind: .runStarted(blueprintID: blueprint.id, version: blueprint.version)))
        }
        return DistributedRunHandle(runID: runID, runtime: self)
    }

    /// The events of the runs this client starts from now on, as ``LocalRuntime/events()``
    /// gives them: the run started, each node started, finished, failed, retrying, waiting or
    /// skipped, each edge taken or skipped, the run finished. The workers send them to this
    /// client's reply queue, several to a message, only for runs started while someone
    /// listens (a run costs nothing more otherwise). They are not durable: a broker restart
    /// may lose some; the run's result never depends on them.
    public func events() -> AsyncStream<RunEvent> {
        bus.subscribe()
    }

    /// Starts a run of `blueprint` once `delay` has passed. The run is recorded now and its start
    /// jobs wait in durable timers in the state store, so the start survives worker and broker
    /// restarts; cancelling the run before then means it never starts.
    public func start(
        _ blueprint: Blueprint, input: JSONValue = .null, options: RunOptions = RunOptions(), after delay: Duration
    ) async throws -> DistributedRunHandle {
        try await start(blueprint, input: input, options: options, delay: max(delay, .zero))
    }

    /// Starts a run of `blueprint` at `date` (wall-clock time); see ``start(_:input:options:after:)``.
    public func start(_ blueprint: Blueprint, input: JSONValue = .null, options: RunOptions = RunOptions(), at date: Date)
        async throws -> DistributedRunHandle
    {
        let delay = max(0, date.timeIntervalSinceNow)
        return try await start(blueprint, input: input, options: options, delay: .nanoseconds(Int64(delay * 1e9)))
    }

    /// Resumes a node that waits for a signal (``Node/waitForSignal(_:actions:timeout:timeoutAction:)``):
    /// it ends with `payload` as output and `action`, which routes its edges like an action its
    /// code returned. The signal goes to the node's queue; a worker records it.
    ///
    /// - Throws: ``WeftError``: ``WeftError/Code/unknownRun``; ``WeftError/Code/runFinished``
    ///   for a run that ended; ``WeftError/Code/notWaiting`` when the node is not a wait, was not
    ///   reached yet or was already resumed; ``WeftError/Code/invalidSignal`` for an action the
    ///   node does not declare.
    public func signal(runID: String, nodeID: String, action: String, payload: JSONValue = .null) async throws {
        try await coordinator.control.signal(run: runID, nodeID: nodeID, action: action, payload: payload)
    }

    /// Waits for run `runID` to end and returns its result, built from its records.
    ///
    /// - Throws: ``WeftError`` with code ``WeftError/Code/unknownRun`` for a run the store does
    ///   not know; `CancellationError` when the calling task is cancelled.
    public func result(_ runID: String) async throws -> RunResult {
        while true {
            let waiter = announcements.register(runID)
            defer { announcements.unregister(runID, waiter) }
            if let result = try await coordinator.inspector.runResult(runID) { return result }
            await waiter.wait()
            try Task.checkCancellation()
        }
    }

    /// How many ``result(_:)`` calls wait for an announcement (for tests).
    var resultsAwaited: Int { announcements.waitingCount }

    /// Where run `runID` stands: its status and each node's.
    public func status(_ runID: String) async throws -> DistributedRunStatus {
        try await coordinator.inspector.status(runID)
    }

    /// Cancels run `runID`: nothing new starts, and attempts still running end without
    /// effect. Returns the run's status afterwards (a run that had already ended keeps its status).
    @discardableResult
    public func cancel(_ runID: String) async throws -> RunStatus {
        try await coordinator.finisher.cancel(runID).status
    }

    /// Moves up to `limit` quarantined jobs back onto their queues, with their lost-delivery
    /// count reset, and clears their runs' quarantine marks. Returns how many moved.
    @discardableResult
    public func redriveQuarantined(limit: Int = 100) async throws -> Int {
        var moved = 0
        let queues = catalog.jobQueues.union([configuration.fleet.jobQueue(label: nil)])
        for queue in queues.sorted() where moved < limit {
            let redriven = Mutex<[Envelope]>([])
            moved += try await backends.transport.redriveDeadLetters(of: queue, limit: limit - moved) { letter in
                guard letter.reason.hasPrefix("quarantined"), let envelope = try? Envelope(decoding: letter.message.body)
                else { return false }
                redriven.withLock { $0.append(envelope) }
                return true
            }
            for envelope in redriven.withLock({ $0 }) {
                guard let plan = catalog.plan(id: envelope.blueprintID, version: envelope.blueprintVersion),
                    let node = plan.plan.indexByID[envelope.nodeID]
                else { continue }
                // Cleared, not removed: an empty mark is no quarantine.
                let key = RunKeys.quarantine(envelope.runID, node, envelope.iteration)
                if let mark = try await backends.coordinationStore.value(at: key), !mark.isEmpty {
                    _ = try await backends.coordinationStore.compareAndSet(key, expected: mark, new: [], fence: nil)
                }
            }
        }
        if moved > 0 { configuration.logger.info("re-drove quarantined jobs", metadata: ["weft.count": "\(moved)"]) }
        return moved
    }

    /// Stops listening for the end of runs. Waiting ``result(_:)`` calls fall back to reading
    /// the store.
    public func shutdown() async {
        let (consumer, task, ticker) = listener.withLock { ($0.consumer, $0.task, $0.ticker) }
        ticker?.cancel()
        await consumer?.stop()
        await task?.value
        announcements.announceAll()
        bus.finish()
    }

    private func startListening() async throws {
        // Declared before any run of this client can end: callers wait for it until one
        // declaration succeeded (on a broker, a declaration is several round trips, which must
        // not be paid again by every start).
        if !listener.withLock({ $0.replyQueueDeclared }) {
            try await backends.transport.declare(replyQueue)
            listener.withLock { $0.replyQueueDeclared = true }
        }
        let first = listener.withLock { state in
            defer { state.started = true }
            return !state.started
        }
        guard first else { return }
        let transport = backends.transport
        let consumer = try await transport.consume(replyQueue, prefetch: 64)
        let announcements = self.announcements
        let logger = configuration.logger
        let task = Task { [self] in
            do {
                for try await delivery in consumer {
                    guard let envelope = try? Envelope(decoding: delivery.body) else {
                        try? await delivery.deadLetter(reason: "not a run announcement")
                        continue
                    }
                    switch envelope.kind {
                    case .runFinished:
                        var ended = [envelope.runID]
                        // Under load, one message names several runs (AnnouncementBatcher).
                        if case .array(let others) = envelope.payload {
                            for case .string(let run) in others { ended.append(run) }
                        }
                        for run in ended { announcements.announce(run) }
                        await tellEnds(of: ended)
                        try? await delivery.ack()
                    case .event:
                        do {
                            try tellEvents(envelope)
                            try? await delivery.ack()
                        } catch {
                            try? await delivery.deadLetter(reason: "\(error)")
                        }
                    case .job, .resume:
                        try? await delivery.deadLetter(reason: "not a run announcement")
                    }
                }
            } catch {
                logger.warning("the reply listener stopped", metadata: ["weft.error": "\(error)"])
            }
        }
        let interval = configuration.resultPollInterval
        let ticker = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                announcements.announceAll()
            }
        }
        listener.withLock { state in
            state.consumer = consumer
            state.task = task
            state.ticker = ticker
        }
    }
}

extension DistributedRuntime {
    /// Emits the events a worker sent for one of this client's runs.
    fileprivate func tellEvents(_ envelope: Envelope) throws(WeftError) {
        guard reportedRuns.withLock({ $0.contains(envelope.runID) }), case .array(let kinds) = envelope.payload else {
            throw WeftError(.malformedMessage, "Run events for a run this client did not ask events of, or not a list")
        }
        let events = try kinds.map { value throws(WeftError) in RunEvent(runID: envelope.runID, kind: try RunEvent.Kind(wire: value)) }
        for event in events { bus.emit(event) }
    }

    /// Emits the end of those of `runs` whose events this client reports, with their status.
    fileprivate func tellEnds(of runs: [String]) async {
        let reported = reportedRuns.withLock { reported in runs.filter { reported.remove($0) != nil } }
        for run in reported {
            guard let terminal = try? await coordinator.ledger.terminal(run) else { continue }
            bus.emit(RunEvent(runID: run, kind: .runFinished(status: terminal.status)))
        }
    }
}

/// A run started on the fleet.
public struct DistributedRunHandle: Sendable {
    /// The run's id.
    public let runID: String
    let runtime: DistributedRuntime

    /// Waits for the run to end.
    public func result() async throws -> RunResult { try await runtime.result(runID) }

    /// Where the run stands.
    public func status() async throws -> DistributedRunStatus { try await runtime.status(runID) }

    /// Cancels the run.
    @discardableResult
    public func cancel() async throws -> RunStatus { try await runtime.cancel(runID) }
}
