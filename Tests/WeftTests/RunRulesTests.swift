import Testing
@testable import Weft

/// Each rule of a run (design §2), tested directly on its one function in ``RunRules``.
@Suite("The rule book (RunRules, pure)")
struct RunRulesTests {
    static func plan(_ workflow: Workflow) throws -> ExecutionPlan {
        try ExecutionPlan(blueprint: workflow.blueprint, registry: workflow.registry)
    }

    static let branches = Workflow("rules-routing") {
        Node("n", echo)
        Node("big", echo)
        Node("small", echo)
        Node("other", echo)
        Node("guarded", echo)
        Edge("n", to: "big", action: "big")
        Edge("n", to: "small", action: "small")
        Edge("n", to: "other")
        Edge("n", to: "guarded", when: "output > 10", transform: "{big: output}")
    }

    @Test("Rule 2: a matching action picks its labelled edges, else the unlabelled ones, each only if its condition holds")
    func routing() throws {
        let plan = try Self.plan(Self.branches)
        let states = Array(repeating: RunStateMachine.NodeState(), count: plan.nodeCount)
        func taken(_ output: NodeOutput) -> [Int: JSONValue] {
            let decision = RunRules.route(
                plan: plan, runInput: .null, nodes: states, node: 0, output: output, context: StaticContextReader())
            return Dictionary(uniqueKeysWithValues: decision.taken.map { ($0.edge, $0.value) })
        }
        #expect(taken(NodeOutput(5, action: "big")) == [0: 5])
        #expect(taken(NodeOutput(5, action: "small")) == [1: 5])
        // An action no edge carries: the default edges; the guarded one only when it holds,
        // carrying its transform's value.
        #expect(taken(NodeOutput(5, action: "nothing")) == [2: 5])
        #expect(taken(NodeOutput(50)) == [2: 50, 3: ["big": 50]])
        #expect(RunRules.routesPlainly(plan: plan, node: 0) == false)
        #expect(RunRules.routesPlainly(plan: plan, node: 1))
    }

    @Test("Rules 3 and 4: an all join fires once every edge is resolved and one was taken; all skipped skips it")
    func allJoin() {
        typealias A = RunRules.Arrivals
        #expect(RunRules.join(.all, arrivals: A(incoming: 3, resolved: 1, taken: 1), arriving: .taken(first: true)) == .wait)
        #expect(RunRules.join(.all, arrivals: A(incoming: 3, resolved: 2, taken: 1), arriving: .skipped) == .wait)
        #expect(RunRules.join(.all, arrivals: A(incoming: 3, resolved: 3, taken: 1), arriving: .skipped) == .fire)
        #expect(RunRules.join(.all, arrivals: A(incoming: 3, resolved: 3, taken: 3), arriving: .taken(first: false)) == .fire)
        #expect(RunRules.join(.all, arrivals: A(incoming: 3, resolved: 3, taken: 0), arriving: .skipped) == .skip)
        // One incoming edge: taken fires, skipped skips (dead-path elimination).
        #expect(RunRules.join(.all, arrivals: A(incoming: 1, resolved: 1, taken: 1), arriving: .taken(first: true)) == .fire)
        #expect(RunRules.join(.all, arrivals: A(incoming: 1, resolved: 1, taken: 0), arriving: .skipped) == .skip)
    }

    @Test("Rule 4: an any join fires on its first taken edge only, and is skipped when every edge was skipped")
    func anyJoin() {
        typealias A = RunRules.Arrivals
        #expect(RunRules.join(.any, arrivals: A(incoming: 3, resolved: 1, taken: 1), arriving: .taken(first: true)) == .fire)
        #expect(RunRules.join(.any, arrivals: A(incoming: 3, resolved: 2, taken: 2), arriving: .taken(first: false)) == .wait)
        #expect(RunRules.join(.any, arrivals: A(incoming: 3, resolved: 3, taken: 1), arriving: .skipped) == .wait)
        #expect(RunRules.join(.any, arrivals: A(incoming: 3, resolved: 2, taken: 0), arriving: .skipped) == .wait)
        #expect(RunRules.join(.any, arrivals: A(incoming: 3, resolved: 3, taken: 0), arriving: .skipped) == .skip)
    }

    static let join = Workflow("rules-inputs") {
        Node("a", echo)
        Node("b", echo)
        Node("c", echo)
        Node("j", echo)
        Node("picked", echo).inputs(.map(["first": .node("a"), "seed": "input"]))
        Edge("a", to: "j")
        Edge("b", to: "j")
        Edge("c", to: "j")
        Edge("a", to: "picked")
    }

