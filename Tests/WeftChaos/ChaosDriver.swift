import Foundation
import Logging
import Synchronization
import Weft
import WeftConformance
import WeftFleet
import WeftTesting

/// The chaos test: a foreman with its workers on a real broker and LMDB store, runs of every
/// shape submitted, and while they run a worker SIGKILLed every few seconds, the broker
/// restarted once and the foreman SIGKILLed once. Then it checks what the issue asks: every run
/// reached one terminal status, equal to the embedded runtime's for the same input; no node
/// result was recorded twice; no job is left in any queue. It prints its figures and returns
/// the violations (none when the fleet kept its promise).
struct ChaosDriver: Sendable {
    struct Options: Sendable {
        var runs = 10_000
        var workers = 4
        var concurrency = 8
        var inFlight = 200
        var killEvery = 2.0
        var broker: String
        var brokerScript: String
        var brokerDirectory: String
        var work: String
        var timeout = 3600.0
    }

    let options: Options
    let logger: Logger

    /// What happened, for the figures.
    final class Tally: Sendable {
        let workerKills = Atomic<Int>(0)
        let brokerRestarts = Atomic<Int>(0)
        let foremanKills = Atomic<Int>(0)
        let finished = Atomic<Int>(0)
        let clientErrors = Atomic<Int>(0)
        /// The highest counts each worker process reported, by pid.
        let reported = Mutex<[Int32: [String: Int]]>([:])
        /// Each run's result, by run number.
        let results = Mutex<[Int: RunResult]>([:])
    }

    var ledgerFolder: String { (options.work as NSString).appendingPathComponent("ledger") }
    var configurationPath: String { (options.work as NSString).appendingPathComponent("fleet.json") }

    /// The fleet's configuration: the workers are this executable's `worker` command.
    func configuration() -> FleetConfiguration {
        var configuration = FleetConfiguration()
        configuration.broker = options.broker
        configuration.store = (options.work as NSString).appendingPathComponent("store")
        configuration.queuePrefix = "chaos"
        configuration.concurrency = options.concurrency
        configuration.logLevel = .warning
        configuration.drainTimeout = 5
        configuration.stallTimeout = 10
        configuration.foreman.workers = options.workers
        configuration.foreman.minWorkers = options.workers
        configuration.foreman.maxWorkers = options.workers
        // Killing is the point: the foreman must never give a slot up as crash-looping.
        configuration.foreman.restartLimit = 100_000
        configuration.foreman.workerCommand = [ChaosProcess.ownExecutable, "worker"]
        return configuration
    }

