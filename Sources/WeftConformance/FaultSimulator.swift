import Logging
import Synchronization
import Weft
import WeftTesting

/// Runs blueprints on a simulated fleet whose faults all come from one seed: deliveries are
/// reordered and duplicated, acks are lost, and workers crash between any two steps of
/// handling a job (design §4). Everything runs in one task, one step at a time, so a seed
/// replays exactly.
///
/// After the runs it checks, for every run: one terminal status, equal to ``LocalRuntime``'s
/// for the same input; every node result recorded once; no node run that the embedded runtime
/// skipped (so no skipped branch ran and no join fired early, which would change the output).
///
/// ```swift
/// let report = try await FaultSimulator(seed: 42).run(EngineScenario.standard)
/// #expect(report.violations.isEmpty, "\(report)")  // prints the seed to replay
/// ```
public struct FaultSimulator: Sendable {
    /// How often each fault happens, per opportunity.
    public struct Faults: Sendable {
        /// A worker crashes at a step.
        public var crash: Double = 0.04
        /// An ack is lost.
        public var lostAck: Double = 0.05
        /// A delivery is duplicated.
        public var duplicate: Double = 0.08
        /// The reconciler runs between two deliveries.
        public var reconcile: Double = 0.03

        /// Creates fault rates; every member has a default.
        public init(crash: Double = 0.04, lostAck: Double = 0.05, duplicate: Double = 0.08, reconcile: Double = 0.03) {
            self.crash = crash
            self.lostAck = lostAck
            self.duplicate = duplicate
            self.reconcile = reconcile
        }
    }

    /// What one seed did and found.
    public struct Report: Sendable, CustomStringConvertible {
        /// The seed.
        public var seed: UInt64
        /// How many runs were started.
        public var runs = 0
        /// How many deliveries workers handled.
        public var deliveries = 0
        /// How many of them a simulated crash cut short.
        public var crashes = 0
        /// How many acks were lost (their messages delivered again).
        public var lostAcks = 0
        /// How many deliveries were duplicated.
        public var duplicates = 0
        /// How many reconciler passes ran.
        public var reconciles = 0
        /// Every broken rule, one line each; empty when the seed passed.
        public var violations: [String] = []

        public var description: String {
            let figures =
                "seed \(seed): \(runs) runs, \(deliveries) deliveries, \(crashes) crashes, \(lostAcks) lost acks, "
                + "\(duplicates) duplicates, \(reconciles) reconciler passes"
            if violations.isEmpty { return figures }
            return figures + "\n  replay: FaultSimulator(seed: \(seed)).run(...)\n  " + violations.joined(separator: "\n  ")
        }
    }

    /// The seed every decision derives from.
    public var seed: UInt64
    /// The rates of faults.
    public var faults: Faults
    /// How many workers share the deliveries.
    public var workers: Int
    /// Steps after which the simulation gives up (a run that never ends is a violation).
    public var maxSteps: Int

    /// Creates a simulator.
    public init(seed: UInt64, faults: Faults = Faults(), workers: Int = 3, maxSteps: Int = 100_000) {
        self.seed = seed
        self.faults = faults
        self.workers = workers
        self.maxSteps = maxSteps
    }

    /// The stores a simulation runs on, made for the simulation's manual clock.
    public typealias StoreFactory = @Sendable (StoreClock) async throws -> (any ContextStore, any CoordinationStore)

    /// The in-memory stores.
    public static let inMemoryStores: StoreFactory = { clock in
        (InMemoryContextStore(), InMemoryCoordinationStore(clock: clock))
    }

