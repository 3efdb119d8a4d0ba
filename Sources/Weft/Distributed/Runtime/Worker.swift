import Foundation
import Logging
import Synchronization

/// Takes jobs from the queues of a fleet and runs their nodes, with the same node registry and
/// the same pure engine as ``LocalRuntime``.
///
/// A worker follows design §4 for every job: it reads the run's records, drops the job if the
/// run is over or the node already has a result, runs the node, records the result
/// (set-if-absent, fenced), resolves the edges, records join arrivals per edge, publishes the
/// nodes that became ready, and acks last. It also fires the durable timers that come due
/// (retries, deadlines) and reconciles stalled runs. Start as many workers as you like, in one
/// process or many: they share nothing but the backends.
///
/// ```swift
/// let backends = WeftBackends.inMemory()
/// let worker = try Worker(registry: registry, blueprints: [blueprint], backends: backends)
/// try await worker.run()  // until shutdown() or cancellation
/// ```
public final class Worker: Sendable {
    /// How a worker runs.
    public struct Configuration: Sendable {
        /// Settings the whole fleet shares.
        public var fleet: FleetOptions
        /// How many jobs this worker handles at once. Defaults to the number of cores.
        public var concurrency: Int
        /// The queue labels this worker serves (`""` is the default queue); `nil`, the default,
        /// serves every queue its blueprints use. A pool of workers with special hardware
        /// serves only its label.
        public var queueLabels: Set<String>?
        /// Middleware around every node attempt and fallback, the first outermost.
        public var middleware: [any NodeMiddleware]
        /// Shared dependencies handed to node code.
        public var dependencies: Dependencies
        /// The clock for node timeouts and for the worker's own loops. Use the same manual
        /// clock as the stores in tests.
        public var clock: any Clock<Duration>
        /// The longest the timer loop sleeps before it looks for due timers again: timers
        /// scheduled by other processes are found within this. Default 1 s.
        public var timerPollInterval: Duration
        /// How often the worker looks for stalled runs; `nil` turns reconciliation off. Default 5 s.
        public var reconcileInterval: Duration?
        /// How often the worker checks, in one read, whether the runs of the attempts it has in
        /// hand have ended elsewhere (cancelled, failed), and cancels those attempts: an
        /// attempt hears of its run's cancellation within about this interval. `nil` turns the
        /// check off. Default 50 ms.
        public var cancellationCheckInterval: Duration?
        /// Crashes the worker between steps, for fault-injection tests (the seeded fault
        /// simulator). `nil` in production; not part of the public API.
        package var faults: (any FaultInjector)?
        /// Where nodes declared blocking run. Default: the process's shared pool (one thread per core).
        public var blockingExecutor: BlockingExecutor = .shared
        /// How many successors in a row the worker may run itself within one delivery, when a
        /// node completes with exactly one ready successor on a queue this worker serves,
        /// instead of publishing each to its queue; `0` publishes every job. The delivery is
        /// acked only after the whole chain's records are written, and a crash part-way replays
        /// the chain from the records. Default 32.
        public var maxInlineSuccessors: Int = 32
        /// The logger.
        public var logger: Logger

        /// Creates a configuration; every member has a default.
        public init(
            fleet: FleetOptions = FleetOptions(), concurrency: Int = ProcessInfo.processInfo.activeProcessorCount,
            queueLabels: Set<String>? = nil, middleware: [any NodeMiddleware] = [], dependencies: Dependencies = Dependencies(),
            clock: any Clock<Duration> = ContinuousClock(), timerPollInterval: Duration = .seconds(1),
            reconcileInterval: Duration? = .seconds(5), cancellationCheckInterval: Duration? = .milliseconds(50),
            logger: Logger = Logger(label: "weft.worker")
        ) {
            self.fleet = fleet
            self.concurrency = concurrency
            self.queueLabels = queueLabels
            self.middleware = middleware
            self.dependencies = dependencies
            self.clock = clock
            self.timerPollInterval = timerPollInterval
            self.reconcileInterval = reconcileInterval
            self.cancellationCheckInterval = cancellationCheckInterval
            self.faults = nil
            self.logger = logger
        }
    }

