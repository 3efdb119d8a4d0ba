/// The rules of a run, with no I/O: given what happened to a node, it records it, resolves edges,
/// eliminates dead paths, fires joins, schedules retries and fallbacks, and decides when the run
/// is over. It returns ``Action``s for its owner (a runtime) to perform.
///
/// Both runtimes drive the same machine, which is what makes their results identical. Every
/// input is idempotent: a duplicate or late event (a result for a node that already has one, a
/// retry for an attempt that is no longer current, anything after the run ended) changes nothing
/// and produces no action.
struct RunStateMachine {
    enum NodeStatus: UInt8, Sendable {
        case pending, running, waitingForRetry, fallingBack, completed, skipped, failed
    }

    enum EdgeStatus: UInt8, Sendable {
        case unresolved, taken, skipped
    }

    /// Something the owner must do. The rare, large cases are boxed so that a batch of ten
    /// thousand `execute` actions stays small.
    enum Action {
        /// Run `attempt` of `node` with `input`.
        case execute(node: Int, attempt: Int, input: JSONValue)
        /// After `delay`, call ``retryDue(node:attempt:context:into:)`` with `attempt`.
        indirect case scheduleRetry(node: Int, attempt: Int, delay: Duration, failure: NodeFailure)
        /// Attempts are exhausted: run the node's fallback with its input and the failure.
        indirect case runFallback(node: Int, input: JSONValue, failure: NodeFailure)
        /// Cancel every attempt still running.
        case cancelInFlight
        /// The run is over; ``outcome`` says how.
        case finish
        /// Trace: an edge was taken.
        case edgeTaken(edge: Int)
        /// Trace: an edge was skipped.
        case edgeSkipped(edge: Int)
        /// Trace: a node was skipped.
        case nodeSkipped(node: Int)
    }

    /// What the machine knows of one node.
    /// Laid out largest first and with narrow integers (64 bytes), since a run holds one per
    /// node of its graph.
    struct NodeState: Sendable {
        var output: JSONValue? = nil
        /// Bookkeeping of the machine's owner, kept here to save it an array: the time the
        /// node's attempts took, when its successful attempt started (on the owner's clock,
        /// from an instant of its choosing; zero when none did), whether its fallback produced
        /// its output, and whether a cleanup hook is still owed.
        var duration: Duration = .zero
        var started: Duration = .zero
        var status: NodeStatus = .pending
        var usedFallback = false
        var needsCleanup = false
        private var storedAttempt: Int32 = 0
        var resolvedIncoming: Int32 = 0
        var takenIncoming: Int32 = 0

        /// The current attempt (0 before the first).
        var attempt: Int {
            get { Int(storedAttempt) }
            set { storedAttempt = Int32(clamping: newValue) }
        }
    }

    /// What the machine knows of one edge. The value a taken edge carries is its source's
    /// output, or, for an edge with a transform, kept in ``transformedValues``.
    struct EdgeState: Sendable {
        var status: EdgeStatus = .unresolved
    }

    let plan: ExecutionPlan
    let input: JSONValue
    /// Whether to emit the trace actions (edges taken and skipped, nodes skipped).
    let traces: Bool

    var status: RunStatus = .running
    /// How the run ended, once it has.
    private(set) var outcome: RunOutcome?
    var nodes: [NodeState]
    var edges: [EdgeState]
    /// The actions completed nodes returned, by node (most return none).
    var actions: [Int: String] = [:]
    /// The values carried by taken edges that have a transform.
    var transformedValues: [Int: JSONValue] = [:]
    /// The inputs of dispatched nodes that may need them again (to retry or fall back).
    var retainedInputs: [Int: JSONValue] = [:]
    var finishedNodes = 0
    var started = false
    /// The run id: it seeds the jitter of retries (``RunRules/retryDelay(_:node:attempt:runID:)``).
    private let seedSource: String
    /// Reused work list for dead-path elimination.
    private var skipStack: [Int] = []

    /// Creates the machine of one run; `seedSource` (the run id) seeds the jitter of its retries,
    /// so that a run's delays can be replayed.
    init(plan: ExecutionPlan, input: JSONValue, seedSource: String, traces: Bool = false) {
        self.plan = plan
        self.input = input
        self.traces = traces
        nodes = Array(repeating: NodeState(), count: plan.nodeCount)
        edges = Array(repeating: EdgeState(), count: plan.edges.count)
        self.seedSource = seedSource
    }

