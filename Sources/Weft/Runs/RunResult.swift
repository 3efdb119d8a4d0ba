/// The outcome of a run: its status, its output, why it failed, and a record of every node.
public struct RunResult: Sendable {
    /// The run's id.
    public let runID: String
    /// The blueprint's id.
    public let blueprintID: String
    /// The blueprint version the run was pinned to.
    public let blueprintVersion: String
    /// How the run ended.
    public let status: RunStatus
    /// The outputs of the terminal nodes that ran (see design rule 10), when it completed.
    public let output: JSONValue?
    /// Why the run failed or was cancelled.
    public let failure: RunFailure?
    /// A record per node, in the blueprint's order. Built when read, so that a run of a large
    /// graph whose records nobody reads does not pay for them.
    public var nodes: [NodeRecord] { table.records }
    private let table: NodeRecordTable
    /// The run's context when it ended.
    public let context: [String: JSONValue]
    /// How long the run took.
    public let duration: Duration

    /// Creates a result.
    public init(
        runID: String, blueprintID: String, blueprintVersion: String, status: RunStatus, output: JSONValue?,
        failure: RunFailure?, nodes: [NodeRecord], context: [String: JSONValue], duration: Duration
    ) {
        self.init(
            runID: runID, blueprintID: blueprintID, blueprintVersion: blueprintVersion, status: status, output: output,
            failure: failure, table: NodeRecordTable(source: .records(nodes)), context: context, duration: duration)
    }

    init(
        runID: String, blueprintID: String, blueprintVersion: String, status: RunStatus, output: JSONValue?,
        failure: RunFailure?, table: NodeRecordTable, context: [String: JSONValue], duration: Duration
    ) {
        self.runID = runID
        self.blueprintID = blueprintID
        self.blueprintVersion = blueprintVersion
        self.status = status
        self.output = output
        self.failure = failure
        self.table = table
        self.context = context
        self.duration = duration
    }

    /// The record of node `id`, if the blueprint has such a node.
    public subscript(node id: String) -> NodeRecord? {
        table.record(id)
    }

    /// The output decoded as `T`.
    ///
    /// - Throws: the run's ``RunFailure`` when it did not complete, or ``WeftError`` with code
    ///   ``WeftError/Code/invalidInput`` when the output does not decode.
    public func output<T: Decodable>(as type: T.Type = T.self) throws -> T {
        guard status == .completed, let output else {
            throw failure ?? RunFailure(nodeID: nil, attempt: nil, cause: NodeFailure(message: "the run did not complete", errorType: "WeftError"))
        }
        return try output.decode(as: T.self)
    }
}

/// What happened to one node in a run.
public struct NodeRecord: Sendable, Hashable, Codable {
    /// Where a node ended up.
    public enum Status: String, Sendable, Hashable, Codable {
        /// Never started: the run ended first.
        case notRun
        /// Started and was still running or waiting to retry when the run ended.
        case interrupted
        /// Produced an output (possibly through its fallback).
        case completed
        /// Failed for good.
        case failed
        /// Skipped: every incoming edge was skipped.
        case skipped
    }

    /// The node's id.
    public var nodeID: String
    /// Where it ended up.
    public var status: Status
    /// How many attempts ran.
    public var attempts: Int
    /// The time its attempts and fallback took, added up.
    public var duration: Duration
    /// Its output, when it completed.
    public var output: JSONValue?
    /// The action it returned with its output, if any (design rule 2: it picks the edges
    /// labelled with it).
    public var action: String?
    /// Its last failure, if any attempt failed.
    public var failure: NodeFailure?
    /// Whether its output came from a fallback.
    public var usedFallback: Bool

    /// Creates a record.
    public init(
        nodeID: String, status: Status, attempts: Int = 0, duration: Duration = .zero, output: JSONValue? = nil,
        action: String? = nil, failure: NodeFailure? = nil, usedFallback: Bool = false
    ) {
        self.action = action
        self.nodeID = nodeID
        self.status = status
        self.attempts = attempts
        self.duration = duration
        self.output = output
        self.failure = failure
        self.usedFallback = usedFallback
    }
}

/// A finished run's node records: given, or built when read from the run's final state.
struct NodeRecordTable: Sendable {
    enum Source: Sendable {
        case records([NodeRecord])
        case run(plan: ExecutionPlan, states: [RunStateMachine.NodeState], actions: [Int: String], failures: [Int: NodeFailure])
        /// A distributed run's stored records, decoded when read.
        case stored(plan: ExecutionPlan, records: [[UInt8]?])
    }

    let source: Source

    var records: [NodeRecord] {
        switch source {
        case .records(let records): return records
        case .run(let plan, _, _, _): return (0..<plan.nodeCount).map { record(at: $0) }
        case .stored(let plan, let records): return (0..<plan.nodeCount).map { Self.decode(plan, records, $0) }
        }
    }

    func record(_ id: String) -> NodeRecord? {
        switch source {
        case .records(let records): return records.first { $0.nodeID == id }
        case .run(let plan, _, _, _): return plan.indexByID[id].map { record(at: $0) }
        case .stored(let plan, let records): return plan.indexByID[id].map { Self.decode(plan, records, $0) }
        }
    }

    /// Node `node`'s stored record; a record that cannot be read shows as interrupted, with why.
    private static func decode(_ plan: ExecutionPlan, _ records: [[UInt8]?], _ node: Int) -> NodeRecord {
        guard let bytes = records[node] else { return NodeRecord(nodeID: plan.ids[node], status: .notRun) }
        do {
            let record = try NodeResultRecord(decoding: bytes)
            let status: NodeRecord.Status
            switch record.status {
            case .completed: status = .completed
            case .skipped: status = .skipped
            case .failed: status = .failed
            }
            return NodeRecord(
                nodeID: plan.ids[node], status: status, attempts: record.attempt, duration: record.duration,
                output: record.output, action: record.action, failure: record.failure, usedFallback: record.usedFallback)
        } catch {
            return NodeRecord(nodeID: plan.ids[node], status: .interrupted, failure: NodeFailure(error))
        }
    }

    private func record(at node: Int) -> NodeRecord {
        guard case .run(let plan, let states, let actions, let failures) = source else { return records[node] }
        let status: NodeRecord.Status
        switch states[node].status {
        case .pending: status = .notRun
        case .running, .waitingForRetry, .fallingBack: status = .interrupted
        case .completed: status = .completed
        case .skipped: status = .skipped
        case .failed: status = .failed
        }
        return NodeRecord(
            nodeID: plan.ids[node], status: status, attempts: states[node].attempt,
            duration: states[node].duration, output: states[node].output, action: actions[node], failure: failures[node],
            usedFallback: states[node].usedFallback)
    }
}
