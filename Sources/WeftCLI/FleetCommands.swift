import ArgumentParser
import ServiceLifecycle
import UnixSignals
import WeftAMQP
import Foundation
import Logging
import Weft
import WeftFleet
import WeftLMDB
import WeftSamples

/// What the `weft` tool itself can run on a fleet: the samples.
enum ToolProgram {
    static var registry: NodeRegistry { SampleCatalog.registry }
    static var blueprints: [Blueprint] { (SampleCatalog.samples + FleetWorkloads.all).map(\.workflow.blueprint) }
}

/// A configuration, or the output that says why there is none.
enum LoadedConfiguration {
    case success(FleetConfiguration)
    case failure(CommandOutput)
}

/// Loads the configuration, or the failure to print.
func loadConfiguration(_ flags: FleetFlags) -> LoadedConfiguration {
    do {
        return .success(try flags.load())
    } catch {
        return .failure(CommandOutput(standardError: "weft: \(error)\n", status: 64))
    }
}

/// The configuration, or — having printed why there is none — an exit with its status.
func requireConfiguration(_ flags: FleetFlags) throws -> FleetConfiguration {
    switch loadConfiguration(flags) {
    case .success(let configuration):
        return configuration
    case .failure(let output):
        try output.emit()
        throw ExitCode(output.status)
    }
}

/// A client for the configured fleet (quiet: its logs are for `--log-level debug`).
func connectClient(_ configuration: FleetConfiguration) async throws -> FleetClient {
    var logger = Logger(label: "weft.client")
    logger.logLevel = configuration.logLevel == .info ? .warning : configuration.logLevel
    return try await FleetClient.connect(configuration, registry: ToolProgram.registry, blueprints: ToolProgram.blueprints, logger: logger)
}

/// Runs `body` with a client, turning failures into one line.
func withClient(_ flags: FleetFlags, _ body: (FleetClient) async throws -> CommandOutput) async -> CommandOutput {
    let configuration: FleetConfiguration
    switch loadConfiguration(flags) {
    case .success(let loaded): configuration = loaded
    case .failure(let output): return output
    }
    let client: FleetClient
    do {
        client = try await connectClient(configuration)
    } catch {
        return .failure(error)
    }
    let output: CommandOutput
    do {
        output = try await body(client)
    } catch {
        output = .failure(error)
    }
    await client.shutdown()
    return output
}

/// `weft worker`: a worker process serving the samples' blueprints (and the configured files).
public struct WorkerCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Run a worker: consume the fleet's queues and run nodes until SIGTERM or SIGINT (then drain).")

    @OptionGroup var flags: FleetFlags

    public init() {}

    public func run() async throws {
        let configuration = try requireConfiguration(flags)
        FleetProcess.bootstrap(configuration)
        do {
            try await WorkerProgram(registry: ToolProgram.registry, blueprints: ToolProgram.blueprints).run(configuration)
        } catch {
            try CommandOutput.failure(error).emit()
        }
    }
}

/// `weft config check`
public struct ConfigCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "config", abstract: "Check a fleet configuration.", subcommands: [Check.self])

    public init() {}

    /// `weft config check [--config file] [flags]`
    public struct Check: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            commandName: "check", abstract: "Validate the configuration (file, environment, flags) and print the result.")

        @OptionGroup var flags: FleetFlags

        public init() {}

        public func run() async throws {
            try ConfigCommand.check(flags).emit()
        }
    }

    /// Checks the configuration `flags` lead to.
    public static func check(_ flags: FleetFlags) -> CommandOutput {
        switch loadConfiguration(flags) {
        case .failure(let output):
            return output
        case .success(let configuration):
            var text = "configuration is valid\n"
            let broker = configuration.brokerDescription
            text += "  broker: \(broker)\n  store: \(configuration.storeDescription)\n  queue prefix: \(configuration.queuePrefix)\n"
            text += "  queues: \(configuration.queues.map { $0.map { $0.isEmpty ? "(default)" : $0 }.joined(separator: ", ") } ?? "all the blueprints use")\n"
            text += "  concurrency: \(configuration.concurrency), blocking threads: \(configuration.blockingThreads), "
                + "inline successors: \(configuration.inlineSuccessors)\n"
            text += "  log level: \(configuration.logLevel.rawValue), metrics: "
                + (configuration.metricsPort > 0 ? "127.0.0.1:\(configuration.metricsPort)/metrics" : "off") + "\n"
            text += "  foreman: \(configuration.foreman.workers) workers (\(configuration.foreman.minWorkers)…\(configuration.foreman.maxWorkers))\n"
            return CommandOutput(standardOutput: text)
        }
    }
}