    @Test("Rule 5: the run's input at a start node, one taken edge's value, else a map by source of the taken edges")
    func inputs() throws {
        let plan = try Self.plan(Self.join)
        let j = plan.indexByID["j"]!
        let values: [Int: JSONValue] = [0: "from a", 2: "from c"]
        #expect(RunRules.input(plan: plan, node: 0, runInput: 7, inputs: nil, takenCount: 0) { _ in nil } == 7)
        #expect(RunRules.input(plan: plan, node: j, runInput: 7, inputs: nil, takenCount: 1) { $0 == 2 ? "from c" : Optional.none } == "from c")
        #expect(RunRules.input(plan: plan, node: j, runInput: 7, inputs: nil, takenCount: 2) { values[$0] } == ["a": "from a", "c": "from c"])
        // An `inputs` spec wins over the edges.
        #expect(RunRules.input(plan: plan, node: j, runInput: 7, inputs: "spec", takenCount: 2) { values[$0] } == "spec")
        var states = Array(repeating: RunStateMachine.NodeState(), count: plan.nodeCount)
        states[0].output = "A"
        let picked = plan.indexByID["picked"]!
        let evaluated = RunRules.evaluateInputs(plan: plan, runInput: 7, nodes: states, node: picked, context: StaticContextReader())
        #expect(evaluated == ["first": "A", "seed": 7])
        #expect(RunRules.evaluateInputs(plan: plan, runInput: 7, nodes: states, node: j, context: StaticContextReader()) == nil)
    }

    static let failing = Workflow("rules-failures") {
        Node("plain", echo)
        Node("retried", echo).retry(maxAttempts: 3, backoff: .exponential(initial: .seconds(1), jitter: 0.5))
        Node("guarded", echo).retry(maxAttempts: 2, backoff: .fixed(.seconds(2))).fallback { _ in "fallback" }
    }

    @Test("Rules 6, 8 and 9: retry while attempts remain and the error allows it, then the fallback, else failure")
    func failures() throws {
        let plan = try Self.plan(Self.failing)
        let retryable = NodeFailure(message: "flaky", errorType: "E")
        let permanent = NodeFailure(message: "bad", errorType: "E", isRetryable: false)
        #expect(RunRules.afterFailure(plan: plan, node: 0, attempt: 1, failure: retryable, runID: "r") == .fail)
        guard case .retry(2, let first) = RunRules.afterFailure(plan: plan, node: 1, attempt: 1, failure: retryable, runID: "r"),
            case .retry(3, let second) = RunRules.afterFailure(plan: plan, node: 1, attempt: 2, failure: retryable, runID: "r")
        else {
            Issue.record("no retry")
            return
        }
        // Exponential with jitter: within its bounds, and the same for the same run, node and attempt.
        #expect(first >= .milliseconds(500) && first <= .seconds(1))
        #expect(second >= .seconds(1) && second <= .seconds(2))
        #expect(RunRules.afterFailure(plan: plan, node: 1, attempt: 1, failure: retryable, runID: "r") == .retry(attempt: 2, delay: first))
        #expect(RunRules.afterFailure(plan: plan, node: 1, attempt: 3, failure: retryable, runID: "r") == .fail)
        #expect(RunRules.afterFailure(plan: plan, node: 1, attempt: 1, failure: permanent, runID: "r") == .fail)
        #expect(RunRules.afterFailure(plan: plan, node: 2, attempt: 1, failure: retryable, runID: "r") == .retry(attempt: 2, delay: .seconds(2)))
        #expect(RunRules.afterFailure(plan: plan, node: 2, attempt: 2, failure: retryable, runID: "r") == .fallBack)
        #expect(RunRules.afterFailure(plan: plan, node: 2, attempt: 1, failure: permanent, runID: "r") == .fallBack)
        let outcome = RunRules.nodeFailed(plan: plan, node: 1, attempt: 3, failure: retryable)
        #expect(outcome.status == .failed && outcome.failure?.nodeID == "retried" && outcome.failure?.attempt == 3)
        #expect(RunRules.attemptAfterStall(plan: plan, node: 1, lastFailed: nil) == 1)
        #expect(RunRules.attemptAfterStall(plan: plan, node: 1, lastFailed: 1) == 2)
        #expect(RunRules.attemptAfterStall(plan: plan, node: 1, lastFailed: 3) == 3)
    }

    @Test("Rules 7 and 11: a passed deadline fails the run, a cancellation cancels it, both without a node")
    func deadlineAndCancellation() {
        let late = RunRules.deadlinePassed(.seconds(5))
        #expect(late.status == .failed && late.failure?.nodeID == nil && late.failure?.cause.code == WeftError.Code.deadlineExceeded.rawValue)
        #expect(RunRules.cancelled.status == .cancelled && RunRules.cancelled.failure?.cause.code == WeftError.Code.cancelled.rawValue)
    }

