import Weft

/// One generated workflow's pieces (see ``WorkflowGenerator``).
struct GeneratedGraph {
    /// How a node fails, if it does.
    enum Failure {
        case none
        /// Its first `attempts` attempts fail (retryable); it has one attempt more.
        case flaky(attempts: Int)
        /// Every attempt fails; with `fallback` the fallback produces its output, else it fails
        /// the run.
        case always(attempts: Int, retryable: Bool, fallback: Bool)
    }

    /// What a node is.
    enum Kind {
        /// Ordinary code; `any` for an `any` join, whose output cannot depend on its input.
        case task(any: Bool)
        case sleep
        /// A wait: with a `signal`, the scenario sends it one (and it has no timeout); without,
        /// it times out with action `action`.
        case wait(action: String, signal: EngineScenario.Signal?)
        case loop(passes: Int)
        case batch(items: Int)
        case subworkflow
    }

    let blueprintID: String
    private(set) var components: [any WorkflowComponent] = []
    /// The signals the scenario's runs send its waits.
    private(set) var signals: [EngineScenario.Signal] = []

    init(seed: UInt64, options: WorkflowGenerator.Options, random: inout GeneratorRandom) {
        blueprintID = "gen\(seed)"
        let count = 2 + random.below(options.maxNodes - 1)
        let ids = (0..<count).map { "g\(seed)n\($0)" }

        // Edges run from earlier nodes to later ones, mostly from recent ones (chains), some
        // from further back (fan-out), several into one node (fan-in); a few later nodes start.
        var incoming = Array(repeating: [Int](), count: count)
        for node in 1..<count where !random.chance(0.1) {
            let wanted = min(node, random.pick([1, 1, 1, 2, 2, 3]))
            var sources = Set<Int>()
            while sources.count < wanted {
                sources.insert(random.chance(0.6) ? max(0, node - 1 - random.below(3)) : random.below(node))
            }
            incoming[node] = sources.sorted()
        }

        var kinds: [Kind] = []
        for node in 0..<count {
            if incoming[node].count > 1 {
                kinds.append(.task(any: random.chance(0.3)))
            } else if options.controlFlow && random.chance(0.3) {
                switch random.below(5) {
                case 0: kinds.append(.sleep)
                case 1:
                    var signal: EngineScenario.Signal?
                    if options.signals, random.chance(0.5) {
                        signal = EngineScenario.Signal(
                            nodeID: ids[node], action: random.pick(["a", "b"]), payload: ["signal": .int(Int64(random.below(100)))])
                        signals.append(signal!)
                    }
                    kinds.append(.wait(action: random.pick(["a", "b"]), signal: signal))
                case 2: kinds.append(.loop(passes: random.below(3)))
                case 3: kinds.append(.batch(items: random.pick([0, 1, 3])))
                default: kinds.append(.subworkflow)
                }
            } else {
                kinds.append(.task(any: false))
            }
        }

        // At most one node may fail the run, so which one fails it never depends on timing.
        var failures = Array(repeating: Failure.none, count: count)
        if options.failures {
            let tasks = (0..<count).filter { if case .task = kinds[$0] { true } else { false } }
            if !tasks.isEmpty, random.chance(0.3) {
                failures[random.pick(tasks)] = .always(attempts: 1 + random.below(2), retryable: true, fallback: false)
            }
            for node in tasks {
                guard case .none = failures[node] else { continue }
                switch random.below(20) {
                case 0..<4: failures[node] = .flaky(attempts: 1 + random.below(2))
                case 4, 5: failures[node] = .always(attempts: 1 + random.below(2), retryable: true, fallback: true)
                case 6: failures[node] = .always(attempts: 2, retryable: false, fallback: true)
                default: break
                }
            }
        }

        // Which nodes' outgoing edges carry action labels.
        var labelled = Array(repeating: false, count: count)
        for node in 0..<count {
            switch kinds[node] {
            case .task, .wait: labelled[node] = random.chance(0.3)
            default: break
            }
        }

        for node in 0..<count {
            // `inputs` reads only the node's sources, which have all finished when an `all`
            // join (or a node with one edge) runs.
            var inputs: InputSpec?
            if case .task(any: false) = kinds[node], let source = incoming[node].first, random.chance(0.15) {
                inputs = .map(["from": .node(ids[source]), "run": "input"])
            }
            components.append(Self.node(
                ids[node], kind: kinds[node], failure: failures[node], labelled: labelled[node],
                quietAction: random.chance(0.2), inputs: inputs, random: &random))
        }
        var hasEdge = Array(repeating: false, count: count)
        for target in 0..<count {
            for source in incoming[target] {
                var action: String?
                if labelled[source], random.chance(0.7) { action = random.pick(["a", "b", "c"]) }
                if case .wait(let timeoutAction, let signal) = kinds[source], !hasEdge[source] {
                    // A wait's actions must lead somewhere: its first edge carries its timeout's
                    // action, or none (a default edge, whatever action a signal carries).
                    action = labelled[source] && signal == nil ? timeoutAction : nil
                }
                hasEdge[source] = true
                var condition: EdgeCondition?
                if random.chance(0.25) {
                    let threshold = 10 + random.below(80)
                    condition = .expression(random.chance(0.5) ? "output.v > \(threshold)" : "output.v <= \(threshold)")
                }
                let transform: EdgeTransform? = random.chance(0.1) ? .expression("{from: '\(ids[source])', v: output.v}") : nil
                components.append(Edge(ids[source], to: ids[target], action: action, when: condition, transform: transform))
            }
        }
    }