    /// Where node `node` stands.
    func nodeStatus(_ node: Int) -> NodeStatus { nodes[node].status }
    /// Node `node`'s current attempt.
    func attempt(_ node: Int) -> Int { nodes[node].attempt }
    /// Node `node`'s output, once it completed.
    func output(_ node: Int) -> JSONValue? { nodes[node].output }

    /// The owner's bookkeeping of node `node` (see ``NodeState``).
    mutating func annotate(_ node: Int, _ update: (inout NodeState) -> Void) {
        update(&nodes[node])
    }

    // MARK: Inputs

    /// Starts the run: every start node becomes ready.
    mutating func start(context: any ContextReader, into actions: inout [Action]) {
        guard status == .running, !started else { return }
        started = true
        for node in plan.startNodes { dispatch(node, context: context, into: &actions) }
        completeIfDone(into: &actions)
    }

    /// `attempt` of `node` succeeded (or its fallback did) with `output`.
    mutating func succeeded(
        node: Int, attempt: Int, output: NodeOutput, context: any ContextReader, into actions: inout [Action]
    ) {
        guard status == .running, nodes[node].attempt == attempt,
            nodes[node].status == .running || nodes[node].status == .fallingBack
        else { return }
        if RunRules.routesPlainly(plan: plan, node: node) {
            // Every outgoing edge is taken with the output: no decision to compute.
            complete(node, output: output.value, action: output.action)
            let outgoing = plan.adjacency.outgoing(node)
            if outgoing.count > 16 { actions.reserveCapacity(actions.count + outgoing.count) }  // a fan-out
            for edge in outgoing { take(edge, value: output.value, context: context, into: &actions) }
            completeIfDone(into: &actions)
            return
        }
        let decision = route(node: node, output: output, context: context)
        apply(node: node, output: output.value, action: output.action, decision: decision, context: context, into: &actions)
    }

    /// `attempt` of `node` failed with `failure`.
    mutating func failed(node: Int, attempt: Int, failure: NodeFailure, into actions: inout [Action]) {
        guard status == .running, nodes[node].attempt == attempt, nodes[node].status == .running else { return }
        switch RunRules.afterFailure(plan: plan, node: node, attempt: attempt, failure: failure, runID: seedSource) {
        case .retry(let next, let delay):
            nodes[node].status = .waitingForRetry
            actions.append(.scheduleRetry(node: node, attempt: next, delay: delay, failure: failure))
        case .fallBack:
            nodes[node].status = .fallingBack
            actions.append(.runFallback(node: node, input: retainedInputs[node] ?? .null, failure: failure))
        case .fail:
            fail(node: node, failure: failure, into: &actions)
        }
    }

    /// The backoff before `attempt` of `node` has passed.
    mutating func retryDue(node: Int, attempt: Int, into actions: inout [Action]) {
        guard status == .running, nodes[node].status == .waitingForRetry, nodes[node].attempt + 1 == attempt else { return }
        nodes[node].status = .running
        nodes[node].attempt = attempt
        actions.append(.execute(node: node, attempt: attempt, input: retainedInputs[node] ?? .null))
    }

    /// The fallback of `node` failed too (or there was none to run): the node fails for good.
    mutating func fallbackFailed(node: Int, failure: NodeFailure, into actions: inout [Action]) {
        guard status == .running, nodes[node].status == .fallingBack else { return }
        fail(node: node, failure: failure, into: &actions)
    }

    /// The run was cancelled.
    mutating func cancel(into actions: inout [Action]) {
        guard status == .running || status == .waiting else { return }
        status = .cancelled
        actions.append(.cancelInFlight)
        finish(RunRules.cancelled, into: &actions)
    }

    /// The run's deadline passed.
    mutating func deadlineExceeded(_ deadline: Duration, into actions: inout [Action]) {
        guard status == .running || status == .waiting else { return }
        status = .failed
        actions.append(.cancelInFlight)
        finish(RunRules.deadlinePassed(deadline), into: &actions)
    }

    // MARK: Routing

