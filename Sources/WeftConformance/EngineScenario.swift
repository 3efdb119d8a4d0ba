import Weft

/// A workflow and the inputs to run it with, to check that a runtime follows the rules of a
/// run (design §2) exactly as ``LocalRuntime`` does.
public struct EngineScenario: Sendable, CustomStringConvertible {
    /// A short name naming the rule it exercises.
    public var name: String
    /// The workflow: blueprint and node code. Node code must be deterministic (given its
    /// input and attempt), so that every runtime must give the same result.
    public var workflow: Workflow
    /// Each input is one run.
    public var inputs: [JSONValue]
    /// The options of every run (its initial context).
    public var options: RunOptions

    /// Creates a scenario.
    public init(_ name: String, inputs: [JSONValue] = [.null], options: RunOptions = RunOptions(), workflow: Workflow) {
        self.name = name
        self.workflow = workflow
        self.inputs = inputs
        self.options = options
    }

    public var description: String { name }
}

/// What of a run must be equal across runtimes.
public struct RunSummary: Sendable, Hashable, CustomStringConvertible {
    /// The terminal status.
    public var status: RunStatus
    /// The output.
    public var output: JSONValue?
    /// The failed node, if a node failed the run.
    public var failedNode: String?
    /// The failure's code.
    public var failureCode: String?
    /// The nodes that completed, sorted.
    public var completed: [String]
    /// The nodes that were skipped, sorted.
    public var skipped: [String]
    /// The final context, for completed runs (a failed run's context depends on timing).
    public var context: [String: JSONValue]?

    /// Summarises a result.
    public init(_ result: RunResult) {
        status = result.status
        output = result.output
        failedNode = result.failure?.nodeID
        failureCode = result.failure?.cause.code
        completed = result.nodes.filter { $0.status == .completed }.map(\.nodeID).sorted()
        skipped = result.nodes.filter { $0.status == .skipped }.map(\.nodeID).sorted()
        context = result.status == .completed ? result.context : nil
        if result.status != .completed {
            // Which other nodes finished before the run failed depends on timing.
            completed = []
            skipped = []
        }
    }

    public var description: String {
        var parts = ["status \(status.rawValue)", "output \(output.map { "\($0)" } ?? "none")"]
        if let failedNode { parts.append("failed at \(failedNode) (\(failureCode ?? "-"))") }
        if !completed.isEmpty { parts.append("completed \(completed)") }
        if !skipped.isEmpty { parts.append("skipped \(skipped)") }
        if let context, !context.isEmpty { parts.append("context \(JSONValue.object(context))") }
        return parts.joined(separator: ", ")
    }

    /// What differs from `other`, one line each.
    public func differences(from other: RunSummary) -> [String] {
        var lines: [String] = []
        if status != other.status { lines.append("status \(status.rawValue) ≠ \(other.status.rawValue)") }
        if output != other.output { lines.append("output \(output.map { "\($0)" } ?? "none") ≠ \(other.output.map { "\($0)" } ?? "none")") }
        if failedNode != other.failedNode { lines.append("failed node \(failedNode ?? "none") ≠ \(other.failedNode ?? "none")") }
        if failureCode != other.failureCode { lines.append("failure code \(failureCode ?? "none") ≠ \(other.failureCode ?? "none")") }
        if completed != other.completed { lines.append("completed \(completed) ≠ \(other.completed)") }
        if skipped != other.skipped { lines.append("skipped \(skipped) ≠ \(other.skipped)") }
        if context != other.context { lines.append("context \(context.map { "\(JSONValue.object($0))" } ?? "-") ≠ \(other.context.map { "\(JSONValue.object($0))" } ?? "-")") }
        return lines
    }
}