/// `weft start <blueprint> [--input json] [--wait]`
public struct StartCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "start", abstract: "Start a run on the fleet and print its id (--wait: wait and print the result).")

    @Argument(help: "A sample's name (see `weft samples`), a blueprint id known to the fleet, or a blueprint JSON file.")
    var blueprint: String
    @Option(help: "The run's input, as JSON (default: a sample's own input, else null).") var input: String?
    @Flag(help: "Wait for the run to end and print its result.") var wait = false
    @Option(help: "Start after this many seconds (a durable timer in the state store).") var after: Double?
    @OptionGroup var flags: FleetFlags

    public init() {}

    public func run() async throws {
        try await Self.execute(blueprint: blueprint, input: input, wait: wait, after: after, flags: flags).emit()
    }

    /// Starts the run (after `after` seconds, when given); with `wait`, waits for it (showing
    /// progress on a terminal).
    public static func execute(
        blueprint name: String, input: String?, wait: Bool, after: Double? = nil, flags: FleetFlags
    ) async -> CommandOutput {
        if let after, !(after >= 0 && after < 1e9) { return .failure("--after must be a number of seconds, at least 0") }
        var value = SampleCatalog.sample(named: name)?.input ?? .null
        if let input {
            do { value = try JSONValue(parsing: input) } catch {
                return .failure("--input is not valid JSON: \((error as? WeftError)?.message ?? "\(error)")")
            }
        }
        return await withClient(flags) { client in
            let blueprint: Blueprint
            if let known = SampleCatalog.sample(named: name)?.workflow.blueprint ?? client.blueprint(id: name) {
                blueprint = known
            } else if FileManager.default.fileExists(atPath: name) {
                blueprint = try BlueprintFile.load(name)
            } else {
                return .failure("no sample, known blueprint or file named '\(name)'")
            }
            let handle: DistributedRunHandle
            if let after {
                handle = try await client.runtime.start(blueprint, input: value, after: .nanoseconds(Int64(after * 1e9)))
            } else {
                handle = try await client.runtime.start(blueprint, input: value)
            }
            guard wait else { return CommandOutput(standardOutput: handle.runID + "\n") }
            FileHandle.standardError.write(Data("run \(handle.runID)\n".utf8))
            let progress = ProgressLine(total: blueprint.nodes.count)
            let watcher = Task {
                while !Task.isCancelled {
                    if let status = try? await handle.status() {
                        progress.show(done: status.nodes.filter { $0.state == .completed || $0.state == .skipped }.count)
                    }
                    try? await Task.sleep(for: .milliseconds(200))
                }
            }
            let result = try await handle.result()
            watcher.cancel()
            progress.finish()
            var text = "\(handle.runID)\nstatus: \(result.status.rawValue)\n"
            if let output = result.output { text += "output: \(try output.jsonString(pretty: true))\n" }
            guard result.status == .completed else {
                return CommandOutput(standardOutput: text, standardError: "weft: run \(result.status.rawValue): \(result.failure?.description ?? "")\n", status: 1)
            }
            return CommandOutput(standardOutput: text)
        }
    }
}

