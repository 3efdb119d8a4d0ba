import Foundation
import Logging
import Synchronization

/// Runs blueprints inside this process, on Swift concurrency.
///
/// The embedded default, and what tests use. Runs follow the same rules (the same pure engine)
/// as on a worker fleet, so a workflow tested here behaves the same there.
///
/// ```swift
/// let runtime = LocalRuntime(registry: workflow.registry)
/// let result = try await runtime.run(workflow.blueprint, input: ["orderId": "A-17"])
/// print(result.status, result.output ?? .null)
/// ```
public final class LocalRuntime: Sendable {
    /// How the runtime runs nodes.
    public struct Configuration: Sendable {
        /// How many node attempts may run at once across all runs. Defaults to the number of cores.
        public var maxConcurrentNodes: Int
        /// The clock for backoff delays, timeouts and deadlines. Inject a manual clock in tests
        /// (`WeftTesting.ManualClock`) so that they never sleep.
        public var clock: any Clock<Duration>
        /// Middleware around every node attempt and fallback, the first outermost.
        public var middleware: [any NodeMiddleware]
        /// Shared dependencies handed to node code.
        public var dependencies: Dependencies
        /// The logger; node loggers add run and node metadata to it.
        public var logger: Logger
        /// Where nodes declared blocking run. Default: the process's shared pool.
        public var blockingExecutor: BlockingExecutor

        /// Creates a configuration; every member has a default.
        public init(
            maxConcurrentNodes: Int = ProcessInfo.processInfo.activeProcessorCount,
            clock: any Clock<Duration> = ContinuousClock(), middleware: [any NodeMiddleware] = [],
            dependencies: Dependencies = Dependencies(), logger: Logger = Logger(label: "weft"),
            blockingExecutor: BlockingExecutor = .shared
        ) {
            self.blockingExecutor = blockingExecutor
            self.maxConcurrentNodes = maxConcurrentNodes
            self.clock = clock
            self.middleware = middleware
            self.dependencies = dependencies
            self.logger = logger
        }
    }

    /// The node code this runtime runs.
    public let registry: NodeRegistry
    /// How it runs it.
    public let configuration: Configuration
    let limiter: ConcurrencyLimiter
    let bus = RunEventBus()
    let signals = SignalBoard()
    /// The mailboxes of runs with waits or sleeps in progress, which can be suspended.
    let suspendable = Mutex<[String: RunMailbox]>([:])
    private let plans = Mutex<[String: ExecutionPlan]>([:])
    private let runIDs = RunIDGenerator()

    /// Creates a runtime for the code in `registry`.
    public init(registry: NodeRegistry, configuration: Configuration = Configuration()) {
        self.registry = registry
        self.configuration = configuration
        self.limiter = ConcurrencyLimiter(limit: configuration.maxConcurrentNodes)
    }

    /// Creates a runtime for a workflow built with ``Workflow``.
    public convenience init(_ workflow: Workflow, configuration: Configuration = Configuration()) {
        self.init(registry: workflow.registry, configuration: configuration)
    }

    deinit {
        bus.finish()
    }

    /// Compiles `blueprint` against the registry, or returns the plan compiled earlier for the
    /// same blueprint.
    ///
    /// - Throws: ``WeftError`` when the blueprint is invalid (see ``ExecutionPlan/init(blueprint:registry:)``).
    public func plan(for blueprint: Blueprint) throws -> ExecutionPlan {
        let key = blueprint.id + "\u{0}" + blueprint.version
        if let plan = plans.withLock({ $0[key] }), plan.blueprint == blueprint { return plan }
        let plan = try ExecutionPlan(blueprint: blueprint, registry: registry)
        plans.withLock { $0[key] = plan }
        return plan
    }

    /// Runs `blueprint` to its end and returns the result. Cancelling the calling task cancels the run.
    ///
    /// - Throws: ``WeftError`` only when the blueprint is invalid; a run that fails returns a
    ///   result with status ``RunStatus/failed``.
    public func run(_ blueprint: Blueprint, input: JSONValue = .null, options: RunOptions = RunOptions()) async throws
        -> RunResult
    {
        if let runID = options.runID { try Identifier.check(runID, as: .run) }
        return await run(try plan(for: blueprint), input: input, options: options)
    }

    /// Runs a compiled plan to its end and returns the result. A run id in `options` that breaks
    /// ``Identifier``'s rules fails the run at once (a fleet refuses it at start).
    public func run(_ plan: ExecutionPlan, input: JSONValue = .null, options: RunOptions = RunOptions()) async
        -> RunResult
    {
        await run(plan, input: input, options: options, isChild: false)
    }

