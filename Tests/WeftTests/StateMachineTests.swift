import Testing
@testable import Weft

/// The pure core, driven by hand: no tasks, no clocks, no runtime.
@Suite("RunStateMachine (pure)")
struct StateMachineTests {
    typealias Action = RunStateMachine.Action

    static func plan(_ workflow: Workflow) throws -> ExecutionPlan {
        try ExecutionPlan(blueprint: workflow.blueprint, registry: workflow.registry)
    }

    static func executes(_ actions: [Action]) -> [Int] {
        actions.compactMap { if case .execute(let node, _, _) = $0 { node } else { nil } }
    }

    @Test("Start dispatches the start nodes with the run's input; a join waits for every branch")
    func startAndJoin() throws {
        let plan = try Self.plan(Workflow("m") {
            Node("a", echo)
            Node("b", echo)
            Node("c", echo)
            Edge("a", to: "c")
            Edge("b", to: "c")
        })
        var machine = RunStateMachine(plan: plan, input: 5, seedSource: "r")
        var actions: [Action] = []
        machine.start(context: StaticContextReader(), into: &actions)
        #expect(Self.executes(actions) == [0, 1])
        guard case .execute(_, 1, let input) = actions[0] else { Issue.record("no execute"); return }
        #expect(input == 5)

        actions.removeAll()
        machine.succeeded(node: 0, attempt: 1, output: NodeOutput("A"), context: StaticContextReader(), into: &actions)
        #expect(actions.isEmpty)  // c still waits for b
        machine.succeeded(node: 1, attempt: 1, output: NodeOutput("B"), context: StaticContextReader(), into: &actions)
        guard case .execute(2, 1, let joined) = actions.first else { Issue.record("c not dispatched: \(actions)"); return }
        #expect(joined == ["a": "A", "b": "B"])
    }

    @Test("Duplicate and stale events change nothing")
    func idempotence() throws {
        let plan = try Self.plan(Workflow("m") {
            Node("a", echo).retry(maxAttempts: 3, backoff: .fixed(.seconds(1)))
            Node("b", echo)
            Chain("a", "b")
        })
        var machine = RunStateMachine(plan: plan, input: nil, seedSource: "r")
        var actions: [Action] = []
        machine.start(context: StaticContextReader(), into: &actions)
        actions.removeAll()

        machine.failed(node: 0, attempt: 1, failure: NodeFailure(message: "x", errorType: "E"), into: &actions)
        guard case .scheduleRetry(0, 2, let delay, _) = actions.first else { Issue.record("no retry: \(actions)"); return }
        #expect(delay == .seconds(1))
        actions.removeAll()

        // A late result of attempt 1 arrives after the retry was scheduled: ignored.
        machine.succeeded(node: 0, attempt: 1, output: NodeOutput("late"), context: StaticContextReader(), into: &actions)
        #expect(actions.isEmpty)
        // The retry comes due twice: the second is ignored.
        machine.retryDue(node: 0, attempt: 2, into: &actions)
        machine.retryDue(node: 0, attempt: 2, into: &actions)
        #expect(Self.executes(actions) == [0])
        actions.removeAll()

        machine.succeeded(node: 0, attempt: 2, output: NodeOutput("ok"), context: StaticContextReader(), into: &actions)
        machine.succeeded(node: 0, attempt: 2, output: NodeOutput("again"), context: StaticContextReader(), into: &actions)
        #expect(Self.executes(actions) == [1])
        #expect(machine.output(0) == "ok")
        actions.removeAll()

        machine.succeeded(node: 1, attempt: 1, output: NodeOutput("done"), context: StaticContextReader(), into: &actions)
        #expect(machine.status == .completed)
        #expect(machine.outcome?.output == "done")
        // After the end, nothing moves.
        machine.cancel(into: &actions)
        #expect(machine.status == .completed)
    }

    @Test("A recorded routing decision replays to the same edges")
    func replayedDecision() throws {
        let plan = try Self.plan(Workflow("m") {
            Node("a", echo)
            Node("small", echo)
            Node("large", echo)
            Edge("a", to: "small", when: "output < 10")
            Edge("a", to: "large", when: "output >= 10")
        })
        var first = RunStateMachine(plan: plan, input: 42, seedSource: "r")
        var actions: [Action] = []
        first.start(context: StaticContextReader(), into: &actions)
        let decision = first.route(node: 0, output: NodeOutput(42), context: StaticContextReader())
        #expect(decision.taken.map(\.edge) == [1])

        var replay = RunStateMachine(plan: plan, input: 42, seedSource: "r")
        actions.removeAll()
        replay.start(context: StaticContextReader(), into: &actions)
        actions.removeAll()
        replay.apply(node: 0, output: 42, action: nil, decision: decision, context: StaticContextReader(), into: &actions)
        #expect(Self.executes(actions) == [2])
        #expect(replay.nodeStatus(1) == .skipped)
    }
}
