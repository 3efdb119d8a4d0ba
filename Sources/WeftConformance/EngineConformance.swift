import Logging
import Weft

/// Checks that the distributed runtime, over a given set of backends, follows the rules of a
/// run exactly as ``LocalRuntime`` does (design §2).
///
/// ```swift
/// let differences = try await EngineConformance.check(.fanOutAllJoin, backends: myBackends())
/// #expect(differences.isEmpty, "\(differences)")
/// ```
public enum EngineConformance {
    /// Runs every input of `scenario` with ``LocalRuntime`` and on an ``InProcessFleet`` of
    /// `workers` workers over `backends`, and returns how the results differ (empty: none).
    /// `fleet` names the queues: give each check its own prefix when checks share a broker.
    ///
    /// - Throws: ``ConformanceError`` when a distributed run does not end within `timeout`.
    public static func check(
        _ scenario: EngineScenario, backends: WeftBackends, workers: Int = 3, timeout: Duration = .seconds(60),
        fleet: FleetOptions = FleetOptions()
    ) async throws -> [String] {
        try await check([scenario], backends: backends, workers: workers, concurrency: 1, timeout: timeout, fleet: fleet)
    }

    /// Runs every input of every scenario with ``LocalRuntime`` and on one ``InProcessFleet`` of
    /// `workers` workers over `backends`, up to `concurrency` runs at once (so that the fleet's
    /// workers race each other), and returns how the results differ (empty: none), each line
    /// naming its scenario. The scenarios' blueprint ids and code keys must not collide (those
    /// of ``WorkflowGenerator`` carry their seed).
    ///
    /// - Throws: ``ConformanceError`` when a distributed run does not end within `timeout`.
    public static func check(
        _ scenarios: [EngineScenario], backends: WeftBackends, workers: Int = 3, concurrency: Int = 16,
        timeout: Duration = .seconds(60), fleet: FleetOptions = FleetOptions()
    ) async throws -> [String] {
        var registry = NodeRegistry()
        for scenario in scenarios { registry.merge(scenario.workflow.registry) }
        var configuration = Worker.Configuration()
        configuration.concurrency = 4
        configuration.timerPollInterval = .milliseconds(50)
        configuration.logger.logLevel = .warning
        configuration.fleet = fleet
        let fleet = try await InProcessFleet.start(
            registry: registry, blueprints: scenarios.map(\.workflow.blueprint), workers: workers, backends: backends,
            worker: configuration, client: DistributedRuntime.Configuration(fleet: fleet, logger: quietLogger))
        let runs = scenarios.flatMap { scenario in scenario.inputs.map { (scenario, $0) } }
        var differences: [String] = []
        do {
            try await withThrowingTaskGroup(of: [String].self) { group in
                var next = 0
                func add() {
                    guard next < runs.count else { return }
                    let (scenario, input) = runs[next]
                    next += 1
                    group.addTask {
                        try await differencesOfOneRun(scenario, input: input, on: fleet.client, timeout: timeout)
                    }
                }
                for _ in 0..<max(1, concurrency) { add() }
                while let found = try await group.next() {
                    differences += found
                    add()
                }
            }
        } catch {
            await fleet.shutdown()
            throw error
        }
        await fleet.shutdown()
        return differences
    }

