/// Something that happened in a run, as seen by subscribers of ``LocalRuntime/events()``.
public struct RunEvent: Sendable, Hashable {
    /// What happened.
    public enum Kind: Sendable, Hashable {
        /// The run started.
        case runStarted(blueprintID: String, version: String)
        /// An attempt of a node started.
        case nodeStarted(nodeID: String, attempt: Int)
        /// A node finished with an output.
        case nodeFinished(nodeID: String, attempt: Int, duration: Duration, usedFallback: Bool)
        /// An attempt failed; `willRetry` says whether another attempt is scheduled.
        case nodeFailed(nodeID: String, attempt: Int, failure: NodeFailure, willRetry: Bool)
        /// Attempt `attempt` of a node is scheduled after `delay`.
        case nodeRetrying(nodeID: String, attempt: Int, delay: Duration)
        /// A wait or a sleep paused at a node: nothing downstream of it starts until a signal
        /// (or its timer) ends it.
        case nodeWaiting(nodeID: String)
        /// A node was skipped: every incoming edge was skipped.
        case nodeSkipped(nodeID: String)
        /// An edge was taken.
        case edgeTaken(source: String, target: String)
        /// An edge was skipped.
        case edgeSkipped(source: String, target: String)
        /// The run ended.
        case runFinished(status: RunStatus)
    }

    /// The run it happened in.
    public var runID: String
    /// What happened.
    public var kind: Kind

    /// Creates an event.
    public init(runID: String, kind: Kind) {
        self.runID = runID
        self.kind = kind
    }
}
