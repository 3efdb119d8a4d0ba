/// The rules of a run (design §2), each in one named function with no I/O, no store and no
/// clock of its own. ``RunStateMachine`` (which ``LocalRuntime`` drives) and the distributed
/// runtime's coordinator both call these functions; neither decides any of these questions by
/// itself, which is what keeps their results identical.
///
/// | rule | function |
/// |---|---|
/// | 1. start nodes | ``ExecutionPlan/startNodes`` (compiled once per blueprint) |
/// | 2. routing | ``route(plan:runInput:nodes:node:output:context:)`` |
/// | 3. dead paths, 4. joins | ``join(_:arrivals:arriving:)`` and ``readiness(_:arrivals:)`` |
/// | 5. inputs | ``input(plan:node:runInput:inputs:takenCount:value:)`` and ``evaluateInputs(plan:runInput:nodes:node:context:)`` |
/// | 6. retries, 8. fallback, 9. failure | ``afterFailure(plan:node:attempt:failure:runID:)`` and ``nodeFailed(plan:node:attempt:failure:)`` |
/// | 7. deadlines | ``deadlinePassed(_:)`` (timeouts: ``NodeExecution``'s race, shared by both runtimes) |
/// | 10. completion and result | ``isTerminal(takenOutgoing:)``, ``isComplete(finished:nodeCount:)``, ``result(plan:terminals:)`` |
/// | 11. cancellation | ``cancelled`` |
enum RunRules {}
