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
    /// How each edge was resolved, in the blueprint's order: taken, skipped, or not (yet)
    /// resolved when the run ended (design rules 2 and 3). Built when read.
    public var edges: [EdgeRecord] { table.edges }
    private let table: NodeRecordTable
    /// The run's context when it ended.
    public let context: [String: JSONValue]
    /// How long the run took.
    public let duration: Duration

    /// Creates a result.
    public init(
        runID: String, blueprintID: String, blueprintVersion: String, status: RunStatus, output: JSONValue?,
        failure: RunFailure?, nodes: [NodeRecord], edges: [EdgeRecord] = [], context: [String: JSONValue],
        duration: Duration
    ) {
        self.init(
            runID: runID, blueprintID: blueprintID, blueprintVersion: blueprintVersion, status: status, output: output,
            failure: failure, table: NodeRecordTable(source: .records(nodes, edges)), context: context, duration: duration)
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
    /// Every attempt that ended, in order, with its start and end (wall-clock) and, for a failed
    /// one, its failure. A fallback's time is not an attempt's; a node skipped has none.
    public var attemptLog: [AttemptRecord]

    /// Creates a record.
    public init(
        nodeID: String, status: Status, attempts: Int = 0, duration: Duration = .zero, output: JSONValue? = nil,
        action: String? = nil, failure: NodeFailure? = nil, usedFallback: Bool = false, attemptLog: [AttemptRecord] = []
    ) {
        self.action = action
        self.attemptLog = attemptLog
        self.nodeID = nodeID
        self.status = status
        self.attempts = attempts
        self.duration = duration
        self.output = output
        self.failure = failure
        self.usedFallback = usedFallback
    }
}

extension NodeRecord {
    private enum CodingKeys: String, CodingKey {
        case nodeID, status, attempts, duration, output, action, failure, usedFallback, attemptLog
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            nodeID: try container.decode(String.self, forKey: .nodeID), status: try container.decode(Status.self, forKey: .status),
            attempts: try container.decode(Int.self, forKey: .attempts), duration: try container.decode(Duration.self, forKey: .duration),
            output: try container.decodeIfPresent(JSONValue.self, forKey: .output),
            action: try container.decodeIfPresent(String.self, forKey: .action),
            failure: try container.decodeIfPresent(NodeFailure.self, forKey: .failure),
            usedFallback: try container.decode(Bool.self, forKey: .usedFallback),
            attemptLog: try container.decodeIfPresent([AttemptRecord].self, forKey: .attemptLog) ?? [])
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(nodeID, forKey: .nodeID)
        try container.encode(status, forKey: .status)
        try container.encode(attempts, forKey: .attempts)
        try container.encode(duration, forKey: .duration)
        try container.encodeIfPresent(output, forKey: .output)
        try container.encodeIfPresent(action, forKey: .action)
        try container.encodeIfPresent(failure, forKey: .failure)
        try container.encode(usedFallback, forKey: .usedFallback)
        try container.encode(attemptLog, forKey: .attemptLog)
    }
}

/// One attempt of a node: when it ran and how it ended.
public struct AttemptRecord: Sendable, Hashable, Codable {
    /// The attempt number, from 1.
    public var attempt: Int
    /// When it started, in seconds since 1970 (wall clock).
    public var startedAt: Double
    /// When it ended, in seconds since 1970 (wall clock).
    public var endedAt: Double
    /// Why it failed; `nil` when it produced the node's output.
    public var failure: NodeFailure?

    /// Creates a record.
    public init(attempt: Int, startedAt: Double, endedAt: Double, failure: NodeFailure? = nil) {
        self.attempt = attempt
        self.startedAt = startedAt
        self.endedAt = endedAt
        self.failure = failure
    }
}

/// How one edge of a run was resolved.
public struct EdgeRecord: Sendable, Hashable, Codable {
    /// Taken, skipped, or not resolved.
    public enum Resolution: String, Sendable, Hashable, Codable {
        /// Its source took it: its target got the value it carried.
        case taken
        /// Not taken (its source's result did not choose it, or its source was skipped).
        case skipped
        /// Its source had not finished when the run ended.
        case unresolved
    }