    /// Runs `input` of `scenario` embedded and on the fleet `client` starts runs on, and says how
    /// the two differ.
    private static func differencesOfOneRun(
        _ scenario: EngineScenario, input: JSONValue, on client: DistributedRuntime, timeout: Duration
    ) async throws -> [String] {
        let workflow = scenario.workflow
        let expected: RunSummary
        let local = LocalRuntime(workflow)
        if scenario.signals.isEmpty {
            expected = RunSummary(try await local.run(workflow.blueprint, input: input, options: scenario.options))
        } else {
            let events = local.events()
            let handle = try local.start(workflow.blueprint, input: input, options: scenario.options)
            let result = try await withDeadline(timeout, what: "embedded run \(handle.runID) of \(scenario.name)") {
                try await whileSending(scenario.signals, to: handle.runID, hearing: events, until: { await handle.result() }) {
                    signal in try local.signal(runID: handle.runID, nodeID: signal.nodeID, action: signal.action, payload: signal.payload)
                }
            }
            expected = RunSummary(result)
        }
        let events = scenario.signals.isEmpty ? nil : client.events()
        let handle = try await client.start(workflow.blueprint, input: input, options: scenario.options)
        let result: RunResult
        do {
            result = try await withDeadline(timeout, what: "run \(handle.runID) of \(scenario.name)") {
                guard let events else { return try await handle.result() }
                return try await whileSending(scenario.signals, to: handle.runID, hearing: events, until: { try await handle.result() }) {
                    signal in
                    try await client.signal(runID: handle.runID, nodeID: signal.nodeID, action: signal.action, payload: signal.payload)
                }
            }
        } catch let error as ConformanceError {
            // Say where the run stands.
            let status = try? await client.status(handle.runID)
            let nodes = status?.nodes.map { "\($0.nodeID) \($0.state)" }.joined(separator: ", ") ?? "unknown"
            throw ConformanceError("\(error.message); its nodes: \(nodes)")
        }
        return expected.differences(from: RunSummary(result)).map { "\(scenario.name), input \(input): local \($0) distributed" }
    }

    /// Runs `body` (which waits for a run's result) while sending each of `signals` when
    /// `events` say its node of run `run` waits.
    private static func whileSending(
        _ signals: [EngineScenario.Signal], to run: String, hearing events: AsyncStream<RunEvent>,
        until body: @escaping @Sendable () async throws -> RunResult,
        _ deliver: @escaping @Sendable (EngineScenario.Signal) async throws -> Void
    ) async throws -> RunResult {
        try await withThrowingTaskGroup(of: RunResult?.self) { group in
            group.addTask {
                try await send(signals, to: run, hearing: events, deliver)
                return nil
            }
            group.addTask { try await body() }
            while let next = try await group.next() {
                if let result = next {
                    group.cancelAll()
                    return result
                }
            }
            throw ConformanceError("run \(run) gave no result")
        }
    }

    /// Sends each of `signals` when `events` say its node of run `run` waits, until the run ends.
    private static func send(
        _ signals: [EngineScenario.Signal], to run: String, hearing events: AsyncStream<RunEvent>,
        _ deliver: (EngineScenario.Signal) async throws -> Void
    ) async throws {
        for await event in events where event.runID == run {
            switch event.kind {
            case .nodeWaiting(let node):
                for signal in signals where signal.nodeID == node {
                    do {
                        try await deliver(signal)
                    } catch let error as WeftError where error.code == .runFinished || error.code == .notWaiting {
                        // Another branch ended the run (a failure) while the node waited. Were
                        // the refusal wrong, the run would wait for ever and miss its deadline.
                        continue
                    }
                }
            case .runFinished:
                return
            default:
                continue
            }
        }
    }
}

/// A conformance check could not complete.
public struct ConformanceError: Error, Sendable, CustomStringConvertible {
    /// What happened.
    public var message: String

    /// Creates an error.
    public init(_ message: String) { self.message = message }

    public var description: String { message }
}

/// Runs `body`, failing with a ``ConformanceError`` if it takes longer than `timeout`, so that
/// a backend that loses a message fails a test instead of hanging it.
func withDeadline<T: Sendable>(
    _ timeout: Duration, what: String, _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: timeout)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else {
            throw ConformanceError("\(what) did not finish within \(timeout)")
        }
        return value
    }
}

/// A logger for the harness's own clients and workers: warnings and worse only.
var quietLogger: Logger {
    var logger = Logger(label: "weft.conformance")
    logger.logLevel = .warning
    return logger
}
