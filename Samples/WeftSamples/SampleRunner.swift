import Foundation
import Logging
import Weft

/// Runs a sample, embedded in memory (the default) or distributed over a fleet of workers, and
/// prints what happened, the result and the run drawn as a Mermaid graph. Which one is
/// configuration: the sample's node code is the same.
public enum SampleRunner {
    /// Where a sample runs.
    public enum Mode: Sendable, Equatable {
        /// In this process, on ``LocalRuntime``: events are printed as they happen.
        case embedded
        /// On a fleet of `workers` workers in this process over in-memory backends (queue,
        /// context and coordination stores), driven through ``DistributedRuntime``.
        case distributed(workers: Int)
    }

    /// Runs `sample` with `input` (its own sample input when `nil`) and returns the result.
    public static func run(
        _ sample: SampleCatalog.Sample, input: JSONValue? = nil, mode: Mode = .embedded,
        print write: @escaping @Sendable (String) -> Void = { print($0) }
    ) async throws -> RunResult {
        let result: RunResult
        switch mode {
        case .embedded:
            result = try await runEmbedded(sample, input: input, print: write)
        case .distributed(let workers):
            result = try await runDistributed(sample, input: input, workers: workers, print: write)
        }
        write("")
        write("status: \(result.status.rawValue)")
        if let output = result.output { write("output: \(try output.jsonString(pretty: true))") }
        if let failure = result.failure { write("failure: \(failure)") }
        write("")
        write(GraphRenderer.mermaid(sample.workflow.blueprint, run: result))
        return result
    }

    private static func runEmbedded(
        _ sample: SampleCatalog.Sample, input: JSONValue?, print write: @Sendable (String) -> Void
    ) async throws -> RunResult {
        let runtime = LocalRuntime(sample.workflow)
        let events = runtime.events()
        let handle = try runtime.start(sample.workflow.blueprint, input: input ?? sample.input)
        write("▶ \(sample.name) (run \(handle.runID))")
        let progress = ProgressLine(total: sample.workflow.blueprint.nodes.count)
        var done = 0
        for await event in events where event.runID == handle.runID {
            progress.finish()
            write("  " + describe(event.kind))
            if case .nodeWaiting(let node) = event.kind, let signal = sample.signals.first(where: { $0.node == node }) {
                write("  ✉ signalling \(node): \(signal.action) \(try signal.payload.jsonString(pretty: false))")
                try runtime.signal(runID: handle.runID, nodeID: node, action: signal.action, payload: signal.payload)
            }
            switch event.kind {
            case .nodeFinished, .nodeSkipped: done += 1
            default: break
            }
            if case .runFinished = event.kind { break }
            progress.show(done: done)
        }
        return await handle.result()
    }

    private static func runDistributed(
        _ sample: SampleCatalog.Sample, input: JSONValue?, workers: Int, print write: @escaping @Sendable (String) -> Void
    ) async throws -> RunResult {
        var logger = Logger(label: "weft.sample")
        logger.logLevel = .warning
        let fleet = try await InProcessFleet.start(
            registry: sample.workflow.registry, blueprints: [sample.workflow.blueprint], workers: workers,
            backends: .inMemory(), worker: Worker.Configuration(logger: logger),
            client: DistributedRuntime.Configuration(logger: logger))
        do {
            let handle = try await fleet.client.start(sample.workflow.blueprint, input: input ?? sample.input)
            write("▶ \(sample.name) (run \(handle.runID)) on \(workers) workers over in-memory backends")
            let progress = ProgressLine(total: sample.workflow.blueprint.nodes.count)
            let client = fleet.client
            let watcher = Task {
                var signalled = Set<String>()
                while !Task.isCancelled {
                    if let status = try? await handle.status() {
                        if progress.enabled {
                            progress.show(done: status.nodes.filter { $0.state == .completed || $0.state == .skipped }.count)
                        }
                        // Stand in for the person who answers a waiting node.
                        for node in status.nodes where node.state == .waiting && !signalled.contains(node.nodeID) {
                            guard let signal = sample.signals.first(where: { $0.node == node.nodeID }) else { continue }
                            signalled.insert(node.nodeID)
                            progress.finish()
                            write("  ✉ signalling \(node.nodeID): \(signal.action)")
                            try? await client.signal(
                                runID: handle.runID, nodeID: node.nodeID, action: signal.action, payload: signal.payload)
                        }
                    }
                    try? await Task.sleep(for: .milliseconds(100))
                }
            }
            let result = try await handle.result()
            watcher.cancel()
            progress.finish()
            for record in result.nodes {
                var line = "  \(record.nodeID): \(record.status.rawValue)"
                if record.attempts > 1 { line += " after \(record.attempts) attempts" }
                if record.usedFallback { line += " via fallback" }
                write(line)
            }
            for (index, worker) in fleet.workers.enumerated() {
                write("  worker \(index): \(worker.statistics.completed) jobs, \(worker.statistics.retriesScheduled) retries scheduled")
            }
            await fleet.shutdown()
            return result
        } catch {
            await fleet.shutdown()
            throw error
        }
    }

    /// The entry point of a sample executable: `--input '<json>'` overrides the sample input;
    /// `--distributed [--workers N]` (or `WEFT_RUNTIME=distributed`) runs it on a fleet of N
    /// workers (default 3) in this process instead of embedded.
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
            let result = try await run(sample, input: input, mode: mode(arguments: arguments))
            return result.status == .completed ? 0 : 1
        } catch {
            FileHandle.standardError.write(Data("\(name): \(error)\n".utf8))
            return 1
        }
    }

    /// The mode the arguments and the environment ask for.
    static func mode(arguments: [String], environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Mode {
        let distributed = arguments.contains("--distributed") || environment["WEFT_RUNTIME"] == "distributed"
        guard distributed else {
            if let runtime = environment["WEFT_RUNTIME"], runtime != "embedded" {
                throw WeftError(.invalidInput, "WEFT_RUNTIME must be embedded or distributed, not \"\(runtime)\"")
            }
            return .embedded
        }
        var workers = 3
        if let flag = arguments.firstIndex(of: "--workers") {
            guard flag + 1 < arguments.count, let count = Int(arguments[flag + 1]), count >= 1 else {
                throw WeftError(.invalidInput, "--workers needs a number of at least 1")
            }
            workers = count
        }
        return .distributed(workers: workers)
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
        case .nodeWaiting(let node): return "⏸ \(node) waiting"
        case .edgeTaken(let source, let target): return "  \(source) ⇒ \(target)"
        case .edgeSkipped(let source, let target): return "  \(source) ⇏ \(target)"
        case .runFinished(let status): return "run finished: \(status.rawValue)"
        }
    }
}
