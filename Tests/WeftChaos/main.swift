// The chaos test's executable (scripts/chaos.sh runs it):
//
//   weft-chaos drive --runs N --broker URL --broker-script scripts/rabbitmq.sh --broker-dir DIR --work DIR
//       starts `weft foreman` with workers of this executable, submits N runs of a mix of
//       blueprints, SIGKILLs a worker every 2 s, restarts the broker once and SIGKILLs the
//       foreman once; checks every outcome; exits 1 on any violation.
//   weft-chaos worker [weft worker flags]
//       a worker serving the chaos blueprints that logs its node records, attempts and
//       redeliveries to the ledger folder named by WEFT_CHAOS_LEDGER.
import ArgumentParser
import Foundation
import Logging
import WeftFleet

/// Prints `line` at once (standard output is a pipe or a file: `print` would buffer it).
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

enum ChaosProcess {
    /// This executable.
    static var ownExecutable: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    /// The `weft` executable of the same build.
    static var weft: String {
        URL(fileURLWithPath: ownExecutable).deletingLastPathComponent().appendingPathComponent("weft").path
    }
}

struct Drive: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "weft-chaos drive", abstract: "Runs the chaos test against a broker it may restart.")

    @Option(help: "Runs to submit.") var runs = 10_000
    @Option(help: "Worker processes the foreman keeps.") var workers = 4
    @Option(help: "Jobs each worker handles at once.") var concurrency = 8
    @Option(name: .customLong("in-flight"), help: "Runs started and not yet finished, at most.") var inFlight = 200
    @Option(name: .customLong("kill-every"), help: "Seconds between SIGKILLs to a random worker.") var killEvery = 2.0
    @Option(help: "The broker's URL.") var broker: String
    @Option(name: .customLong("broker-script"), help: "scripts/rabbitmq.sh, to restart the broker.") var brokerScript: String
    @Option(name: .customLong("broker-dir"), help: "The broker's folder, as scripts/rabbitmq.sh knows it.") var brokerDirectory: String
    @Option(help: "A folder for the store, the ledger, the configuration and the foreman's log.") var work: String
    @Option(help: "Seconds before the test gives up.") var timeout = 3600.0

    func run() async throws {
        var logger = Logger(label: "weft.chaos")
        logger.logLevel = .warning
        let driver = ChaosDriver(
            options: .init(
                runs: runs, workers: workers, concurrency: concurrency, inFlight: inFlight, killEvery: killEvery, broker: broker,
                brokerScript: brokerScript, brokerDirectory: brokerDirectory, work: work, timeout: timeout),
            logger: logger)
        let violations = try await driver.run()
        if violations.isEmpty {
            say("chaos: PASSED: every run ended once, as the embedded runtime ends it; no result recorded twice; no job left queued")
        } else {
            say("chaos: FAILED, \(violations.count) violations:")
            for violation in violations { say("  - \(violation)") }
            throw ExitCode(1)
        }
    }
}

let arguments = Array(CommandLine.arguments.dropFirst())
switch arguments.first {
case "worker":
    guard let folder = ProcessInfo.processInfo.environment[ChaosLedger.variable] else {
        FileHandle.standardError.write(Data("weft-chaos worker: set \(ChaosLedger.variable) to the ledger folder\n".utf8))
        exit(64)
    }
    let ledger: ChaosLedger
    do { ledger = try ChaosLedger(folder: folder) } catch {
        FileHandle.standardError.write(Data("weft-chaos worker: \(error)\n".utf8))
        exit(1)
    }
    await WorkerProgram(
        registry: ChaosWorkloads.registry, blueprints: ChaosWorkloads.blueprints, middleware: [ledger.attempts],
        decorateBackends: { ledger.observing($0) }
    ).main(arguments: Array(arguments.dropFirst()))
case "drive":
    do {
        let command = try Drive.parse(Array(arguments.dropFirst()))
        try await command.run()
    } catch {
        Drive.exit(withError: error)
    }
default:
    say("usage: weft-chaos drive … | weft-chaos worker …  (see scripts/chaos.sh)")
    exit(64)
}
