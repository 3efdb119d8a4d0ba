import Foundation
import Synchronization
import WeftTesting
import Weft
import WeftFleet

/// What the fleet's end-to-end tests need: the broker scripts/test.sh started for them, the
/// `weft` executable built next to the test bundle, fresh stores and queue prefixes.
enum FleetHarness {
    struct Missing: Error, CustomStringConvertible {
        var description: String {
            "no broker: set WEFT_FLEET_AMQP_URL or WEFT_AMQP_URL (scripts/test.sh starts one; or eval \"$(scripts/rabbitmq.sh start)\")"
        }
    }

    static func brokerURL() throws -> String {
        let environment = ProcessInfo.processInfo.environment
        guard let url = environment["WEFT_FLEET_AMQP_URL"] ?? environment["WEFT_AMQP_URL"], !url.isEmpty else { throw Missing() }
        return url
    }

    /// The `weft` executable of this build.
    static var weft: String {
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        while directory.path.contains(".xctest") { directory = directory.deletingLastPathComponent() }
        return directory.appendingPathComponent("weft").path
    }

    /// A configuration with a fresh store and queue prefix, on the test broker.
    static func configuration() throws -> FleetConfiguration {
        var configuration = FleetConfiguration()
        configuration.broker = try brokerURL()
        configuration.store = FileManager.default.temporaryDirectory.appendingPathComponent("weft-fleet-\(UUID().uuidString)").path
        configuration.queuePrefix = "e2e-" + UUID().uuidString.prefix(8).lowercased()
        configuration.logLevel = .info
        return configuration
    }

    /// The flags that give `configuration` to a `weft` command.
    static func flags(_ configuration: FleetConfiguration) -> [String] {
        ["--broker", configuration.broker, "--store", configuration.store, "--queue-prefix", configuration.queuePrefix,
         "--log-level", configuration.logLevel.rawValue]
    }

    /// Polls `condition` (a state of another process, which sends no event) every 50 ms until
    /// it holds, failing after `timeout`.
    static func waitUntil(
        _ what: String, timeout: Duration = .seconds(60), _ condition: () async throws -> Bool
    ) async throws {
        let deadline = ContinuousClock.now + timeout
        while try await !condition() {
            guard ContinuousClock.now < deadline else { throw TimedOut(what: what) }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    struct TimedOut: Error, CustomStringConvertible {
        var what: String
        var description: String { "timed out waiting until \(what)" }
    }
}

/// A process of the `weft` tool, its output in a log file.
final class WeftProcess: Sendable {
    let process: Process
    let log: String
    private let exits: AsyncStream<Int32>

    init(_ arguments: [String], environment: [String: String] = [:]) throws {
        log = FileManager.default.temporaryDirectory.appendingPathComponent("weft-e2e-\(UUID().uuidString).log").path
        guard FileManager.default.createFile(atPath: log, contents: nil) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: log])
        }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: FleetHarness.weft)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardOutput = handle
        process.standardError = handle
        exits = try ExitWatch.run(process)
        self.process = process
    }

    var pid: Int32 { process.processIdentifier }

    func signal(_ signal: Int32) { kill(process.processIdentifier, signal) }

    /// Waits for it to exit; its status (or the signal that ended it).
    func exitStatus() async -> Int32 {
        await ExitWatch.status(of: process, exits: exits)
    }

    /// What it printed so far.
    var output: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}

/// Counts events of concurrent tasks.
final class Tally: Sendable {
    private let count = Atomic<Int>(0)
    func add() { count.add(1, ordering: .relaxed) }
    var value: Int { count.load(ordering: .relaxed) }
}