    /// Counts of what this worker did with its deliveries.
    public struct Statistics: Sendable, Hashable {
        /// Jobs whose effects were recorded and acked.
        public var completed = 0
        /// Attempts that failed and were scheduled to retry.
        public var retriesScheduled = 0
        /// Jobs acked without effect (their run was over, a stale attempt).
        public var dropped = 0
        /// Jobs handed back for a worker with their blueprint version.
        public var left = 0
        /// Jobs dead-lettered as unusable.
        public var deadLettered = 0
        /// Jobs quarantined after crashing workers.
        public var quarantined = 0
        /// Jobs put back after a backend failure.
        public var requeued = 0
        /// Deliveries a fault injector crashed.
        public var crashed = 0

        /// All zero.
        public init() {}
    }

    /// One consumer of the worker: its consuming task (cancelled to cancel the attempt in hand
    /// when its run ends elsewhere) and the run of the job in hand.
    private struct Slot {
        var consumer: QueueConsumer?
        var task: Task<Void, Never>?
        let job = SlotJob()
    }

    /// The job a slot has in hand, behind the slot's own lock (so that slots never wait for
    /// each other to note it). Each job it notes gets a new number, so that the cancellation
    /// loop cancels the job it checked and never the one the slot took up since.
    final class SlotJob: Sendable {
        struct Current {
            var run: String
            var node: String
            var attempt: Int
            var since: ContinuousClock.Instant
            /// Which job of the slot this is.
            var number: UInt64
        }

        private struct State {
            var current: Current?
            var count: UInt64 = 0
        }

        private let state = Mutex(State())

        func set(_ envelope: Envelope, at now: ContinuousClock.Instant) {
            state.withLock { state in
                state.count &+= 1
                state.current = Current(
                    run: envelope.runID, node: envelope.nodeID, attempt: envelope.attempt, since: now, number: state.count)
            }
        }

        func clear() {
            state.withLock { $0.current = nil }
        }

        var current: Current? { state.withLock { $0.current } }

        /// Cancels `task`, the slot's consuming task, if job `number` is still in hand: under the
        /// slot's lock, so that the slot cannot take up another job in between. Returns whether
        /// it cancelled.
        func cancel(_ task: Task<Void, Never>, ifStillHandling number: UInt64) -> Bool {
            state.withLock { state in
                guard state.current?.number == number else { return false }
                task.cancel()
                return true
            }
        }
    }

    /// A job a worker is handling now.
    public struct JobInHand: Sendable, Hashable {
        /// Its run.
        public var runID: String
        /// Its node.
        public var nodeID: String
        /// Its attempt.
        public var attempt: Int
        /// How long it has been in hand.
        public var elapsed: Duration
    }

    /// The jobs this worker is handling now.
    public var jobsInHand: [JobInHand] {
        let now = ContinuousClock.now
        return runState.withLock { state in
            state.slots.compactMap { slot in
                slot.job.current.map {
                    JobInHand(runID: $0.run, nodeID: $0.node, attempt: $0.attempt, elapsed: $0.since.duration(to: now))
                }
            }
        }
    }

    private struct RunState {
        var slots: [Slot] = []
        var stopping = false
    }

    /// The blueprints this worker can run.
    public let catalog: BlueprintCatalog
    /// Its backends.
    public let backends: WeftBackends
    /// How it runs.
    public let configuration: Configuration
    let coordinator: RunCoordinator
    private let wakeup = WakeupSignal()
    private let runState = Mutex(RunState())
    private let counts = WorkerCounters()
    private let limiter: ConcurrencyLimiter
    /// The successors this worker runs inline, if any.
    private let inline: InlineSuccessors?

