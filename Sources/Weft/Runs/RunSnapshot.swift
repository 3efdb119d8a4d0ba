import Foundation

/// A paused embedded run, as data: everything needed to resume it later, in this process or
/// another one (``LocalRuntime/suspend(runID:)``, ``LocalRuntime/resume(_:)``).
///
/// A run can be suspended while nothing of it runs but waits and sleeps. The snapshot holds its
/// blueprint, input, context, each node's state and output, each edge's resolution, and the
/// waits and sleeps with the wall-clock time they end (a sleep resumed after its end finishes at
/// once). It is `Codable`; encode it with `JSONEncoder` to store it. Node code is not in it:
/// the runtime that resumes it needs a registry with the same code.
public struct RunSnapshot: Sendable, Hashable, Codable {
    /// The snapshot format; a newer one is refused.
    public var format: Int
    /// The run's id (kept on resume).
    public var runID: String
    /// The blueprint the run is pinned to.
    public var blueprint: Blueprint
    /// The run's input.
    public var input: JSONValue
    /// The run's context.
    public var context: [String: JSONValue]
    /// Each node's state, in blueprint order.
    public var nodes: [Node]
    /// Each edge's resolution, in blueprint order: `unresolved`, `taken` or `skipped`.
    public var edges: [String]
    /// The values of taken edges with a transform, by edge index.
    public var edgeValues: [String: JSONValue]
    /// The inputs kept for retries and fallbacks, by node index.
    public var retainedInputs: [String: JSONValue]
    /// The waits and sleeps in progress.
    public var paused: [Pause]

    /// Creates a snapshot; ``LocalRuntime/suspend(runID:)`` makes them.
    public init(
        format: Int = RunSnapshot.currentFormat, runID: String, blueprint: Blueprint, input: JSONValue,
        context: [String: JSONValue], nodes: [Node], edges: [String], edgeValues: [String: JSONValue],
        retainedInputs: [String: JSONValue], paused: [Pause]
    ) {
        self.format = format
        self.runID = runID
        self.blueprint = blueprint
        self.input = input
        self.context = context
        self.nodes = nodes
        self.edges = edges
        self.edgeValues = edgeValues
        self.retainedInputs = retainedInputs
        self.paused = paused
    }

    /// The format this version writes.
    public static let currentFormat = 1

    /// One node's state.
    public struct Node: Sendable, Hashable, Codable {
        /// `pending`, `running`, `waitingForRetry`, `fallingBack`, `completed`, `skipped` or `failed`.
        public var status: String
        public var output: JSONValue?
        /// The action it returned with its output, if any.
        public var action: String?
        public var attempt: Int
        public var usedFallback: Bool
        public var resolvedIncoming: Int
        public var takenIncoming: Int
        /// The time its attempts took, in seconds.
        public var seconds: Double
        /// Its last failure, if an attempt failed.
        public var failure: NodeFailure?
        /// Its attempts so far, with their times (absent in snapshots of older versions).
        public var attemptLog: [AttemptRecord]?
    }

    /// A wait or a sleep in progress.
    public struct Pause: Sendable, Hashable, Codable {
        /// The node's id.
        public var nodeID: String
        public var attempt: Int
        public var input: JSONValue
        /// When the sleep ends or the wait times out (wall clock); `nil` for a wait without a timeout.
        public var endsAt: Date?
    }
}
