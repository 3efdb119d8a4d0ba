import ArgumentParser
import Foundation
import Weft
import WeftFleet
import WeftSamples

/// The `weft` command-line tool.
public struct WeftCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "weft",
        abstract: "Run, check and draw Weft workflows; run and control a fleet of workers.",
        subcommands: [
            RunCommand.self, ValidateCommand.self, GraphCommand.self, SamplesCommand.self, WorkerCommand.self, ForemanCommand.self,
            ConfigCommand.self,
            ResumeCommand.self, StartCommand.self, StatusCommand.self, SignalCommand.self, CancelCommand.self, RunsCommand.self, DLQCommand.self, TopCommand.self,
            StoreCommand.self,
        ])

    public init() {}
}

/// What a command printed and how it exits; commands return this so that tests can check both.
public struct CommandOutput: Sendable, Equatable {
    /// Text for standard output.
    public var standardOutput: String
    /// Text for standard error.
    public var standardError: String
    /// The exit status.
    public var status: Int32

    /// Creates an output.
    public init(standardOutput: String = "", standardError: String = "", status: Int32 = 0) {
        self.standardOutput = standardOutput
        self.standardError = standardError
        self.status = status
    }

    /// A failure with a one-line message.
    static func failure(_ message: String, status: Int32 = 1) -> CommandOutput {
        CommandOutput(standardError: "weft: error: \(message)\n", status: status)
    }

    /// A failure describing `error` in one line: a ``WeftError``'s message, or the error itself.
    static func failure(_ error: any Error) -> CommandOutput {
        failure((error as? WeftError)?.message ?? "\(error)")
    }

    func emit() throws {
        if !standardOutput.isEmpty { FileHandle.standardOutput.write(Data(standardOutput.utf8)) }
        if !standardError.isEmpty { FileHandle.standardError.write(Data(standardError.utf8)) }
        if status != 0 { throw ExitCode(status) }
    }
}

/// `weft run <blueprint.json> --input '<json>'`
public struct RunCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Run a blueprint in memory against the sample node registry.")

    @Argument(help: "The blueprint's JSON file.") var path: String
    @Option(help: "The run's input, as JSON.") var input: String = "null"
    @OptionGroup var options: EmbeddedRunOptions

    public init() {}

    public func run() async throws {
        try await Self.execute(
            path: path, input: input, verbose: options.verbose, graph: options.graph, signals: options.signals,
            suspendTo: options.suspendTo
        ).emit()
    }

    /// Runs the blueprint at `path` and describes the result. A node that waits for a signal
    /// gets the one `signals` gives it (`node=action[:payload]`); a wait with none suspends the
    /// run to `suspendTo`, or, without it, ends the run with a clear error, since nothing else
    /// could answer it.
    public static func execute(
        path: String, input: String, verbose: Bool = false, graph: Bool = false, signals: [String] = [],
        suspendTo: String? = nil, registry: NodeRegistry = SampleCatalog.registry
    ) async -> CommandOutput {
        do {
            let blueprint = try BlueprintFile.load(path)
            let value: JSONValue
            do { value = try JSONValue(parsing: input) } catch let error as WeftError {
                return .failure("--input is not valid JSON: \(error.message.replacingOccurrences(of: "Malformed JSON: ", with: ""))")
            }
            let answers: EmbeddedRun.Answers
            switch EmbeddedRun.answers(signals) {
            case .success(let parsed): answers = parsed
            case .failure(let message): return .failure(message.text)
            }
            let report = blueprint.validate(against: registry)
            guard report.isValid else { return .failure(ValidateCommand.describe(report, path: path).trimmingCharacters(in: .newlines)) }
            let runtime = LocalRuntime(registry: registry)
            let events = runtime.events()
            let handle = try runtime.start(blueprint, input: value)
            return try await EmbeddedRun.drive(
                runtime: runtime, handle: handle, events: events, blueprint: blueprint, answers: answers, suspendTo: suspendTo,
                verbose: verbose, graph: graph)
        } catch {
            return .failure(error)
        }
    }
}

/// `weft validate <blueprint.json>`
public struct ValidateCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "validate", abstract: "Check a blueprint against the sample node registry.")

    @Argument(help: "The blueprint's JSON file.") var path: String

    public init() {}

    public func run() async throws {
        try Self.execute(path: path).emit()
    }

    /// Validates the blueprint at `path`.
    public static func execute(path: String, registry: NodeRegistry = SampleCatalog.registry) -> CommandOutput {
        do {
            let blueprint = try BlueprintFile.load(path)
            let report = blueprint.validate(against: registry)
            guard report.isValid else { return CommandOutput(standardError: describe(report, path: path), status: 1) }
            return CommandOutput(
                standardOutput: "\(path): valid (\(blueprint.nodes.count) nodes, \(blueprint.edges.count) edges)\n")
        } catch {
            return .failure(error)
        }
    }

    /// The issues to print at most: a hostile blueprint can have one per node.
    static let issueLimit = 50

    static func describe(_ report: ValidationReport, path: String) -> String {
        var lines = report.issues.prefix(issueLimit).map { "\(path): \($0.code): \($0.message)" }
        if report.issues.count > issueLimit { lines.append("\(path): … and \(report.issues.count - issueLimit) more issues") }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// `weft graph <blueprint.json> [--format mermaid|dot]`
public struct GraphCommand: AsyncParsableCommand {
    /// The drawing formats.
    public enum Format: String, ExpressibleByArgument, Sendable, CaseIterable {
        case mermaid, dot
    }

    public static let configuration = CommandConfiguration(commandName: "graph", abstract: "Draw a blueprint as Mermaid or DOT.")

    @Argument(help: "The blueprint's JSON file.") var path: String
    @Option(help: "mermaid or dot.") var format: Format = .mermaid

    public init() {}

    public func run() async throws {
        try Self.execute(path: path, format: format).emit()
    }

    /// Draws the blueprint at `path`.
    public static func execute(path: String, format: Format) -> CommandOutput {
        do {
            let blueprint = try BlueprintFile.load(path)
            switch format {
            case .mermaid: return CommandOutput(standardOutput: GraphRenderer.mermaid(blueprint))
            case .dot: return CommandOutput(standardOutput: GraphRenderer.dot(blueprint))
            }
        } catch {
            return .failure(error)
        }
    }
}

/// `weft samples [--export <dir>]`
public struct SamplesCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "samples", abstract: "List the samples and the node code `weft run` knows, or export their blueprints.")

    @Option(help: "Write each sample's blueprint as <name>.json into this folder.") var export: String?

    public init() {}

    public func run() async throws {
        try Self.execute(export: export).emit()
    }

    /// Lists or exports the samples.
    public static func execute(export: String?) -> CommandOutput {
        if let export {
            do {
                try FileManager.default.createDirectory(atPath: export, withIntermediateDirectories: true)
                var text = ""
                for sample in SampleCatalog.samples {
                    let path = (export as NSString).appendingPathComponent("\(sample.name).json")
                    try BlueprintFile.encode(sample.workflow.blueprint).write(toFile: path, atomically: true, encoding: .utf8)
                    text += "wrote \(path)\n"
                }
                return CommandOutput(standardOutput: text)
            } catch {
                return .failure("cannot export samples to '\(export)': \(error.localizedDescription)")
            }
        }
        var text = "samples:\n"
        for sample in SampleCatalog.samples { text += "  \(sample.name)  input: \(sample.input)\n" }
        text += "node code:\n"
        for key in SampleCatalog.registry.keys { text += "  \(key)\n" }
        return CommandOutput(standardOutput: text)
    }
}