    /// Creates a worker for the blueprints of `catalog`.
    public init(catalog: BlueprintCatalog, backends: WeftBackends, configuration: Configuration = Configuration()) {
        self.catalog = catalog
        self.backends = backends
        self.configuration = configuration
        self.limiter = ConcurrencyLimiter(limit: max(1, configuration.concurrency))
        self.inline =
            configuration.maxInlineSuccessors > 0
            ? InlineSuccessors(
                queues: Set(Self.queues(catalog: catalog, configuration: configuration)), limit: configuration.maxInlineSuccessors)
            : nil
        let wakeup = self.wakeup
        self.coordinator = RunCoordinator(
            backends: backends, catalog: catalog, options: configuration.fleet,
            execution: .init(
                middleware: configuration.middleware, dependencies: configuration.dependencies, clock: configuration.clock,
                blocking: configuration.blockingExecutor),
            logger: configuration.logger, faults: configuration.faults, timerScheduled: { delay in wakeup.signal(dueIn: delay) })
    }

    /// Creates a worker for `blueprints`, compiled against `registry`.
    ///
    /// - Throws: ``WeftError`` when a blueprint is invalid.
    public convenience init(
        registry: NodeRegistry, blueprints: [Blueprint], backends: WeftBackends, configuration: Configuration = Configuration()
    ) throws {
        self.init(
            catalog: try BlueprintCatalog(registry: registry, blueprints: blueprints, options: configuration.fleet),
            backends: backends, configuration: configuration)
    }

    /// The queues this worker consumes.
    public var queues: [String] { Self.queues(catalog: catalog, configuration: configuration) }

    private static func queues(catalog: BlueprintCatalog, configuration: Configuration) -> [String] {
        let fleet = configuration.fleet
        if let labels = configuration.queueLabels {
            return labels.map { fleet.jobQueue(label: $0.isEmpty ? nil : $0) }.sorted()
        }
        return Array(catalog.jobQueues.union([fleet.jobQueue(label: nil)])).sorted()
    }

    /// What this worker did so far.
    public var statistics: Statistics { counts.snapshot }

    /// Forgets what the worker cached about runs (their records, kept briefly to save a read
    /// per job), giving that memory back; it is read again when needed. For an idle worker.
    public func releaseCaches() {
        coordinator.ledger.forgetCachedRuns()
    }

    /// Replaces each consumer with a fresh one, as an idle worker may: a long-lived consuming
    /// task keeps the memory its deepest job needed (the async frames' slabs), and a new task
    /// starts small. Each consumer stops gracefully: a job in hand finishes first, and messages
    /// not yet handed out stay with the broker.
    public func recycleConsumers() async {
        let consumers = runState.withLock { state in state.stopping ? [] : state.slots.compactMap(\.consumer) }
        for consumer in consumers { await consumer.stop() }
    }

    /// Consumes the worker's queues, fires due timers and reconciles stalled runs until
    /// ``shutdown()`` is called or the calling task is cancelled. A job being handled when the
    /// worker stops is finished first; nothing unfinished is acked.
    public func run() async throws {
        try await checkStore()
        let queues = self.queues
        for queue in queues { try await backends.transport.declare(queue) }
        let slotQueues = queues.flatMap { Array(repeating: $0, count: max(1, configuration.concurrency)) }
        runState.withLock { $0.slots = slotQueues.map { _ in Slot() } }
        configuration.logger.info(
            "worker started",
            metadata: ["weft.queues": "\(queues.joined(separator: ","))", "weft.concurrency": "\(configuration.concurrency)"])
        await withTaskGroup(of: Void.self) { loops in
            loops.addTask { await self.timerLoop() }
            if let interval = configuration.reconcileInterval {
                loops.addTask { await self.reconcileLoop(every: interval) }
            }
            if let interval = configuration.cancellationCheckInterval {
                loops.addTask { await self.cancellationLoop(every: interval) }
            }
            await withDiscardingTaskGroup { group in
                for (slot, queue) in slotQueues.enumerated() {
                    group.addTask { await self.serve(slot: slot, queue: queue, limitsAcrossQueues: queues.count > 1) }
                }
            }
            loops.cancelAll()
        }
        configuration.logger.info("worker stopped")
    }

