/// Where a distributed run stands, read from its records: ``DistributedRuntime/status(_:)``.
public struct DistributedRunStatus: Sendable, Hashable {
    /// Where one node stands.
    public struct Node: Sendable, Hashable {
        /// What is known of the node.
        public enum State: String, Sendable, Hashable {
            /// Not run yet (or running now: workers do not record starts).
            case pending
            /// Completed; its result is recorded.
            case completed
            /// Skipped by dead-path elimination.
            case skipped
            /// Failed for good.
            case failed
            /// An attempt failed and the next waits for its backoff.
            case retrying
            /// Its job crashed workers too often and was set aside.
            case quarantined
            /// A wait or a sleep, paused until a signal or its timer resumes it.
            case waiting
            /// A loop, sub-workflow or batch whose child runs are under way.
            case runningChildren
        }

        /// The node's id.
        public var nodeID: String
        /// What is known of it.
        public var state: State
        /// The attempts recorded so far.
        public var attempts: Int
        /// The last error, when an attempt failed.
        public var lastError: String?
        /// Why the job was quarantined, when it was.
        public var quarantine: String?
        /// The job queue its jobs go to.
        public var queue: String = ""
        /// Whether it is pending and its job should be on ``queue`` now: every edge it waits
        /// for has arrived (a run that does not move with ready nodes has no worker taking them).
        public var ready = false
        /// For a node joining several incoming edges: how many have arrived (been resolved,
        /// taken or skipped), out of how many, and the join's rule.
        public var join: Join?
        /// While it is ``State/retrying``: when the next attempt is due, in seconds since 1970.
        public var retryAt: Double?

        /// Creates a node's status.
        public init(
            nodeID: String, state: State, attempts: Int, lastError: String? = nil, quarantine: String? = nil,
            queue: String = "", ready: Bool = false, join: Join? = nil, retryAt: Double? = nil
        ) {
            self.nodeID = nodeID
            self.state = state
            self.attempts = attempts
            self.lastError = lastError
            self.quarantine = quarantine
            self.queue = queue
            self.ready = ready
            self.join = join
            self.retryAt = retryAt
        }
    }

    /// The arrivals at a joining node.
    public struct Join: Sendable, Hashable {
        /// Incoming edges resolved so far.
        public var arrived: Int
        /// Its incoming edges.
        public var expected: Int
        /// Its rule (`all`, `any`).
        public var strategy: JoinStrategy
    }

    /// The run's id.
    public var runID: String
    /// The blueprint it is pinned to.
    public var blueprintID: String
    /// The blueprint version it is pinned to.
    public var blueprintVersion: String
    /// Running, or how it ended.
    public var status: RunStatus
    /// The output, once it completed.
    public var output: JSONValue?
    /// Why it failed, if it did.
    public var failure: RunFailure?
    /// Every node, in blueprint order (empty when this process lacks the blueprint).
    public var nodes: [Node]
}