    /// Runs every input of every scenario, concurrently on the simulated fleet, on the stores
    /// `makeStores` gives (in memory by default), and checks the outcomes against
    /// ``LocalRuntime``.
    public func run(_ scenarios: [EngineScenario], stores makeStores: StoreFactory = inMemoryStores) async throws -> Report {
        var report = Report(seed: seed)
        let random = SimulationRandom(seed: seed)
        let clock = ManualClock()
        let fleet = FleetOptions(maxLostDeliveries: 8, stallTimeout: .seconds(30), retention: nil)
        let ackLimit = fleet.maxLostDeliveries - 2
        let transport = SimulatedTransport(jobQueuePrefix: fleet.queuePrefix + ".jobs") { deliveryCount in
            guard deliveryCount < ackLimit, random.chance(faults.lostAck) else { return false }
            random.noteLostAck()
            return true
        }
        let (contextStore, coordinationStore) = try await makeStores(StoreClock(clock))
        let records = ResultWriteCounter()
        let backends = WeftBackends(
            transport: transport, contextStore: contextStore, coordinationStore: records.observing(coordinationStore))
        let executions = ExecutionLog()
        let crashes = CrashInjector(random: random, rate: faults.crash, limit: fleet.maxLostDeliveries - 2)

        var logger = Logger(label: "weft.simulator")
        logger.logLevel = .critical
        var registry = NodeRegistry()
        for scenario in scenarios { registry.merge(scenario.workflow.registry) }
        let blueprints = scenarios.map(\.workflow.blueprint)
        var configuration = Worker.Configuration(
            fleet: fleet, concurrency: 1, middleware: [executions.middleware], clock: clock, reconcileInterval: nil,
            logger: logger)
        configuration.faults = crashes
        // Half the seeds run one job per delivery; the other half let workers run successors
        // inline, up to 1…4 in a row, so crashes land inside chains too.
        configuration.maxInlineSuccessors = seed % 2 == 0 ? 0 : Int(1 + (seed / 2) % 4)
        let workers = try (0..<max(1, workers)).map { _ in
            try Worker(registry: registry, blueprints: blueprints, backends: backends, configuration: configuration)
        }
        let client = try DistributedRuntime(
            registry: registry, backends: backends,
            configuration: DistributedRuntime.Configuration(fleet: fleet, clientID: "simulator", logger: logger))

        // Start every run; remember what the embedded runtime says of each.
        var expected: [(runID: String, scenario: String, input: JSONValue, local: RunResult)] = []
        for scenario in scenarios {
            let local = LocalRuntime(scenario.workflow)
            for (index, input) in scenario.inputs.enumerated() {
                let runID = "sim-\(seed)-\(scenario.workflow.blueprint.id)-\(index)"
                var options = scenario.options
                options.runID = runID
                let localResult = try await local.run(scenario.workflow.blueprint, input: input, options: options)
                _ = try await client.start(scenario.workflow.blueprint, input: input, options: options)
                expected.append((runID, scenario.name, input, localResult))
            }
        }
        report.runs = expected.count

        // Drive the fleet, one step at a time.
        var steps = 0
        while steps < maxSteps {
            steps += 1
            if transport.pendingCount > 0 {
                if random.chance(faults.reconcile) {
                    report.reconciles += 1
                    clock.advance(by: fleet.stallTimeout + .seconds(1))
                    _ = try await workers[random.below(workers.count)].reconcile()
                    continue
                }
                let duplicate = random.chance(faults.duplicate)
                if duplicate { report.duplicates += 1 }
                let delivery = transport.take(at: random.below(transport.pendingCount), duplicate: duplicate)
                crashes.current = delivery.deliveryCount
                report.deliveries += 1
                let outcome = await workers[random.below(workers.count)].process(delivery)
                if case .crashed = outcome { report.crashes += 1 }
                continue
            }
            if let next = try await coordinationStore.claimDueTimers(limit: 0, claimFor: .zero).nextDue {
                clock.advance(by: next)
                _ = try await workers[random.below(workers.count)].fireDueTimers()
                continue
            }
            // Nothing queued and no timer: either every run ended, or one stalled and only the
            // reconciler can move it.
            var unfinished = false
            for run in expected where try await client.status(run.runID).status.isTerminal == false {
                unfinished = true
                break
            }
            if !unfinished { break }
            report.reconciles += 1
            clock.advance(by: fleet.stallTimeout + .seconds(1))
            if try await workers[random.below(workers.count)].reconcile() == 0 {
                report.violations.append("the runs stalled and the reconciler found nothing to publish")
                break
            }
        }
        report.lostAcks = random.lostAcks
        if steps >= maxSteps { report.violations.append("gave up after \(maxSteps) steps") }
        for letter in transport.allDeadLetters {
            report.violations.append("a job was dead-lettered: \(letter.reason)")
        }

        // Check every run.
        for run in expected {
            let prefix = "\(run.scenario), input \(run.input), run \(run.runID)"
            let status = try await client.status(run.runID)
            guard status.status.isTerminal, let result = try await client.result(run.runID) as RunResult? else {
                report.violations.append("\(prefix): did not end (\(status.status.rawValue))")
                continue
            }
            let local = RunSummary(run.local)
            for line in local.differences(from: RunSummary(result)) {
                report.violations.append("\(prefix): local \(line) simulated")
            }
            for (key, count) in records.resultWrites(run: run.runID) where count > 1 {
                report.violations.append("\(prefix): record \(key) written \(count) times")
            }
            if run.local.status == .completed {
                let skipped = Set(run.local.nodes.filter { $0.status == .skipped }.map(\.nodeID))
                let ran = executions.nodes(of: run.runID)
                for node in ran.intersection(skipped).sorted() {
                    report.violations.append("\(prefix): node \(node) ran though its branch was skipped")
                }
            }
        }
        await transport.shutdown()
        await client.shutdown()
        return report
    }
}