    /// Keeps one consumer of `queue` going until the worker stops. Its consuming task is
    /// unstructured so that the cancellation loop can cancel the attempt in hand; a cancelled
    /// consuming task is replaced by a fresh one.
    private func serve(slot: Int, queue: String, limitsAcrossQueues: Bool) async {
        var failures = 0
        while !Task.isCancelled && !runState.withLock({ $0.stopping }) {
            let consumer: QueueConsumer
            do {
                consumer = try await backends.transport.consume(queue, prefetch: 1)
                failures = 0
            } catch {
                failures += 1
                configuration.logger.error(
                    "could not consume a queue; trying again", metadata: ["weft.queue": "\(queue)", "weft.error": "\(error)"])
                try? await configuration.clock.sleep(for: .milliseconds(100) * min(failures, 50))
                continue
            }
            let job = runState.withLock { $0.slots[slot].job }
            let task = Task { await self.consume(consumer, job: job, limitsAcrossQueues: limitsAcrossQueues) }
            let stopping = runState.withLock { state in
                state.slots[slot].consumer = consumer
                state.slots[slot].task = task
                return state.stopping
            }
            if stopping { await consumer.stop() }
            await withTaskCancellationHandler {
                await task.value
            } onCancel: {
                task.cancel()
            }
            runState.withLock { state in
                state.slots[slot].consumer = nil
                state.slots[slot].task = nil
            }
        }
    }

    private func consume(_ consumer: QueueConsumer, job: SlotJob, limitsAcrossQueues: Bool) async {
        var backendFailures = 0
        do {
            for try await delivery in consumer {
                if limitsAcrossQueues { await limiter.acquire() }
                let outcome = await process(delivery, job: job)
                if limitsAcrossQueues { limiter.release() }
                if Task.isCancelled { break }
                if case .requeued = outcome {
                    // A backend is failing: back off (50 ms, doubling, at most 5 s) rather than
                    // spin on the job that was just put back.
                    backendFailures += 1
                    let delay = min(Duration.milliseconds(50) * (1 << min(backendFailures - 1, 7)), .seconds(5))
                    try? await configuration.clock.sleep(for: delay)
                } else {
                    backendFailures = 0
                }
            }
        } catch is CancellationError {
        } catch {
            configuration.logger.error("a consumer ended", metadata: ["weft.error": "\(error)"])
        }
        await consumer.stop()
    }

    /// Checks that the store is this fleet's and holds this worker's content for each blueprint
    /// version it serves (``StoreClaims``), recording both when the store has none: else the
    /// worker would run another fleet's jobs, or another content under a version. ``run()``
    /// does this first.
    package func checkStore() async throws {
        try await coordinator.claims.claimStore()
        try await coordinator.claims.check(coordinator.catalog.blueprints)
    }

    /// Stops taking jobs; ``run()`` returns once the jobs in hand are finished.
    public func shutdown() async {
        inline?.stopping.set()
        let consumers = runState.withLock { state in
            state.stopping = true
            return state.slots.compactMap(\.consumer)
        }
        for consumer in consumers { await consumer.stop() }
    }

    /// Handles one delivery and settles it: acked once its effects are committed,
    /// dead-lettered when it can never run, put back when a backend failed. The worker's
    /// consumers call this; tests and simulators may call it directly.
    @discardableResult
    package func process(_ delivery: QueueDelivery) async -> DeliveryOutcome {
        await process(delivery, job: nil)
    }

    private func process(_ delivery: QueueDelivery, job: SlotJob?) async -> DeliveryOutcome {
        let counts = self.counts
        let outcome = await coordinator.jobs.handle(
            delivery, inline: inline,
            started: { envelope, now in job?.set(envelope, at: now) },
            continued: { counts.count($0) })
        job?.clear()
        do {
            switch outcome {
            case .completed, .suspended, .retryScheduled, .dropped, .left:
                try await delivery.ack()
            case .deadLettered(let reason), .quarantined(let reason):
                try await delivery.deadLetter(reason: reason)
            case .requeued:
                try await delivery.retry()
            case .crashed:
                // Leave it unsettled, as a dying process would: it comes back as a lost delivery.
                try await delivery.abandon()
            }
        } catch {
            configuration.logger.warning(
                "could not settle a delivery; it will be delivered again", metadata: ["weft.error": "\(error)"])
        }
        counts.count(outcome)
        return outcome
    }