    /// The edges a node's result takes, with the value each carries. Every other outgoing edge
    /// is skipped. Pure: the same output and context always give the same decision, so it can be
    /// recorded with the result and replayed.
    func route(node: Int, output: NodeOutput, context: any ContextReader) -> RouteDecision {
        RunRules.route(plan: plan, runInput: input, nodes: nodes, node: node, output: output, context: context)
    }

    /// Records `node`'s completion with a routing decision, takes and skips its edges, and
    /// dispatches what became ready.
    mutating func apply(
        node: Int, output: JSONValue, action: String?, decision: RouteDecision, context: any ContextReader,
        into actions: inout [Action]
    ) {
        guard status == .running, nodes[node].status == .running || nodes[node].status == .fallingBack else { return }
        complete(node, output: output, action: action)
        var next = 0
        let taken = decision.taken
        for edge in plan.adjacency.outgoing(node) {
            if next < taken.count && taken[next].edge == edge {
                take(edge, value: taken[next].value, context: context, into: &actions)
                next += 1
            } else {
                skip(edge, context: context, into: &actions)
            }
        }
        completeIfDone(into: &actions)
    }

    private mutating func take(_ edge: Int, value: JSONValue, context: any ContextReader, into actions: inout [Action]) {
        guard edges[edge].status == .unresolved else { return }
        edges[edge].status = .taken
        let ends = plan.ends[edge]
        if ends.hasTransform { transformedValues[edge] = value }
        if traces { actions.append(.edgeTaken(edge: edge)) }
        let target = Int(ends.target)
        nodes[target].resolvedIncoming += 1
        nodes[target].takenIncoming += 1
        guard nodes[target].status == .pending else { return }
        let first = nodes[target].takenIncoming == 1
        if RunRules.join(plan.shapes[target].join, arrivals: arrivals(of: target), arriving: .taken(first: first)) == .fire {
            dispatch(target, context: context, into: &actions)
        }
    }

    private mutating func skip(_ edge: Int, context: any ContextReader, into actions: inout [Action]) {
        skipStack.append(edge)
        while let edge = skipStack.popLast() {
            guard edges[edge].status == .unresolved else { continue }
            edges[edge].status = .skipped
            if traces { actions.append(.edgeSkipped(edge: edge)) }
            let target = Int(plan.ends[edge].target)
            nodes[target].resolvedIncoming += 1
            guard nodes[target].status == .pending else { continue }
            switch RunRules.join(plan.shapes[target].join, arrivals: arrivals(of: target), arriving: .skipped) {
            case .wait:
                continue
            case .skip:
                nodes[target].status = .skipped
                finishedNodes += 1
                if traces { actions.append(.nodeSkipped(node: target)) }
                skipStack.append(contentsOf: plan.adjacency.outgoing(target).reversed())
            case .fire:
                dispatch(target, context: context, into: &actions)
            }
        }
    }

    private func arrivals(of node: Int) -> RunRules.Arrivals {
        RunRules.Arrivals(
            incoming: Int(plan.shapes[node].incomingCount), resolved: Int(nodes[node].resolvedIncoming),
            taken: Int(nodes[node].takenIncoming))
    }

    private mutating func dispatch(_ node: Int, context: any ContextReader, into actions: inout [Action]) {
        let input = resolveInput(node: node, context: context)
        nodes[node].status = .running
        nodes[node].attempt = 1
        let shape = plan.shapes[node]
        if shape.maxAttempts > 1 || shape.mayFallBack { retainedInputs[node] = input }
        actions.append(.execute(node: node, attempt: 1, input: input))
    }

    /// The input of a node about to run (design rule 5).
    func resolveInput(node: Int, context: any ContextReader) -> JSONValue {
        let inputs = plan.shapes[node].hasInputs
            ? RunRules.evaluateInputs(plan: plan, runInput: input, nodes: nodes, node: node, context: context) : nil
        return RunRules.input(
            plan: plan, node: node, runInput: input, inputs: inputs, takenCount: Int(nodes[node].takenIncoming)
        ) { edge -> JSONValue? in
            // (`Optional.none`: JSONValue's own `nil` literal is `.null`.)
            edges[edge].status == .taken ? value(of: edge) : Optional.none
        }
    }

    private mutating func finish(_ outcome: RunOutcome, into actions: inout [Action]) {
        self.outcome = outcome
        actions.append(.finish)
    }