    /// Runs a plan; a child run's id (`isChild`) may be as long as ``Identifier/maxNestedRunIDBytes``.
    func run(_ plan: ExecutionPlan, input: JSONValue, options: RunOptions, isChild: Bool) async -> RunResult {
        if let runID = options.runID, let problem = Identifier.problem(runID, as: .run, nested: isChild) {
            let cause = NodeFailure(
                message: "Invalid run id: \(problem)", errorType: "WeftError", code: WeftError.Code.invalidIdentifier.rawValue,
                isRetryable: false)
            return RunResult(
                runID: runID, blueprintID: plan.blueprint.id, blueprintVersion: plan.blueprint.version, status: .failed, output: nil,
                failure: RunFailure(nodeID: nil, attempt: nil, cause: cause), table: NodeRecordTable(source: .records([], [])),
                context: options.context, duration: .zero)
        }
        var driver = RunDriver(runtime: self, plan: plan, input: input, options: options, runID: options.runID ?? runIDs.next())
        return await driver.run()
    }

    /// Starts a run in the background and returns a handle to await or cancel it.
    ///
    /// - Throws: ``WeftError`` when the blueprint is invalid.
    public func start(_ blueprint: Blueprint, input: JSONValue = .null, options: RunOptions = RunOptions()) throws
        -> RunHandle
    {
        let plan = try plan(for: blueprint)
        if let runID = options.runID { try Identifier.check(runID, as: .run) }
        let runID = options.runID ?? runIDs.next()
        return RunHandle(
            runID: runID,
            task: Task {
                var driver = RunDriver(runtime: self, plan: plan, input: input, options: options, runID: runID)
                return await driver.run()
            })
    }

    /// Starts a run once `delay` has passed (on the configured clock), and returns its handle at
    /// once. An embedded runtime keeps the delay in memory: for a start that must survive a
    /// restart, use a fleet, whose delayed starts are durable timers.
    public func start(
        _ blueprint: Blueprint, input: JSONValue = .null, options: RunOptions = RunOptions(), after delay: Duration
    ) throws -> RunHandle {
        let plan = try plan(for: blueprint)
        if let runID = options.runID { try Identifier.check(runID, as: .run) }
        let runID = options.runID ?? runIDs.next()
        let clock = configuration.clock
        return RunHandle(
            runID: runID,
            task: Task {
                do { try await clock.sleep(for: delay) } catch {
                    return RunResult(
                        runID: runID, blueprintID: plan.blueprint.id, blueprintVersion: plan.blueprint.version,
                        status: .cancelled, output: nil, failure: .runCancelled, table: NodeRecordTable(source: .records([], [])),
                        context: options.context, duration: .zero)
                }
                var driver = RunDriver(runtime: self, plan: plan, input: input, options: options, runID: runID)
                return await driver.run()
            })
    }

    /// Starts a run at `date` (wall-clock time); see ``start(_:input:options:after:)``.
    public func start(_ blueprint: Blueprint, input: JSONValue = .null, options: RunOptions = RunOptions(), at date: Date)
        throws -> RunHandle
    {
        let delay = max(0, date.timeIntervalSinceNow)
        return try start(blueprint, input: input, options: options, after: .nanoseconds(Int64(delay * 1e9)))
    }

    /// Resumes a node that waits for a signal (``Node/waitForSignal(_:actions:timeout:timeoutAction:)``):
    /// it ends with `payload` as output and `action`, which routes its edges like an action its
    /// code returned.
    ///
    /// - Throws: ``WeftError`` with ``WeftError/Code/notWaiting`` when the run has no such node
    ///   waiting now (the run is unknown or over, or the node was not reached yet or already
    ///   signalled), or ``WeftError/Code/invalidSignal`` when the node does not declare `action`.
    public func signal(runID: String, nodeID: String, action: String, payload: JSONValue = .null) throws {
        try signals.signal(.init(runID: runID, nodeID: nodeID), .init(action: action, payload: payload))
    }

    /// The nodes of run `runID` that wait for a signal now, by id: a run with any has status
    /// ``RunStatus/waiting``.
    public func waitingNodes(runID: String) -> [String] {
        signals.waitingNodes(runID: runID)
    }