    /// The source node's id.
    public var source: String
    /// The target node's id.
    public var target: String
    /// The edge's action label, if it has one.
    public var action: String?
    /// How it was resolved.
    public var resolution: Resolution

    /// Creates a record.
    public init(source: String, target: String, action: String? = nil, resolution: Resolution) {
        self.source = source
        self.target = target
        self.action = action
        self.resolution = resolution
    }
}

/// A finished run's node and edge records: given, or built when read from the run's final state.
struct NodeRecordTable: Sendable {
    enum Source: Sendable {
        case records([NodeRecord], [EdgeRecord])
        case run(
            plan: ExecutionPlan, states: [RunStateMachine.NodeState], edges: [RunStateMachine.EdgeState], actions: [Int: String],
            failures: [Int: NodeFailure], attemptLogs: [Int: [AttemptRecord]], anchor: Double)
        /// A distributed run's stored records, decoded when read.
        case stored(plan: ExecutionPlan, records: [[UInt8]?])
    }

    let source: Source

    var records: [NodeRecord] {
        switch source {
        case .records(let records, _): return records
        case .run(let plan, _, _, _, _, _, _): return (0..<plan.nodeCount).map { record(at: $0) }
        case .stored(let plan, let records): return (0..<plan.nodeCount).map { Self.decode(plan, records, $0) }
        }
    }

    func record(_ id: String) -> NodeRecord? {
        switch source {
        case .records(let records, _): return records.first { $0.nodeID == id }
        case .run(let plan, _, _, _, _, _, _): return plan.indexByID[id].map { record(at: $0) }
        case .stored(let plan, let records): return plan.indexByID[id].map { Self.decode(plan, records, $0) }
        }
    }

    var edges: [EdgeRecord] {
        switch source {
        case .records(_, let edges):
            return edges
        case .run(let plan, _, let edges, _, _, _, _):
            return plan.blueprint.edges.indices.map { edge in
                let resolution: EdgeRecord.Resolution
                switch edges[edge].status {
                case .taken: resolution = .taken
                case .skipped: resolution = .skipped
                case .unresolved: resolution = .unresolved
                }
                return Self.edgeRecord(plan, edge, resolution)
            }
        case .stored(let plan, let records):
            // From the sources' records: a completed source took the edges its record names
            // and skipped the others; a skipped source skipped them all.
            let decoded = records.map { $0.flatMap { try? NodeResultRecord(decoding: $0) } }
            return plan.blueprint.edges.indices.map { edge in
                let resolution: EdgeRecord.Resolution
                switch decoded[Int(plan.ends[edge].source)]?.status {
                case .completed?:
                    resolution = decoded[Int(plan.ends[edge].source)]!.taken.contains { $0.edge == edge } ? .taken : .skipped
                case .skipped?: resolution = .skipped
                case .failed?, nil: resolution = .unresolved
                }
                return Self.edgeRecord(plan, edge, resolution)
            }
        }
    }

    private static func edgeRecord(_ plan: ExecutionPlan, _ edge: Int, _ resolution: EdgeRecord.Resolution) -> EdgeRecord {
        let definition = plan.blueprint.edges[edge]
        return EdgeRecord(source: definition.source, target: definition.target, action: definition.action, resolution: resolution)
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
                output: record.output, action: record.action, failure: record.failure, usedFallback: record.usedFallback,
                attemptLog: record.log)
        } catch {
            return NodeRecord(nodeID: plan.ids[node], status: .interrupted, failure: NodeFailure(error))
        }
    }

    private func record(at node: Int) -> NodeRecord {
        guard case .run(let plan, let states, _, let actions, let failures, let attemptLogs, let anchor) = source else {
            return records[node]
        }
        let log = RunStateMachine.attemptLog(of: states[node], logged: attemptLogs[node] ?? [], anchor: anchor)
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
            usedFallback: states[node].usedFallback, attemptLog: log)
    }
}