    func run() async throws -> [String] {
        try FileManager.default.createDirectory(atPath: options.work, withIntermediateDirectories: true)
        let configuration = configuration()
        try Data(configuration.json.jsonString(pretty: true).utf8).write(to: URL(fileURLWithPath: configurationPath))
        let tally = Tally()
        var foreman = try startForeman()
        let client = try await FleetClient.connect(
            configuration, registry: ChaosWorkloads.registry, blueprints: ChaosWorkloads.blueprints, logger: logger)
        let status = FleetStatusDirectory(path: configuration.statusDirectory)
        let began = ContinuousClock.now
        say("chaos: \(options.runs) runs, \(options.workers) workers, a worker SIGKILLed every \(options.killEvery) s, the broker restarted once, the foreman SIGKILLed once")

        // Submit every run, at most `inFlight` at once, and wait for their results.
        let submission = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                var next = 0
                func submit(_ index: Int) {
                    group.addTask {
                        let result = try await outcome(of: index, client: client, tally: tally)
                        tally.results.withLock { $0[index] = result }
                        tally.finished.add(1, ordering: .relaxed)
                    }
                }
                while next < min(options.inFlight, options.runs) {
                    submit(next)
                    next += 1
                }
                while try await group.next() != nil {
                    if next < options.runs {
                        submit(next)
                        next += 1
                    }
                }
            }
        }

        // The chaos, until every run has its result.
        var brokerRestart: Task<Void, any Error>?
        var foremanKilled = false
        var lastKill = ContinuousClock.now
        var lastProgress = ContinuousClock.now
        while tally.finished.load(ordering: .relaxed) < options.runs {
            try await Task.sleep(for: .milliseconds(100))
            if began.duration(to: .now) > .seconds(options.timeout) {
                submission.cancel()
                throw ChaosError("timed out after \(options.timeout) s with \(tally.finished.load(ordering: .relaxed)) of \(options.runs) runs finished")
            }
            noteReports(status, tally)
            let finished = tally.finished.load(ordering: .relaxed)
            if lastProgress.duration(to: .now) >= .seconds(5) {
                say("  \(finished) runs finished, \(tally.workerKills.load(ordering: .relaxed)) workers killed")
                lastProgress = .now
            }
            if brokerRestart == nil && finished >= options.runs * 3 / 10 {
                say("  restarting the broker at \(finished) runs")
                // In a task of its own: the kills go on while the broker is away.
                brokerRestart = Task {
                    let began = ContinuousClock.now
                    try await restartBroker()
                    tally.brokerRestarts.add(1, ordering: .relaxed)
                    say("  the broker is back, \(began.duration(to: .now).formatted) after it was told to stop")
                }
            }
            if !foremanKilled && finished >= options.runs * 6 / 10 {
                foremanKilled = true
                say("  SIGKILL to the foreman (pid \(foreman.pid)) at \(finished) runs; starting another")
                kill(foreman.pid, SIGKILL)
                _ = await foreman.exitStatus()
                tally.foremanKills.add(1, ordering: .relaxed)
                foreman = try startForeman()
            }
            if lastKill.duration(to: .now) >= .seconds(options.killEvery) {
                lastKill = .now
                let live = (status.foreman()?.slots ?? []).compactMap(\.pid).filter { kill($0, 0) == 0 }
                if let victim = live.randomElement() {
                    kill(victim, SIGKILL)
                    tally.workerKills.add(1, ordering: .relaxed)
                }
            }
        }
        try await submission.value
        try await brokerRestart?.value
        let elapsed = began.duration(to: .now)
        say("  every run finished after \(elapsed.formatted); checking")

        var violations: [String] = []
        // No job left in any queue: what stray duplicates remain are drained (and dropped) by the
        // workers; none may be dead-lettered.
        let jobQueue = configuration.fleetOptions.jobQueue(label: nil)
        let drainDeadline = ContinuousClock.now + .seconds(120)
        var depth = try await client.transport.depth(of: jobQueue)
        while depth > 0 || status.workers().contains(where: { !$0.jobs.isEmpty }) {
            guard ContinuousClock.now < drainDeadline else { break }
            try await Task.sleep(for: .milliseconds(200))
            depth = try await client.transport.depth(of: jobQueue)
        }
        noteReports(status, tally)
        if depth > 0 { violations.append("\(depth) jobs still queued in \(jobQueue) two minutes after the last run finished") }
        let deadLetters = try await client.transport.deadLetters(of: jobQueue, limit: 100)
        for letter in deadLetters.prefix(10) { violations.append("dead-lettered: \(letter)") }
        let replies = try await client.transport.depth(of: client.runtime.replyQueue)
        if replies > 0 { violations.append("\(replies) announcements left unread in \(client.runtime.replyQueue)") }

        // Every run's result equals the embedded runtime's for the same input. The reference runs
        // go concurrently: the retries' backoffs are real waits.
        say("  running the \(options.runs) inputs on the embedded runtime for reference")
        let reference = LocalRuntime(registry: ChaosWorkloads.registry)
        let expected = try await withThrowingTaskGroup(of: (Int, RunResult).self) { group in
            var expected: [Int: RunResult] = [:]
            for index in 0..<options.runs {
                if index >= 1000, let (done, result) = try await group.next() { expected[done] = result }
                group.addTask {
                    let (workflow, input) = ChaosWorkloads.run(index)
                    return (index, try await reference.run(workflow.blueprint, input: input))
                }
            }
            for try await (done, result) in group { expected[done] = result }
            return expected
        }
        let collected = tally.results.withLock { $0 }
        var statuses: [RunStatus: Int] = [:]
        var wrong = 0
        for index in 0..<options.runs {
            guard let result = collected[index], let reference = expected[index] else {
                violations.append("run \(index) has no result")
                continue
            }
            statuses[result.status, default: 0] += 1
            if let difference = Self.difference(result, reference) {
                wrong += 1
                let blueprint = ChaosWorkloads.run(index).workflow.blueprint.id
                if wrong <= 20 { violations.append("run \(result.runID) (\(blueprint), input \(index)): \(difference)") }
            }
        }
        if wrong > 20 { violations.append("… and \(wrong - 20) more runs whose results differ") }

        // No node result recorded twice.
        let ledger = try ChaosLedger.read(folder: ledgerFolder)
        let twice = ledger.records.filter { $0.value > 1 }
        for (record, count) in twice.prefix(20) { violations.append("node result \(record) recorded \(count) times") }

        let reported = tally.reported.withLock { $0 }
        func reportedTotal(_ name: String) -> Int { reported.values.reduce(0) { $0 + ($1[name] ?? 0) } }
        say("chaos figures:")
        say("  runs: \(options.runs) (" + statuses.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.value) \($0.key.rawValue)" }.joined(separator: ", ") + "), \(wrong) differing from the embedded runtime")
        say("  wall time: \(elapsed.formatted), \(String(format: "%.0f", Double(options.runs) / elapsed.seconds)) runs/s")
        say("  kills: \(tally.workerKills.load(ordering: .relaxed)) workers (SIGKILL), \(tally.foremanKills.load(ordering: .relaxed)) foreman (SIGKILL), \(tally.brokerRestarts.load(ordering: .relaxed)) broker restart")
        say("  worker processes: \(ledger.workers)")
        say("  node attempts begun: \(ledger.attempts), of which \(ledger.repeatedAttempts) repeated an attempt already begun (redelivered or re-published)")
        say("  redeliveries: \(ledger.redeliveries) (deliveries whose earlier delivery was lost)")
        say("  duplicates dropped: at least \(reportedTotal("dropped")) (from the workers' reports, each up to a second old when its worker was killed)")
        say("  node results recorded: \(ledger.records.count), recorded twice: \(twice.count)")
        say("  client errors retried: \(tally.clientErrors.load(ordering: .relaxed))")
        say("  jobs left queued: \(depth), dead letters: \(deadLetters.count)")

        await client.shutdown()
        kill(foreman.pid, SIGTERM)
        _ = await foreman.exitStatus()
        return violations
    }

    /// Starts run `index` (again, after a failure: its run id makes a second start change nothing)
    /// and waits for its result, retrying through the broker's restart.
    private func outcome(of index: Int, client: FleetClient, tally: Tally) async throws -> RunResult {
        let (workflow, input) = ChaosWorkloads.run(index)
        let runID = "chaos-\(index)"
        while true {
            do {
                _ = try await client.runtime.start(workflow.blueprint, input: input, options: RunOptions(runID: runID))
                return try await client.runtime.result(runID)
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                tally.clientErrors.add(1, ordering: .relaxed)
                logger.debug("retrying a run's start or result", metadata: ["run": "\(runID)", "error": "\(error)"])
                try await Task.sleep(for: .milliseconds(500))
            }
        }
    }

    /// What differs between a fleet's result and the embedded runtime's, if anything.
    /// How a fleet's run differs from the embedded runtime's, in everything observable
    /// (``RunSummary``: status, result, failure, each node and edge), or `nil`.
    static func difference(_ actual: RunResult, _ expected: RunResult) -> String? {
        let lines = RunSummary(expected).differences(from: RunSummary(actual))
        return lines.isEmpty ? nil : "embedded " + lines.joined(separator: "; ") + " fleet"
    }

    /// Keeps the highest counts each live worker reported.
    private func noteReports(_ status: FleetStatusDirectory, _ tally: Tally) {
        let reports = status.workers()
        tally.reported.withLock { reported in
            for report in reports { reported[report.pid] = report.counts }
        }
    }

    private func startForeman() throws -> ChildProcess {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ChaosProcess.weft)
        process.arguments = ["foreman", "--config", configurationPath]
        var environment = ProcessInfo.processInfo.environment
        environment[ChaosLedger.variable] = ledgerFolder
        process.environment = environment
        let log = (options.work as NSString).appendingPathComponent("foreman.log")
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        handle.seekToEndOfFile()
        process.standardOutput = handle
        process.standardError = handle
        return ChildProcess(process: process, exits: try ExitWatch.run(process))
    }

    /// Stops the broker and starts it again, keeping its data (`scripts/rabbitmq.sh`).
    private func restartBroker() async throws {
        for command in ["stop", "start"] {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/bash")
            process.arguments = [options.brokerScript, command, options.brokerDirectory]
            process.standardOutput = FileHandle.nullDevice
            let exits = try ExitWatch.run(process)
            let status = await ExitWatch.status(of: process, exits: exits)
            guard status == 0 else { throw ChaosError("scripts/rabbitmq.sh \(command) exited with \(status)") }
        }
    }
}

/// A failure of the chaos harness itself.
struct ChaosError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

extension Duration {
    var formatted: String { String(format: "%.1f s", seconds) }
}

/// A process the driver started, with its exit stream.
struct ChildProcess {
    let process: Process
    let exits: AsyncStream<Int32>

    var pid: Int32 { process.processIdentifier }

    /// Waits for it to exit.
    func exitStatus() async -> Int32 { await ExitWatch.status(of: process, exits: exits) }
}
