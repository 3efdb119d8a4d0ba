/// Where a run stands. A run ends in exactly one of ``completed``, ``failed`` or ``cancelled``.
public enum RunStatus: String, Sendable, Hashable, Codable {
    /// Nodes are running or ready to run.
    case running
    /// Paused for a signal or a timer.
    case waiting
    /// Every node completed or was skipped.
    case completed
    /// A node failed for good, or the run passed its deadline.
    case failed
    /// The run was cancelled.
    case cancelled

    /// Whether the run is over.
    public var isTerminal: Bool {
        switch self {
        case .completed, .failed, .cancelled: return true
        case .running, .waiting: return false
        }
    }
}

/// Why a run failed: the node, the attempt and the cause.
public struct RunFailure: Error, Sendable, Hashable, Codable, CustomStringConvertible {
    /// The node that failed, or `nil` when the run itself failed (its deadline passed).
    public var nodeID: String?
    /// The attempt that failed last.
    public var attempt: Int?
    /// The cause.
    public var cause: NodeFailure

    /// Creates a failure.
    public init(nodeID: String?, attempt: Int?, cause: NodeFailure) {
        self.nodeID = nodeID
        self.attempt = attempt
        self.cause = cause
    }

    public var description: String {
        if let nodeID {
            return "node \"\(nodeID)\" failed on attempt \(attempt ?? 0): \(cause.message)"
        }
        return "run failed: \(cause.message)"
    }
}
