extension RunStateMachine.NodeStatus {
    var name: String {
        switch self {
        case .pending: return "pending"
        case .running: return "running"
        case .waitingForRetry: return "waitingForRetry"
        case .fallingBack: return "fallingBack"
        case .completed: return "completed"
        case .skipped: return "skipped"
        case .failed: return "failed"
        }
    }

    init?(name: String) {
        switch name {
        case "pending": self = .pending
        case "running": self = .running
        case "waitingForRetry": self = .waitingForRetry
        case "fallingBack": self = .fallingBack
        case "completed": self = .completed
        case "skipped": self = .skipped
        case "failed": self = .failed
        default: return nil
        }
    }
}

extension RunStateMachine.EdgeStatus {
    var name: String {
        switch self {
        case .unresolved: return "unresolved"
        case .taken: return "taken"
        case .skipped: return "skipped"
        }
    }

    init?(name: String) {
        switch name {
        case "unresolved": self = .unresolved
        case "taken": self = .taken
        case "skipped": self = .skipped
        default: return nil
        }
    }
}

extension RunStateMachine {
    /// A node's attempt log: the attempts `logged` with wall-clock times (failed ones, or all
    /// of a run restored from a snapshot), then the successful attempt its state holds (its
    /// start an offset from `anchor`, wall-clock seconds), unless a fallback gave the output.
    static func attemptLog(of state: NodeState, logged: [AttemptRecord], anchor: Double) -> [AttemptRecord] {
        guard state.status == .completed, !state.usedFallback, state.started > .zero else { return logged }
        let startedAt = anchor + state.started.seconds
        let failedTime = logged.reduce(0.0) { $0 + ($1.endedAt - $1.startedAt) }
        let endedAt = startedAt + max(0, state.duration.seconds - failedTime)
        return logged + [AttemptRecord(attempt: state.attempt, startedAt: startedAt, endedAt: endedAt)]
    }

    /// The machine's state as a snapshot's nodes, edges and values.
    func snapshotParts(failures: [Int: NodeFailure], attemptLogs: [Int: [AttemptRecord]], anchor: Double) -> (
        nodes: [RunSnapshot.Node], edges: [String], values: [String: JSONValue], inputs: [String: JSONValue]
    ) {
        let nodes = self.nodes.enumerated().map { index, state in
            let log = Self.attemptLog(of: state, logged: attemptLogs[index] ?? [], anchor: anchor)
            return RunSnapshot.Node(
                status: state.status.name, output: state.output, action: actions[index], attempt: state.attempt,
                usedFallback: state.usedFallback,
                resolvedIncoming: Int(state.resolvedIncoming), takenIncoming: Int(state.takenIncoming),
                seconds: state.duration.seconds, failure: failures[index], attemptLog: log.isEmpty ? nil : log)
        }
        return (
            nodes, edges.map(\.status.name),
            Dictionary(uniqueKeysWithValues: transformedValues.map { (String($0.key), $0.value) }),
            Dictionary(uniqueKeysWithValues: retainedInputs.map { (String($0.key), $0.value) })
        )
    }

    /// The machine of a suspended run, as its snapshot left it.
    ///
    /// - Throws: ``WeftError`` (``WeftError/Code/malformedMessage``) when the snapshot does not
    ///   fit the plan.
    init(plan: ExecutionPlan, restoring snapshot: RunSnapshot) throws(WeftError) {
        self.init(plan: plan, input: snapshot.input, seedSource: snapshot.runID)
        guard snapshot.nodes.count == plan.nodeCount, snapshot.edges.count == plan.edges.count else {
            throw WeftError(
                .malformedMessage,
                "The snapshot has \(snapshot.nodes.count) nodes and \(snapshot.edges.count) edges; blueprint "
                    + "\"\(plan.blueprint.id)\" v\(plan.blueprint.version) has \(plan.nodeCount) and \(plan.edges.count)")
        }
        for (index, node) in snapshot.nodes.enumerated() {
            guard let status = NodeStatus(name: node.status) else {
                throw WeftError(.malformedMessage, "The snapshot's node \(plan.ids[index]) has unknown status \"\(node.status)\"")
            }
            nodes[index].status = status
            nodes[index].output = node.output
            if let action = node.action { actions[index] = action }
            nodes[index].attempt = node.attempt
            nodes[index].usedFallback = node.usedFallback
            nodes[index].resolvedIncoming = Int32(clamping: node.resolvedIncoming)
            nodes[index].takenIncoming = Int32(clamping: node.takenIncoming)
            nodes[index].duration = .nanoseconds(Int64(node.seconds * 1e9))
            if status == .completed || status == .skipped { finishedNodes += 1 }
        }
        for (index, name) in snapshot.edges.enumerated() {
            guard let status = EdgeStatus(name: name) else {
                throw WeftError(.malformedMessage, "The snapshot's edge \(index) has unknown status \"\(name)\"")
            }
            edges[index].status = status
        }
        for (key, value) in snapshot.edgeValues {
            guard let edge = Int(key), edge >= 0, edge < plan.edges.count else { continue }
            transformedValues[edge] = value
        }
        for (key, value) in snapshot.retainedInputs {
            guard let node = Int(key), node >= 0, node < plan.nodeCount else { continue }
            retainedInputs[node] = value
        }
        started = true
    }
}
