extension RunRules {
    /// What follows a failed attempt.
    enum AfterFailure: Sendable, Hashable {
        /// Run `attempt` after `delay` (a durable timer on a fleet).
        case retry(attempt: Int, delay: Duration)
        /// Attempts are exhausted and the node has a fallback (or a lifecycle `fallback` hook):
        /// run it with the node's input and the failure.
        case fallBack
        /// The node fails for good, and with it the run.
        case fail
    }

    /// Rules 6, 8 and 9: after `attempt` of `node` failed with `failure`, a retry when the
    /// failure is retryable and attempts remain (`maxAttempts` counts every attempt), with the
    /// node's backoff; else its fallback, when it has one; else failure. The jitter is drawn
    /// from the run id, node and attempt, so a run's delays are the same in every runtime and
    /// on every replay.
    static func afterFailure(plan: ExecutionPlan, node: Int, attempt: Int, failure: NodeFailure, runID: String) -> AfterFailure {
        let config = plan.blueprint.nodes[node].config
        if failure.isRetryable && attempt < config.maxAttempts {
            return .retry(attempt: attempt + 1, delay: retryDelay(config.backoff, node: node, attempt: attempt, runID: runID))
        }
        return plan.shapes[node].mayFallBack ? .fallBack : .fail
    }

    /// Rule 6's delay before the attempt after `attempt`.
    static func retryDelay(_ backoff: Backoff, node: Int, attempt: Int, runID: String) -> Duration {
        var random = SplitMix64(seed: SplitMix64.hash(runID) &+ UInt64(node) &* 0x9E37_79B9 &+ UInt64(attempt))
        return backoff.delay(beforeRetry: attempt, random: random.nextUnit())
    }

    /// Rule 9: how a run ends when `attempt` of `node` failed for good: the error names the
    /// node, the attempt and the cause.
    static func nodeFailed(plan: ExecutionPlan, node: Int, attempt: Int, failure: NodeFailure) -> RunOutcome {
        RunOutcome(status: .failed, output: nil, failure: RunFailure(nodeID: plan.ids[node], attempt: attempt, cause: failure))
    }

    /// The attempt to publish again for a node whose run stalled after its attempt
    /// `lastFailed` failed (its retry's timer was lost, or its worker died): the next one,
    /// never beyond the node's attempts.
    static func attemptAfterStall(plan: ExecutionPlan, node: Int, lastFailed: Int?) -> Int {
        guard let lastFailed else { return 1 }
        return min(lastFailed + 1, max(1, plan.blueprint.nodes[node].config.maxAttempts))
    }

    /// Rule 7: how a run ends when its deadline passes (whatever still runs is cancelled).
    static func deadlinePassed(_ deadline: Duration) -> RunOutcome {
        RunOutcome(status: .failed, output: nil, failure: .deadlinePassed(deadline))
    }

    /// Rule 11: how a cancelled run ends.
    static let cancelled = RunOutcome(status: .cancelled, output: nil, failure: .runCancelled)
}