/// `weft status <run>`
public struct StatusCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "status", abstract: "A run's status: each node's state, attempts and errors, and why a running run is not moving.")

    @Argument(help: "The run's id.") var run: String
    @OptionGroup var flags: FleetFlags

    public init() {}

    public func run() async throws {
        try await Self.execute(run: run, flags: flags).emit()
    }

    /// Describes run `run`.
    public static func execute(run: String, flags: FleetFlags) async -> CommandOutput {
        await withClient(flags) { client in
            CommandOutput(standardOutput: describe(try await client.explain(run)))
        }
    }

    /// The text of an explanation. What comes from the store or the nodes (ids, errors) is
    /// printed with its control characters escaped (``PrintableText``).
    public static func describe(_ explanation: RunExplanation, now: Date = Date()) -> String {
        let status = explanation.status
        let safe = PrintableText.escaped
        var text = "run \(safe(status.runID)): \(status.status.rawValue) (\(safe(status.blueprintID))@\(safe(status.blueprintVersion)))\n"
        if let failure = status.failure { text += "failure: \(safe(failure.description))\n" }
        if let output = status.output, let json = try? output.jsonString(pretty: false) { text += "output: \(json)\n" }
        if status.nodes.isEmpty {
            text += "nodes: this process does not know blueprint \(safe(status.blueprintID))@\(safe(status.blueprintVersion)); "
                + "pass it with --blueprint\n"
        } else {
            var rows = [["NODE", "STATE", "ATTEMPTS", "QUEUE", "DETAIL"]]
            for node in status.nodes {
                var detail = node.lastError.map { "last error: \($0)" } ?? ""
                if let join = node.join, node.state == .pending { detail = "join \(join.arrived)/\(join.expected) (\(join.strategy.rawValue))" }
                if let quarantine = node.quarantine { detail = "quarantined: \(quarantine)" }
                let state = node.state == .pending && node.ready ? "ready" : node.state.rawValue
                rows.append([node.nodeID, state, "\(node.attempts)", node.queue, detail])
            }
            text += StoreCommand.table(rows)
        }
        let reasons = explanation.reasons(now: now)
        if !reasons.isEmpty {
            text += "why:\n" + reasons.map { "  \(safe($0))\n" }.joined()
        }
        return text
    }
}

/// `weft cancel <run>`
public struct CancelCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(commandName: "cancel", abstract: "Cancel a run.")

    @Argument(help: "The run's id.") var run: String
    @OptionGroup var flags: FleetFlags

    public init() {}

    public func run() async throws {
        let run = self.run
        try await withClient(flags) { client in
            let status = try await client.runtime.cancel(run)
            return CommandOutput(standardOutput: "run \(run): \(status.rawValue)\n")
        }.emit()
    }
}

/// `weft signal <run> <node> <action> [--payload json]`
public struct SignalCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "signal",
        abstract: "Resume a node that waits for a signal, with an action (which routes its edges) and a payload (its output).")

    @Argument(help: "The run's id.") var run: String
    @Argument(help: "The waiting node's id.") var node: String
    @Argument(help: "The action, as the node's edges name it (approve, reject, …).") var action: String
    @Option(help: "The payload, as JSON: the node's output (default: null).") var payload: String?
    @OptionGroup var flags: FleetFlags

    public init() {}

    public func run() async throws {
        try await Self.execute(run: run, node: node, action: action, payload: payload, flags: flags).emit()
    }

    /// Sends the signal.
    public static func execute(run: String, node: String, action: String, payload: String?, flags: FleetFlags) async
        -> CommandOutput
    {
        var value = JSONValue.null
        if let payload {
            do { value = try JSONValue(parsing: payload) } catch {
                return .failure("--payload is not valid JSON: \((error as? WeftError)?.message ?? "\(error)")")
            }
        }
        return await withClient(flags) { client in
            try await client.runtime.signal(runID: run, nodeID: node, action: action, payload: value)
            return CommandOutput(standardOutput: "run \(run): signalled \(node) with \(action)\n")
        }
    }
}

