import ArgumentParser
import Foundation
import Weft
import WeftFleet
import WeftSamples

/// `weft resume <snapshot.json> [--signal node=action[:payload]]…`
public struct ResumeCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "resume", abstract: "Resume an in-memory run suspended with `weft run --suspend-to`.")

    /// The largest snapshot file read: 64 MiB.
    static let snapshotLimit = 64 << 20

    @Argument(help: "The snapshot file `weft run --suspend-to` wrote.") var path: String
    @OptionGroup var options: EmbeddedRunOptions

    public init() {}

    public func run() async throws {
        try await Self.execute(
            path: path, verbose: options.verbose, graph: options.graph, signals: options.signals, suspendTo: options.suspendTo
        ).emit()
    }

    /// Resumes the run suspended in the snapshot at `path`.
    public static func execute(
        path: String, verbose: Bool = false, graph: Bool = false, signals: [String] = [], suspendTo: String? = nil,
        registry: NodeRegistry = SampleCatalog.registry
    ) async -> CommandOutput {
        do {
            let data: Data
            switch FileContents.read(path, limit: snapshotLimit) {
            case .success(let contents): data = contents
            case .failure(let failure): return .failure("\(path): \(failure)")
            }
            let snapshot: RunSnapshot
            do { snapshot = try JSONDecoder().decode(RunSnapshot.self, from: data) } catch {
                return .failure("\(path): not a run snapshot (\(error))")
            }
            let answers: EmbeddedRun.Answers
            switch EmbeddedRun.answers(signals) {
            case .success(let parsed): answers = parsed
            case .failure(let message): return .failure(message.text)
            }
            let runtime = LocalRuntime(registry: registry)
            let events = runtime.events()
            let handle = try runtime.resume(snapshot)
            return try await EmbeddedRun.drive(
                runtime: runtime, handle: handle, events: events, blueprint: snapshot.blueprint, answers: answers,
                suspendTo: suspendTo, verbose: verbose, graph: graph)
        } catch {
            return .failure(error)
        }
    }
}
