/// Performs loops, sub-workflows, batches, waits and sleeps for the local runtime, in a task of
/// the run's own (never holding a permit of the runtime's limiter, so that children can run).
/// Child runs are runs of the same runtime, with ids of their own (``ChildRunID``); cancelling
/// the task cancels them.
struct LocalControl {
    let runtime: LocalRuntime
    let plan: ExecutionPlan
    let runID: String
    let state: RunState

    /// Performs attempt `attempt` of `node`; for a resumed wait or sleep, `remaining` is what is
    /// left of its timeout or duration.
    func attempt(_ control: ControlNode, node: Int, attempt: Int, input: JSONValue, remaining: Duration? = nil) async
        -> AttemptOutcome
    {
        let clock = ContinuousClock()
        let started = clock.now
        let result: AttemptOutcome.Result
        do {
            result = .success(try await perform(control, node: node, attempt: attempt, input: input, remaining: remaining))
        } catch let failure as NodeFailure {
            result = .failure(failure)
        } catch {
            result = .failure(NodeFailure(error))
        }
        return AttemptOutcome(
            node: node, attempt: attempt, result: result, patch: ContextPatch(), prepared: nil, duration: clock.now - started,
            cleanedUp: false)
    }

    private func perform(_ control: ControlNode, node: Int, attempt: Int, input: JSONValue, remaining: Duration?) async throws
        -> NodeOutput
    {
        let params = plan.params[node]
        let nodeID = plan.ids[node]
        if let failure = ChildRunID.nestingFailure(of: control, parent: runID, node: nodeID, attempt: attempt) { throw failure }
        func childID(_ index: Int) -> String {
            ChildRunID.make(parent: runID, node: nodeID, attempt: attempt, index: index)
        }
        switch control {
        case .subworkflow(let subworkflow):
            let childPlan = try runtime.childPlan(subworkflow.child, isLoopBody: false)
            let child = await runChild(childPlan, input: subworkflow.childInput(input: input, params: params, context: state), id: childID(0))
            return NodeOutput(try subworkflow.result(of: child, input: input, params: params, context: state))

        case .loop(let loop):
            let body = try runtime.childPlan(loop.body, isLoopBody: true)
            var state = input
            var passes = 0
            while try loop.runsAnotherPass(passesDone: passes, state: state, input: input, params: params, context: self.state) {
                passes += 1
                let pass = await runChild(body, input: state, id: childID(passes))
                guard pass.status == .completed else { throw pass.nodeFailure(of: "pass \(passes) of loop \"\(nodeID)\"") }
                if let exit = pass.breakOutput { return NodeOutput(exit) }
                state = pass.output ?? .null
            }
            return NodeOutput(state)

        case .batch(let batch):
            let items = try batch.elements(input: input, params: params, context: state)
            guard !items.isEmpty else { return NodeOutput(.array([])) }
            let worker = try runtime.childPlan(batch.worker, isLoopBody: false)
            let outcomes = try await runItems(items, worker: worker, batch: batch, childID: childID)
            return NodeOutput(try batch.gather(outcomes))

        case .wait(let wait):
            let signals = runtime.signals
            let (runtime, runID) = (self.runtime, self.runID)
            let announce: @Sendable () -> Void = { runtime.emit(RunEvent(runID: runID, kind: .nodeWaiting(nodeID: nodeID))) }
            guard let timeout = remaining ?? wait.timeout else {
                let signal = try await signals.wait(runID: runID, nodeID: nodeID, actions: wait.actions, registered: announce)
                return NodeOutput(signal.payload, action: signal.action)
            }
            let clock = runtime.configuration.clock
            let actions = wait.actions
            let signal = try await withThrowingTaskGroup(of: SignalBoard.Signal.self) { group in
                group.addTask { try await signals.wait(runID: runID, nodeID: nodeID, actions: actions, registered: announce) }
                group.addTask {
                    try await clock.sleep(for: timeout)
                    return SignalBoard.Signal(action: wait.timeoutAction, payload: input)
                }
                defer { group.cancelAll() }
                return try await group.next()!
            }
            return NodeOutput(signal.payload, action: signal.action)

        case .sleep(let sleep):
            runtime.emit(RunEvent(runID: runID, kind: .nodeWaiting(nodeID: nodeID)))
            try await runtime.configuration.clock.sleep(for: remaining ?? sleep.duration)
            return NodeOutput(input)
        }
    }

    /// The batch's items, at most `concurrency` at once, in input order.
    private func runItems(
        _ items: [JSONValue], worker: ExecutionPlan, batch: BatchControl, childID: (Int) -> String
    ) async throws -> [ChildOutcome] {
        var outcomes = [ChildOutcome?](repeating: nil, count: items.count)
        try await withThrowingTaskGroup(of: (Int, ChildOutcome).self) { group in
            var next = 0
            func startNext() {
                let index = next
                let id = childID(index + 1)
                let item = items[index]
                group.addTask { (index, await self.runChild(worker, input: item, id: id)) }
                next += 1
            }
            while next < min(batch.concurrency, items.count) { startNext() }
            while let (index, outcome) = try await group.next() {
                if batch.onFailure == .failFast && outcome.status != .completed {
                    group.cancelAll()
                    throw outcome.nodeFailure(of: "batch item \(index)")
                }
                outcomes[index] = outcome
                if next < items.count { startNext() }
            }
        }
        return outcomes.map { $0! }
    }

    private func runChild(_ plan: ExecutionPlan, input: JSONValue, id: String) async -> ChildOutcome {
        let result = await runtime.run(plan, input: input, options: RunOptions(runID: id), isChild: true)
        var outcome = ChildOutcome(runID: id, status: result.status, output: result.output, failure: result.failure)
        if result.status == .completed {
            for node in plan.breakNodes {
                if let record = result[node: plan.ids[node]], record.status == .completed {
                    outcome.breakOutput = record.output ?? .null
                    break
                }
            }
        }
        return outcome
    }
}