/// `weft runs [--status s] [--blueprint id] [--limit n]`
public struct RunsCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(commandName: "runs", abstract: "List the fleet's runs, oldest first.")

    @Option(help: "Only runs with this status: running, completed, failed, cancelled.") var status: String?
    @Option(name: .customLong("blueprint-id"), help: "Only runs of this blueprint id.") var blueprint: String?
    @Option(help: "List at most this many.") var limit = 50
    @OptionGroup var flags: FleetFlags

    public init() {}

    public func run() async throws {
        try await Self.execute(status: status, blueprint: blueprint, limit: limit, flags: flags).emit()
    }

    /// Lists the runs of the configured store.
    public static func execute(status: String?, blueprint: String?, limit: Int, flags: FleetFlags) async -> CommandOutput {
        let configuration: FleetConfiguration
        switch loadConfiguration(flags) {
        case .success(let loaded): configuration = loaded
        case .failure(let output): return output
        }
        if let status, !["running", "completed", "failed", "cancelled"].contains(status) {
            return .failure("--status must be running, completed, failed or cancelled (got \"\(status)\")")
        }
        return await StoreCommand.withStore(configuration.store) { store in
            var runs = try await StoreCommand.storedRuns(store, limit: .max)
            if let status { runs = runs.filter { ($0.status?.rawValue ?? "running") == status } }
            if let blueprint { runs = runs.filter { $0.blueprintID == blueprint } }
            runs.sort { $0.startedAt < $1.startedAt }
            let shown = runs.prefix(limit)
            var rows = [["RUN", "BLUEPRINT", "STATUS", "STARTED", "ENDED"]]
            for run in shown {
                rows.append([
                    run.runID, "\(run.blueprintID)@\(run.blueprintVersion)", run.status?.rawValue ?? "running",
                    StoreCommand.timestamp(run.startedAt), run.finishedAt.map(StoreCommand.timestamp) ?? "-",
                ])
            }
            return CommandOutput(standardOutput: StoreCommand.table(rows) + "\(shown.count) of \(runs.count) runs\n")
        }
    }
}

/// `weft dlq list|redrive`
public struct DLQCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "dlq", abstract: "The dead letters of a job queue: list them, or send them back.", subcommands: [List.self, Redrive.self])

    public init() {}

    /// `weft dlq list [--label l] [--limit n]`
    public struct List: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(commandName: "list", abstract: "List dead letters, with their reasons.")

        @Option(help: "The job queue's label (default: the default queue).") var label = ""
        @Option(help: "At most this many.") var limit = 50
        @OptionGroup var flags: FleetFlags

        public init() {}

        public func run() async throws {
            try await DLQCommand.list(label: label, limit: limit, flags: flags).emit()
        }
    }

    /// `weft dlq redrive [--label l] [--limit n] [--run id]`
    public struct Redrive: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            commandName: "redrive", abstract: "Publish dead letters to their queue again (all, or one run's).")

        @Option(help: "The job queue's label (default: the default queue).") var label = ""
        @Option(help: "At most this many.") var limit = 1000
        @Option(help: "Only the dead letters of this run.") var run: String?
        @OptionGroup var flags: FleetFlags

        public init() {}

        public func run() async throws {
            try await DLQCommand.redrive(label: label, limit: limit, run: run, flags: flags).emit()
        }
    }

    /// Lists the dead letters of the queue with `label`.
    public static func list(label: String, limit: Int, flags: FleetFlags) async -> CommandOutput {
        await withClient(flags) { client in
            let queue = client.configuration.fleetOptions.jobQueue(label: label)
            let letters = try await client.transport.deadLetters(of: queue, limit: limit)
            var rows = [["RUN", "NODE", "ATTEMPT", "REASON"]]
            for letter in letters {
                if let envelope = try? Envelope(decoding: letter.message.body) {
                    rows.append([envelope.runID, envelope.nodeID, "\(envelope.attempt)", letter.reason])
                } else {
                    rows.append(["?", "?", "?", letter.reason + " (the message is not an envelope)"])
                }
            }
            return CommandOutput(standardOutput: StoreCommand.table(rows) + "\(letters.count) dead letter\(letters.count == 1 ? "" : "s") in \(queue).dead-letter\n")
        }
    }

    /// Re-publishes dead letters of the queue with `label`.
    public static func redrive(label: String, limit: Int, run: String?, flags: FleetFlags) async -> CommandOutput {
        await withClient(flags) { client in
            let queue = client.configuration.fleetOptions.jobQueue(label: label)
            let count = try await client.transport.redriveDeadLetters(of: queue, limit: limit) { letter in
                guard let run else { return true }
                return (try? Envelope(decoding: letter.message.body))?.runID == run
            }
            return CommandOutput(standardOutput: "redrove \(count) dead letter\(count == 1 ? "" : "s") to \(queue)\n")
        }
    }
}