    @Test("Rule 10: terminal nodes took no edge; complete when all finished; one terminal's output alone, else a map")
    func completion() throws {
        let plan = try Self.plan(Self.join)
        #expect(RunRules.isTerminal(takenOutgoing: 0) && !RunRules.isTerminal(takenOutgoing: 2))
        #expect(RunRules.isComplete(finished: 5, nodeCount: 5) && !RunRules.isComplete(finished: 4, nodeCount: 5))
        #expect(RunRules.result(plan: plan, terminals: [(node: 3, output: "J")]) == "J")
        #expect(RunRules.result(plan: plan, terminals: [(node: 3, output: "J"), (node: 4, output: 1)]) == ["j": "J", "picked": 1])
        #expect(RunRules.result(plan: plan, terminals: [(node: Int, output: JSONValue)]()) == [:])
        #expect(RunRules.completed(plan: plan, terminals: [(node: 3, output: "J")]).status == .completed)
    }
}

@Suite("A run's edges in its result")
struct EdgeRecordTests {
    @Test("Both runtimes say how each edge was resolved: taken, skipped, or (after a failure) unresolved")
    func edgeResolutions() async throws {
        let workflow = Workflow("edges") {
            Node("a") { $0.input }
            Node("b") { $0.input }
            Node("c") { $0.input }
            Node("d") { $0.input }
            Edge("a", to: "b", when: "output > 0")
            Edge("a", to: "c", when: "output <= 0")
            Edge("c", to: "d")
        }
        let local = try await LocalRuntime(workflow).run(workflow.blueprint, input: 1)
        let expected: [EdgeRecord.Resolution] = [.taken, .skipped, .skipped]
        #expect(local.edges.map(\.resolution) == expected)
        #expect(local.edges.map(\.target) == ["b", "c", "d"])
        let fleet = try await InProcessFleet.start(registry: workflow.registry, blueprints: [workflow.blueprint], workers: 2)
        let distributed = try await fleet.run(workflow.blueprint, input: 1)
        #expect(distributed.edges == local.edges)
        await fleet.shutdown()

        let failing = Workflow("edges-failing") {
            Node("a") { $0.input }
            Node("b") { _ in throw NodeError("no", isRetryable: false) }
            Node("c") { $0.input }
            Chain("a", "b", "c")
        }
        let failed = try await LocalRuntime(failing).run(failing.blueprint, input: 1)
        #expect(failed.edges.map(\.resolution) == [.taken, .unresolved])
    }
}

@Suite("A node's attempts in a run's result")
struct AttemptLogTests {
    static let flaky = Workflow("attempt-log") {
        Node("flaky") { context in
            if context.attempt < 3 { throw NodeError("attempt \(context.attempt) fails", isRetryable: true) }
            return "done"
        }.retry(maxAttempts: 3, backoff: .fixed(.milliseconds(1)))
        Node("saved") { _ in throw NodeError("never works", isRetryable: false) }.fallback { _ in "fallback" }
        Node("after") { $0.input }
        Edge("flaky", to: "after")
        Edge("saved", to: "after")
    }

    static func check(_ result: RunResult) {
        let flaky = result[node: "flaky"]?.attemptLog ?? []
        #expect(flaky.map(\.attempt) == [1, 2, 3])
        #expect(flaky.map { $0.failure?.message } == ["attempt 1 fails", "attempt 2 fails", nil])
        // Each attempt ends after it starts and starts after the one before it ended.
        for (index, entry) in flaky.enumerated() {
            #expect(entry.startedAt > 0 && entry.endedAt >= entry.startedAt)
            if index > 0 { #expect(entry.startedAt >= flaky[index - 1].endedAt) }
        }
        let saved = result[node: "saved"]?.attemptLog ?? []
        #expect(saved.map(\.attempt) == [1] && saved.first?.failure?.message == "never works")
        #expect(result[node: "saved"]?.usedFallback == true)
        #expect(result[node: "after"]?.attemptLog.map(\.attempt) == [1])
    }

    @Test("Every attempt with its times and failure, embedded and on a fleet alike")
    func attemptLog() async throws {
        Self.check(try await LocalRuntime(Self.flaky).run(Self.flaky.blueprint))
        let fleet = try await InProcessFleet.start(registry: Self.flaky.registry, blueprints: [Self.flaky.blueprint], workers: 2)
        Self.check(try await fleet.run(Self.flaky.blueprint))
        await fleet.shutdown()
    }
}
