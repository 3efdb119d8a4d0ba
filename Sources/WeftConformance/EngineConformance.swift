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
        let workflow = scenario.workflow
        let local = LocalRuntime(workflow)
        var configuration = Worker.Configuration()
        configuration.concurrency = 4
        configuration.timerPollInterval = .milliseconds(50)
        configuration.logger.logLevel = .warning
        configuration.fleet = fleet
        let fleet = try await InProcessFleet.start(
            registry: workflow.registry, blueprints: [workflow.blueprint], workers: workers, backends: backends,
            worker: configuration, client: DistributedRuntime.Configuration(fleet: fleet, logger: quietLogger))
        var differences: [String] = []
        do {
            for input in scenario.inputs {
                let expected = RunSummary(try await local.run(workflow.blueprint, input: input, options: scenario.options))
                let handle = try await fleet.client.start(workflow.blueprint, input: input, options: scenario.options)
                let result = try await withDeadline(timeout, what: "run \(handle.runID) of \(scenario.name)") {
                    try await handle.result()
                }
                let actual = RunSummary(result)
                for line in expected.differences(from: actual) {
                    differences.append("\(scenario.name), input \(input): local \(line) distributed")
                }
            }
        } catch {
            await fleet.shutdown()
            throw error
        }
        await fleet.shutdown()
        return differences
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