    /// Suspends run `runID` to a snapshot: possible while nothing of it runs but waits for
    /// signals and sleeps. The run's task then ends, with status ``RunStatus/waiting``, and
    /// ``resume(_:)`` continues it, here or in another process (encode the snapshot with
    /// `JSONEncoder` to keep it).
    ///
    /// - Throws: ``WeftError`` with ``WeftError/Code/notWaiting`` when the run is unknown or
    ///   over, has node attempts or retry timers in progress, or has a deadline.
    public func suspend(runID: String) async throws -> RunSnapshot {
        guard let mailbox = suspendable.withLock({ $0[runID] }) else {
            throw WeftError(
                .notWaiting, "Run \"\(runID)\" has no wait or sleep in progress here (it is unknown, over, or still running nodes)")
        }
        return try await SuspendRequest.send(to: mailbox)
    }

    /// Resumes a suspended run from its snapshot: its waits and sleeps go on (a sleep or a
    /// timeout that ended meanwhile ends at once), then the run continues as if never stopped.
    ///
    /// - Throws: ``WeftError`` when the snapshot's format is newer than this version reads, its
    ///   blueprint is invalid here (its code is not registered), or it does not fit its blueprint.
    public func resume(_ snapshot: RunSnapshot) throws -> RunHandle {
        guard snapshot.format <= RunSnapshot.currentFormat else {
            throw WeftError(
                .unsupportedVersion,
                "Snapshot format \(snapshot.format) is newer than this version of Weft reads (\(RunSnapshot.currentFormat))")
        }
        let plan = try plan(for: snapshot.blueprint)
        var driver = try RunDriver(runtime: self, plan: plan, snapshot: snapshot)
        let runID = snapshot.runID
        return RunHandle(runID: runID, task: Task { await driver.run() })
    }

    /// The plan of a child run's blueprint.
    func childPlan(_ child: ChildBlueprint, isLoopBody: Bool) throws -> ExecutionPlan {
        guard let blueprint = child.resolve(in: registry) else {
            throw NodeFailure(
                message: "blueprint \"\(child.id)\" v\(child.version) is not registered", errorType: "WeftError",
                code: WeftError.Code.unknownBlueprint.rawValue, isRetryable: false)
        }
        let key = blueprint.id + "\u{0}" + blueprint.version
        if let plan = plans.withLock({ $0[key] }), plan.blueprint == blueprint { return plan }
        let plan = try ExecutionPlan(blueprint: blueprint, registry: registry, isLoopBody: isLoopBody)
        plans.withLock { $0[key] = plan }
        return plan
    }

    /// Emits `event` to subscribers, if there are any.
    func emit(_ event: @autoclosure () -> RunEvent) {
        guard bus.hasSubscribers else { return }
        bus.emit(event())
    }

    /// Every run event from now on, from every run of this runtime. Subscribe before starting
    /// the runs you want to watch; events are buffered until read.
    public func events() -> AsyncStream<RunEvent> {
        bus.subscribe()
    }
}

/// Per-run options.
public struct RunOptions: Sendable {
    /// The run's id; generated when `nil`.
    public var runID: String?
    /// The time the whole run may take before it fails.
    public var deadline: Duration?
    /// The run context's initial entries.
    public var context: [String: JSONValue]

    /// Creates options; every member has a default.
    public init(runID: String? = nil, deadline: Duration? = nil, context: [String: JSONValue] = [:]) {
        self.runID = runID
        self.deadline = deadline
        self.context = context
    }
}

/// A run started with ``LocalRuntime/start(_:input:options:)``.
public struct RunHandle: Sendable {
    /// The run's id.
    public let runID: String
    let task: Task<RunResult, Never>

    /// Waits for the run to end.
    public func result() async -> RunResult {
        await task.value
    }

    /// Asks the run to stop: nothing new starts, running attempts are cancelled, and the run
    /// ends with status ``RunStatus/cancelled``.
    public func cancel() {
        task.cancel()
    }
}

/// Unique run ids for this process: a random prefix and a counter, such as `3f9a1c-1a`. Short
/// enough (15 bytes up to 36⁸ runs) to be stored inline, without an allocation.
final class RunIDGenerator: Sendable {
    private let prefix = String(UInt32.random(in: 0x10_0000...0xFF_FFFF), radix: 16) + "-"
    private let counter = Atomic<UInt64>(0)

    func next() -> String {
        let value = counter.wrappingAdd(1, ordering: .relaxed).newValue
        return prefix + String(value, radix: 36)
    }
}
