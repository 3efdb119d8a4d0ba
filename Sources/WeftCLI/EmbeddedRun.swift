import ArgumentParser
import Foundation
import Weft

/// The options `weft run` and `weft resume` share.
public struct EmbeddedRunOptions: ParsableArguments {
    @Flag(help: "Print the run's node records.") var verbose = false
    @Flag(help: "Print the run as a Mermaid graph.") var graph = false
    @Option(
        name: .customLong("signal"),
        help: "The answer to a node that waits for a signal: node=action, or node=action:<payload JSON>. Repeatable.")
    var signals: [String] = []
    @Option(help: "When a node waits for a signal no --signal answers, suspend the run to this file (resume it with `weft resume`).")
    var suspendTo: String?

    public init() {}
}

/// What `weft run` and `weft resume` share: answering waits from `--signal`, suspending to a
/// file, and describing the result.
enum EmbeddedRun {
    typealias Answers = [String: (action: String, payload: JSONValue)]

    struct Message: Error {
        var text: String
    }

    /// The `--signal node=action[:payload]` answers, by node.
    static func answers(_ signals: [String]) -> Result<Answers, Message> {
        var answers: Answers = [:]
        for signal in signals {
            guard let equals = signal.firstIndex(of: "="), equals != signal.startIndex else {
                return .failure(Message(text: "--signal \(signal): write node=action or node=action:<payload JSON>"))
            }
            let node = String(signal[..<equals])
            let rest = signal[signal.index(after: equals)...]
            let colon = rest.firstIndex(of: ":") ?? rest.endIndex
            var payload = JSONValue.null
            if colon < rest.endIndex {
                do { payload = try JSONValue(parsing: String(rest[rest.index(after: colon)...])) } catch {
                    return .failure(Message(text: "--signal \(signal): the payload is not valid JSON"))
                }
            }
            answers[node] = (String(rest[..<colon]), payload)
        }
        return .success(answers)
    }

    /// Follows the run to its end (or its suspension) and describes it.
    static func drive(
        runtime: LocalRuntime, handle: RunHandle, events: AsyncStream<RunEvent>, blueprint: Blueprint, answers: Answers,
        suspendTo: String?, verbose: Bool, graph: Bool
    ) async throws -> CommandOutput {
        var unanswered: String? = nil
        var suspendedAt: String? = nil
        var toSuspend: String? = nil
        for await event in events where event.runID == handle.runID {
            if case .runFinished = event.kind { break }
            if case .nodeWaiting(let node) = event.kind, blueprint.node(node)?.uses == "weft.wait" {
                if let answer = answers[node] {
                    try runtime.signal(runID: handle.runID, nodeID: node, action: answer.action, payload: answer.payload)
                } else if suspendTo != nil {
                    toSuspend = node
                } else {
                    unanswered = node
                    handle.cancel()
                }
            }
            // Suspend once nothing but waits and sleeps is in progress (other nodes may still run).
            if let node = toSuspend, let suspendTo {
                do {
                    let snapshot = try await runtime.suspend(runID: handle.runID)
                    let encoder = JSONEncoder()
                    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                    try encoder.encode(snapshot).write(to: URL(fileURLWithPath: suspendTo))
                    suspendedAt = node
                    toSuspend = nil
                } catch let error as WeftError where error.code == .notWaiting {
                    continue
                }
            }
        }
        let result = await handle.result()
        if let unanswered {
            return .failure(
                "node \(unanswered) waits for a signal, which an in-memory run can only get from --signal "
                    + "(say, --signal \(unanswered)=approve), or suspend with --suspend-to <file>; the run was cancelled")
        }
        if let suspendedAt, let suspendTo {
            return CommandOutput(
                standardOutput: "status: waiting\nsuspended at node \(suspendedAt) to \(suspendTo)\n"
                    + "resume with: weft resume \(suspendTo) --signal \(suspendedAt)=<action>\n")
        }
        var text = "status: \(result.status.rawValue)\n"
        if let output = result.output { text += "output: \(try output.jsonString(pretty: true))\n" }
        if verbose {
            for record in result.nodes {
                text += "  \(record.nodeID): \(record.status.rawValue), attempts \(record.attempts)"
                    + (record.failure.map { ", last error: \($0.message)" } ?? "") + (record.usedFallback ? ", via fallback" : "") + "\n"
            }
        }
        if graph { text += GraphRenderer.mermaid(blueprint, run: result) }
        guard result.status == .completed else {
            return CommandOutput(
                standardOutput: text, standardError: "weft: run \(result.status.rawValue): \(result.failure?.description ?? "")\n",
                status: 1)
        }
        return CommandOutput(standardOutput: text)
    }
}
