import Foundation
import Weft

/// Runs a sample embedded in memory, printing each event as it happens, then the result and
/// the run drawn as a Mermaid graph.
public enum SampleRunner {
    /// Runs `sample` with `input` (its own sample input when `nil`) and returns the result.
    public static func run(_ sample: SampleCatalog.Sample, input: JSONValue? = nil, print write: @Sendable (String) -> Void = { print($0) }) async throws -> RunResult {
        let runtime = LocalRuntime(sample.workflow)
        let events = runtime.events()
        let handle = try runtime.start(sample.workflow.blueprint, input: input ?? sample.input)
        write("▶ \(sample.name) (run \(handle.runID))")
        for await event in events where event.runID == handle.runID {
            write("  " + describe(event.kind))
            if case .runFinished = event.kind { break }
        }
        let result = await handle.result()
        write("")
        write("status: \(result.status.rawValue)")
        if let output = result.output { write("output: \(try output.jsonString(pretty: true))") }
        if let failure = result.failure { write("failure: \(failure)") }
        write("")
        write(GraphRenderer.mermaid(sample.workflow.blueprint, run: result))
        return result
    }

    /// The entry point of a sample executable: `--input '<json>'` overrides the sample input.
    public static func main(sample name: String, arguments: [String] = CommandLine.arguments) async -> Int32 {
        guard let sample = SampleCatalog.sample(named: name) else {
            FileHandle.standardError.write(Data("no sample named \(name)\n".utf8))
            return 2
        }
        do {
            var input: JSONValue? = nil
            if let flag = arguments.firstIndex(of: "--input") {
                guard flag + 1 < arguments.count else { throw WeftError(.invalidInput, "--input needs a JSON value") }
                input = try JSONValue(parsing: arguments[flag + 1])
            }
            let result = try await run(sample, input: input)
            return result.status == .completed ? 0 : 1
        } catch {
            FileHandle.standardError.write(Data("\(name): \(error)\n".utf8))
            return 1
        }
    }

    static func describe(_ kind: RunEvent.Kind) -> String {
        switch kind {
        case .runStarted(let id, let version): return "run started: \(id) v\(version)"
        case .nodeStarted(let node, let attempt): return "→ \(node) (attempt \(attempt))"
        case .nodeFinished(let node, _, let duration, let fallback):
            return "✓ \(node) in \(duration.formatted(.units(allowed: [.milliseconds], fractionalPart: .show(length: 2))))\(fallback ? " via fallback" : "")"
        case .nodeFailed(let node, let attempt, let failure, let willRetry):
            return "✗ \(node) attempt \(attempt): \(failure.message)\(willRetry ? " (will retry)" : "")"
        case .nodeRetrying(let node, let attempt, let delay):
            return "↻ \(node) attempt \(attempt) in \(delay.formatted(.units(allowed: [.milliseconds], fractionalPart: .show(length: 0))))"
        case .nodeSkipped(let node): return "· \(node) skipped"
        case .edgeTaken(let source, let target): return "  \(source) ⇒ \(target)"
        case .edgeSkipped(let source, let target): return "  \(source) ⇏ \(target)"
        case .runFinished(let status): return "run finished: \(status.rawValue)"
        }
    }
}