/// `weft foreman`: keeps this machine's workers alive.
public struct ForemanCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "foreman",
        abstract: "Run this machine's workers: restart those that die, scale with the queues, reload on SIGHUP, drain on SIGTERM.")

    @Option(help: "Workers to start with (also WEFT_WORKERS; the file's foreman.workers).") var workers: Int?
    @OptionGroup var flags: FleetFlags

    public init() {}

    public func run() async throws {
        let flags = self.flags
        var overrides = flags.overrides
        overrides.workers = workers
        let load: @Sendable () throws -> FleetConfiguration = { [overrides] in
            try FleetConfiguration.load(file: flags.config, overrides: overrides)
        }
        let configuration: FleetConfiguration
        do {
            configuration = try load()
            // The workers' settings, with the broker's password, go in the status directory:
            // refused unless it is this user's alone.
            try FleetStatusDirectory(path: configuration.statusDirectory).prepare()
        } catch {
            return try CommandOutput(standardError: "weft: \(error)\n", status: 64).emit()
        }
        FleetProcess.bootstrap(configuration)
        var logger = Logger(label: "weft.foreman")
        logger.logLevel = configuration.logLevel
        let foreman = Foreman(configuration: configuration, reload: load, logger: logger)
        var services = [ServiceGroupConfiguration.ServiceConfiguration(service: foreman, successTerminationBehavior: .gracefullyShutdownGroup)]
        if configuration.metricsPort > 0, let registry = FleetProcess.metricsRegistry {
            services.append(.init(service: MetricsServer(registry: registry, port: configuration.metricsPort, logger: logger)))
        }
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch let error as WeftError where error.code == .workersCrashLooping {
            // Every worker crash-loops: exit 1, for the supervisor to notice.
            try CommandOutput.failure(error).emit()
        }
    }
}

/// `weft top`: a live view of the fleet on this machine.
public struct TopCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "top",
        abstract: "A live view of queues, workers, throughput, failures and the foreman; Ctrl-C (or a closed terminal) quits.")

    @Option(help: "Seconds between refreshes.") var interval = 1.0
    @Flag(help: "Print one frame and exit.") var once = false
    @Flag(help: "Print plain frames one after another, even on a terminal.") var plain = false
    @OptionGroup var flags: FleetFlags

    public init() {}

    public func run() async throws {
        let configuration = try requireConfiguration(flags)
        var logger = Logger(label: "weft.top")
        logger.logLevel = .critical
        let transport = try? await AMQPTransport.connect(try configuration.amqpConfiguration(), logger: logger)
        let store = configuration.storeIsPostgres || FileManager.default.fileExists(atPath: configuration.store + "/data.mdb")
            ? try? await FleetStateStore.open(configuration, logger: logger) : nil
        let sampler = FleetSampler(configuration: configuration, transport: transport, store: store)
        let live = isatty(STDOUT_FILENO) == 1 && !plain && !once
        let interval = self.interval
        let once = self.once
        let screen = TerminalScreen(live: live)
        screen.begin()
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                // One sample first, so that the first frame shows rates too.
                _ = await sampler.sample()
                try? await Task.sleep(for: .milliseconds(Int64(min(interval, 0.5) * 1000)))
                while !Task.isCancelled {
                    let snapshot = await sampler.sample()
                    screen.show(Dashboard.render(snapshot, configuration: configuration, width: screen.width))
                    if once { return }
                    try? await Task.sleep(for: .milliseconds(Int64(interval * 1000)))
                }
            }
            group.addTask {
                for await _ in await UnixSignalsSequence(trapping: .sigint, .sigterm, .sighup) { return }
            }
            await group.next()
            group.cancelAll()
        }
        screen.end()
        await transport?.shutdown()
        await store?.close()
    }
}

/// The terminal `weft top` draws on: in place on a terminal (cursor hidden, restored at the
/// end), or frame after frame.
final class TerminalScreen: Sendable {
    let live: Bool

    init(live: Bool) { self.live = live }

    var width: Int {
        var size = winsize()
        guard live, ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 20 else { return 160 }
        return Int(size.ws_col)
    }

    func begin() {
        if live { write("\u{1B}[?25l\u{1B}[2J") }
    }

    func show(_ lines: [String]) {
        if live {
            write("\u{1B}[H" + lines.map { $0 + "\u{1B}[K" }.joined(separator: "\n") + "\u{1B}[J")
        } else {
            write(lines.joined(separator: "\n") + "\n\n")
        }
    }

    func end() {
        if live { write("\n\u{1B}[?25h") }
    }

    private func write(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }
}