    /// A node of `kind`, with its failures and its configuration.
    private static func node(
        _ id: String, kind: Kind, failure: Failure, labelled: Bool, quietAction: Bool, inputs: InputSpec?,
        random: inout GeneratorRandom
    ) -> Node {
        switch kind {
        case .sleep:
            return Node.sleep(id, for: .milliseconds(2))
        case .wait(let action, let signal):
            if signal != nil { return Node.waitForSignal(id, actions: ["a", "b"]) }
            return Node.waitForSignal(id, timeout: .milliseconds(2), timeoutAction: action)
        case .loop(let passes):
            let step = id + "b"
            return Node.loop(id, while: "iteration < \(passes)", maxIterations: 5) {
                Node(step) { context in ["v": .int(Int64(WorkflowGenerator.value(step, context.input)))] }
            }
        case .batch(let items):
            return Node.batch(id, items: "[" + (0..<items).map(String.init).joined(separator: ", ") + "]", concurrency: 2) {
                context in ["v": .int(Int64(WorkflowGenerator.value(id, context.input)))]
            }
        case .subworkflow:
            let first = id + "w1"
            let second = id + "w2"
            let threshold = 10 + random.below(80)
            let child = Workflow(id + "w") {
                Node(first) { context in ["v": .int(Int64(WorkflowGenerator.value(first, context.input)))] }
                Node(second) { context in ["v": .int(Int64(WorkflowGenerator.value(second, context.input)))] }
                Edge(first, to: second, when: .expression("output.v > \(threshold)"))
            }
            return Node.subworkflow(id, child)
        case .task(let any):
            var node = Node(id, routing: { context in
                switch failure {
                case .flaky(let attempts) where context.attempt <= attempts:
                    throw NodeError("attempt \(context.attempt) of \(id) fails", code: "generated", isRetryable: true)
                case .always(_, let retryable, _):
                    throw NodeError("\(id) fails", code: "generated", isRetryable: retryable)
                default:
                    break
                }
                // An `any` join's input is whichever edge came first: its output cannot use it.
                let value = WorkflowGenerator.value(id, any ? .null : context.input)
                let action: String? = labelled ? ["a", "b", "z"][value % 3] : (quietAction ? "z" : nil)
                return NodeOutput(["v": .int(Int64(value))], action: action)
            })
            switch failure {
            case .none: break
            case .flaky(let attempts): node = node.retry(maxAttempts: attempts + 1, backoff: .fixed(.milliseconds(2)))
            case .always(let attempts, _, let fallback):
                node = node.retry(maxAttempts: attempts, backoff: .fixed(.milliseconds(2)))
                if fallback {
                    node = node.fallback { context in
                        ["v": .int(Int64(WorkflowGenerator.value(id, any ? .null : context.input, salt: "fallback"))), "fallback": true]
                    }
                }
            }
            if any { node = node.join(.any) }
            if let inputs { node = node.inputs(inputs) }
            return node
        }
    }
}