/// The simulator's randomness: one seeded generator behind a lock (only one task uses it, in
/// a fixed order, so draws replay exactly).
final class SimulationRandom: Sendable {
    private let state: Mutex<(value: UInt64, lostAcks: Int)>

    init(seed: UInt64) { state = Mutex((seed &+ 0x9E37_79B9_7F4A_7C15, 0)) }

    func next() -> UInt64 {
        state.withLock { state in
            state.value &+= 0x9E37_79B9_7F4A_7C15
            var z = state.value
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    func chance(_ probability: Double) -> Bool {
        Double(next() >> 11) * 0x1.0p-53 < probability
    }

    func below(_ bound: Int) -> Int { Int(next() % UInt64(max(1, bound))) }

    func noteLostAck() { state.withLock { $0.lostAcks += 1 } }
    var lostAcks: Int { state.withLock { $0.lostAcks } }
}

/// Crashes workers at random steps, never so often that a job would be quarantined.
final class CrashInjector: FaultInjector {
    private let random: SimulationRandom
    private let rate: Double
    private let limit: Int
    private let delivery = Mutex(1)

    init(random: SimulationRandom, rate: Double, limit: Int) {
        self.random = random
        self.rate = rate
        self.limit = limit
    }

    /// The delivery count of the delivery being handled.
    var current: Int {
        get { delivery.withLock { $0 } }
        set { delivery.withLock { $0 = newValue } }
    }

    func checkpoint(_ step: WorkerStep, envelope: Envelope) async throws {
        guard current < limit, random.chance(rate) else { return }
        throw SimulatedCrash(step: step)
    }
}

/// Which nodes ran, per run: a middleware around every attempt.
final class ExecutionLog: Sendable {
    private let runs = Mutex<[String: Set<String>]>([:])

    var middleware: any NodeMiddleware {
        .around { [self] context, next in
            runs.withLock { _ = $0[context.runID, default: []].insert(context.nodeID) }
            return try await next(context)
        }
    }

    func nodes(of run: String) -> Set<String> { runs.withLock { $0[run] ?? [] } }
}

/// Counts the node results a ``WriteObservingStore`` saw stored, to prove each is recorded once.
final class ResultWriteCounter: Sendable {
    private let writes = Mutex<[StoreKey: Int]>([:])

    /// `base`, observed by this counter.
    func observing(_ base: any CoordinationStore) -> WriteObservingStore {
        WriteObservingStore(base) { [self] key in
            guard WriteObservingStore.isNodeResult(key) else { return }
            writes.withLock { $0[key, default: 0] += 1 }
        }
    }

    /// How many times each node-result record of `run` and of its child runs (sub-workflows,
    /// loop passes, batch items: ids under `run/`) was stored, by run and record name.
    func resultWrites(run: String) -> [String: Int] {
        writes.withLock { writes in
            var counts: [String: Int] = [:]
            for (key, count) in writes where key.run == run || key.run.hasPrefix(run + "/") {
                counts[key.run == run ? key.name : "\(key.run) \(key.name)"] = count
            }
            return counts
        }
    }
}