    /// The value a taken edge carries.
    private func value(of edge: Int) -> JSONValue {
        let ends = plan.ends[edge]
        if ends.hasTransform { return transformedValues[edge] ?? .null }
        return nodes[Int(ends.source)].output ?? .null
    }

    private mutating func complete(_ node: Int, output: JSONValue, action: String?) {
        nodes[node].status = .completed
        nodes[node].output = output
        if let action { self.actions[node] = action }
        finishedNodes += 1
    }

    private mutating func fail(node: Int, failure: NodeFailure, into actions: inout [Action]) {
        nodes[node].status = .failed
        status = .failed
        actions.append(.cancelInFlight)
        finish(RunRules.nodeFailed(plan: plan, node: node, attempt: nodes[node].attempt, failure: failure), into: &actions)
    }

    private mutating func completeIfDone(into actions: inout [Action]) {
        guard status == .running, RunRules.isComplete(finished: finishedNodes, nodeCount: plan.nodeCount) else { return }
        status = .completed
        finish(RunRules.completed(plan: plan, terminals: terminals), into: &actions)
    }

    /// The completed nodes that took none of their outgoing edges, with their outputs, in node
    /// order (rule 10).
    private var terminals: some Sequence<(node: Int, output: JSONValue)> {
        (0..<plan.nodeCount).lazy.filter { node in
            nodes[node].status == .completed
                && RunRules.isTerminal(takenOutgoing: plan.adjacency.outgoing(node).count { edges[$0].status == .taken })
        }.map { (node: $0, output: nodes[$0].output ?? .null) }
    }
}

/// Which outgoing edges a node's result takes, and what each carries.
struct RouteDecision: Sendable, Hashable {
    struct TakenEdge: Sendable, Hashable {
        /// The edge's index in the plan, in the node's outgoing order.
        var edge: Int
        /// The value the edge carries (the output, transformed if the edge says so).
        var value: JSONValue
    }

    var taken: [TakenEdge]
}

/// How a run ended.
struct RunOutcome: Sendable {
    var status: RunStatus
    var output: JSONValue?
    var failure: RunFailure?
}

/// The scope in which the engine evaluates conditions, transforms and inputs.
struct EngineScope: ExpressionScope {
    let output: JSONValue
    let action: String?
    let input: JSONValue
    let params: JSONValue
    let context: any ContextReader
    let plan: ExecutionPlan
    let nodes: [RunStateMachine.NodeState]

    func value(ofRoot root: String, key: String?) -> JSONValue? {
        switch root {
        case "output": return output
        case "action": return action.map { .string($0) } ?? .null
        case "input": return input
        case "params": return params
        case "context":
            if let key { return context.value(forKey: key) }
            return .object(context.snapshot())
        case "nodes":
            if let key {
                guard let index = plan.indexByID[key] else { return nil }
                return nodes[index].output
            }
            var map: [String: JSONValue] = [:]
            for (index, state) in nodes.enumerated() { if let value = state.output { map[plan.ids[index]] = value } }
            return .object(map)
        default: return nil
        }
    }

    var edgeValues: EdgeValues {
        EdgeValues(output: output, action: action, input: input, context: context)
    }
}

/// A small, fast, seedable random number generator, so that a run's jitter can be replayed.
package struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    package init(seed: UInt64) { state = seed }

    package mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A value in `0..<1`.
    package mutating func nextUnit() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// A stable 64-bit hash of `text` (FNV-1a), for seeding from a run id.
    static func hash(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01b3
        }
        return hash
    }
}

extension RunFailure {
    /// How a cancelled run ended, in both runtimes.
    static let runCancelled = RunFailure(
        nodeID: nil, attempt: nil,
        cause: NodeFailure(
            message: "the run was cancelled", errorType: "WeftError", code: WeftError.Code.cancelled.rawValue,
            isRetryable: false))

    /// How a run that passed its deadline ended, in both runtimes.
    static func deadlinePassed(_ deadline: Duration) -> RunFailure {
        RunFailure(
            nodeID: nil, attempt: nil,
            cause: NodeFailure(
                message: "the run's deadline of \(deadline) passed", errorType: "WeftError",
                code: WeftError.Code.deadlineExceeded.rawValue, isRetryable: false))
    }
}
