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
    /// The signals a run gets: each goes to its node when the node waits for one (a node that
    /// never waits, its branch skipped, gets none).
    public var signals: [Signal]

    /// A signal for a waiting node.
    public struct Signal: Sendable, Hashable {
        /// The node that waits for it.
        public var nodeID: String
        /// The action it carries.
        public var action: String
        /// Its payload, the node's output.
        public var payload: JSONValue

        /// Creates a signal.
        public init(nodeID: String, action: String, payload: JSONValue = .null) {
            self.nodeID = nodeID
            self.action = action
            self.payload = payload
        }
    }

    /// Creates a scenario.
    public init(
        _ name: String, inputs: [JSONValue] = [.null], options: RunOptions = RunOptions(), signals: [Signal] = [],
        workflow: Workflow
    ) {
        self.name = name
        self.workflow = workflow
        self.inputs = inputs
        self.options = options
        self.signals = signals
    }

    public var description: String { name }
}

/// What of a run must be equal across runtimes: its status, result and failure and, for a
/// completed run, everything observable of each node (its state, output, action, attempts and
/// fallback use) and how each edge was resolved. Durations and times are not compared.
public struct RunSummary: Sendable, Hashable, CustomStringConvertible {
    /// What of one node must be equal across runtimes.
    public struct NodeSummary: Sendable, Hashable, CustomStringConvertible {
        /// Where the node ended up.
        public var status: NodeRecord.Status
        /// Its output.
        public var output: JSONValue?
        /// The action it returned.
        public var action: String?
        /// How many attempts ran.
        public var attempts: Int
        /// Whether its fallback produced its output.
        public var usedFallback: Bool
        /// Its attempt log without the times: each attempt's number and, for a failed one, its
        /// failure's message.
        public var attemptLog: [String]

        /// Summarises a node's record.
        public init(_ record: NodeRecord) {
            status = record.status
            output = record.output
            action = record.action
            attempts = record.attempts
            usedFallback = record.usedFallback
            attemptLog = record.attemptLog.map { "\($0.attempt)" + ($0.failure.map { " failed: \($0.message)" } ?? " succeeded") }
        }

        public var description: String {
            var parts = [status.rawValue]
            if let output { parts.append("output \(output)") }
            if let action { parts.append("action \(action)") }
            parts.append("attempts \(attempts)")
            if usedFallback { parts.append("fallback") }
            if !attemptLog.isEmpty { parts.append("log [\(attemptLog.joined(separator: "; "))]") }
            return parts.joined(separator: " ")
        }
    }

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
    /// Each node's summary by id, for completed runs (which nodes of a failed run finished
    /// before it failed depends on timing).
    public var nodes: [String: NodeSummary]
    /// How each edge was resolved, in the blueprint's order, for completed runs.
    public var edges: [EdgeRecord]

    /// Summarises a result.
    public init(_ result: RunResult) {
        status = result.status
        output = result.output
        failedNode = result.failure?.nodeID
        failureCode = result.failure?.cause.code
        completed = result.nodes.filter { $0.status == .completed }.map(\.nodeID).sorted()
        skipped = result.nodes.filter { $0.status == .skipped }.map(\.nodeID).sorted()
        context = result.status == .completed ? result.context : nil
        nodes = [:]
        edges = []
        if result.status == .completed {
            for record in result.nodes { nodes[record.nodeID] = NodeSummary(record) }
            edges = result.edges
        } else {
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
        if edges != other.edges {
            let described = { (edges: [EdgeRecord]) in edges.map { "\($0.source)→\($0.target) \($0.resolution.rawValue)" } }
            lines.append("edges \(described(edges)) ≠ \(described(other.edges))")
        }
        for id in Set(nodes.keys).union(other.nodes.keys).sorted() where nodes[id] != other.nodes[id] {
            lines.append("node \(id): \(nodes[id].map { "\($0)" } ?? "absent") ≠ \(other.nodes[id].map { "\($0)" } ?? "absent")")
        }
        return lines
    }
}