    /// Fires the durable timers that are due (retries, deadlines, jobs handed back) and
    /// returns how many fired. The worker's timer loop calls this.
    @discardableResult
    public func fireDueTimers() async throws -> Int {
        try await fireTimers().fired
    }

    /// Fires every due timer; returns how many fired and when the next is due.
    private func fireTimers() async throws -> (fired: Int, nextDue: Duration?) {
        var fired = 0
        while true {
            let batch = try await coordinator.timers.fireDueTimers()
            fired += batch.fired
            if batch.fired == 0 { return (fired, batch.nextDue) }
        }
    }

    /// Re-publishes what the records of stalled runs say is ready, and returns how many jobs
    /// it published. The worker's reconcile loop calls this.
    @discardableResult
    public func reconcile() async throws -> Int {
        try await coordinator.reconciler.reconcile()
    }

    private func timerLoop() async {
        while !Task.isCancelled {
            do {
                let next = try await fireTimers().nextDue
                let wait = min(next ?? configuration.timerPollInterval, configuration.timerPollInterval)
                if wait > .zero { await wakeup.wait(upTo: wait, clock: configuration.clock) }
            } catch {
                configuration.logger.warning("firing timers failed", metadata: ["weft.error": "\(error)"])
                try? await configuration.clock.sleep(for: configuration.timerPollInterval)
            }
        }
    }

    /// Cancels attempts whose run ended elsewhere (cancelled, failed, past its deadline):
    /// every `interval`, reads the status of the runs of the jobs in hand, and cancels those
    /// jobs of ended runs still in hand (see ``SlotJob/cancel(_:ifStillHandling:)``); such a job
    /// ends dropped. For runs still going, it records progress: a long attempt is not a stall.
    private func cancellationLoop(every interval: Duration) async {
        while !Task.isCancelled {
            do {
                try await configuration.clock.sleep(for: interval)
            } catch {
                return
            }
            let now = ContinuousClock.now
            let inHand = runState.withLock { $0.slots.enumerated().map { ($0, $1.job) } }.compactMap {
                slot, job -> (slot: Int, run: String, since: ContinuousClock.Instant, number: UInt64)? in
                job.current.map { (slot, $0.run, $0.since, $0.number) }
            }
            guard !inHand.isEmpty,
                let statuses = try? await backends.coordinationStore.values(at: inHand.map { RunKeys.status($0.run) })
            else { continue }
            let heartbeatAge = configuration.fleet.stallTimeout / 4
            for ((slot, run, since, number), status) in zip(inHand, statuses) {
                guard let status, let terminal = try? TerminalRecord(decoding: status) else {
                    // Still running: a long attempt sends a heartbeat now and then, so that the
                    // reconciler does not take it for a stalled run.
                    if since.duration(to: now) >= heartbeatAge, coordinator.progress.shouldRecord(run, now: now) {
                        try? await backends.coordinationStore.recordProgress(run: run, quietFor: .zero)
                    }
                    continue
                }
                // The slot may have finished that job and taken up another (of another run)
                // since the statuses were read: only the job checked is cancelled.
                let (job, task) = runState.withLock { ($0.slots[slot].job, $0.slots[slot].task) }
                guard let task, job.cancel(task, ifStillHandling: number) else { continue }
                configuration.logger.info(
                    "cancelled an attempt: its run ended", metadata: ["weft.run": "\(run)", "weft.status": "\(terminal.status.rawValue)"])
            }
        }
    }

    private func reconcileLoop(every interval: Duration) async {
        while !Task.isCancelled {
            do {
                try await configuration.clock.sleep(for: interval)
            } catch {
                return
            }
            do {
                try await reconcile()
            } catch {
                configuration.logger.warning("reconciling failed", metadata: ["weft.error": "\(error)"])
            }
        }
    }
}
