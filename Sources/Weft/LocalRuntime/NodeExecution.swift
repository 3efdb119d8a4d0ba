import Synchronization

/// What a child task of a run reports back to its driver.
enum Completion: Sendable {
    case attempt(AttemptOutcome)
    indirect case fallback(node: Int, result: Result<NodeOutput, NodeFailure>, patch: ContextPatch, duration: Duration)
    case retryDue(node: Int, attempt: Int)
    case deadline(Duration)
    /// Someone asks to suspend the run (``LocalRuntime/suspend(runID:)``).
    case suspend(SuspendRequest)
    /// A worker found no more jobs and ended.
    case workerExited
}

/// The end of one node attempt. Compact (tens of thousands may wait to be read): the rare
/// parts, context writes and a lifecycle node's prepared state, are boxed.
struct AttemptOutcome: Sendable {
    /// How an attempt ended; the failure is boxed too.
    enum Result: Sendable {
        case success(NodeOutput)
        indirect case failure(NodeFailure)

        var isSuccess: Bool {
            if case .success = self { return true }
            return false
        }
    }

    /// Context writes and prepared state, when there are any.
    final class Extras: Sendable {
        let patch: ContextPatch
        let prepared: JSONValue?

        init(patch: ContextPatch, prepared: JSONValue?) {
            self.patch = patch
            self.prepared = prepared
        }
    }

    var result: Result
    var duration: Duration
    var extras: Extras?
    private var storedNode: Int32
    private var storedAttempt: Int32
    /// Whether the node's cleanup hook already ran (after a successful attempt).
    var cleanedUp: Bool
    /// Whether a worker ran it (rather than the driver, inline).
    var fromJob = true

    init(node: Int, attempt: Int, result: Result, patch: ContextPatch, prepared: JSONValue?, duration: Duration, cleanedUp: Bool) {
        self.result = result
        self.duration = duration
        self.extras = patch.isEmpty && prepared == nil ? nil : Extras(patch: patch, prepared: prepared)
        self.storedNode = Int32(truncatingIfNeeded: node)
        self.storedAttempt = Int32(truncatingIfNeeded: attempt)
        self.cleanedUp = cleanedUp
    }

    var node: Int { Int(storedNode) }
    var attempt: Int { Int(storedAttempt) }
    var patch: ContextPatch { extras?.patch ?? ContextPatch() }
    var prepared: JSONValue? { extras?.prepared }
}

/// Runs node code for both runtimes: attempts and fallbacks, inside the middleware chain,
/// with the attempt's timeout. Callers hold a permit of the runtime's concurrency limiter.
enum NodeExecution {
    /// Runs the attempt on `executor`'s threads when given (a node declared blocking), else here.
    static func attempt(
        node: Int, attempt: Int, implementation: AnyNode, timeout: Duration?, context: NodeContext, prepared: JSONValue?,
        middleware: [any NodeMiddleware], clock timeoutClock: any Clock<Duration>, on executor: BlockingExecutor?
    ) async -> AttemptOutcome {
        guard let executor else {
            return await self.attempt(
                node: node, attempt: attempt, implementation: implementation, timeout: timeout, context: context,
                prepared: prepared, middleware: middleware, clock: timeoutClock)
        }
        return await withTaskExecutorPreference(executor) {
            await self.attempt(
                node: node, attempt: attempt, implementation: implementation, timeout: timeout, context: context,
                prepared: prepared, middleware: middleware, clock: timeoutClock)
        }
    }

    @inline(__always)
    static func attempt(
        node: Int, attempt: Int, implementation: AnyNode, timeout: Duration?, context: NodeContext, prepared: JSONValue?,
        middleware: [any NodeMiddleware], clock timeoutClock: any Clock<Duration>
    ) async -> AttemptOutcome {
        let clock = ContinuousClock()
        let started = clock.now
        var state = prepared
        let result: AttemptOutcome.Result
        do {
            try Task.checkCancellation()
            if timeout == nil && middleware.isEmpty {
                result = .success(try await implementation.runAttempt(context, prepared: &state))
            } else {
                result = .success(try await wrapped(
                    implementation, timeout: timeout, middleware: middleware, clock: timeoutClock,
                    context: context, prepared: &state))
            }
        } catch {
            result = .failure(NodeFailure(error))
        }
        // A successful attempt is the node's last: its cleanup hook runs now.
        let cleanedUp = implementation.hasLifecycle && result.isSuccess
        if cleanedUp { await implementation.cleanup(context) }
        let duration = clock.now - started
        return AttemptOutcome(
            node: node, attempt: attempt, result: result, patch: context.context.takeChanges(), prepared: state,
            duration: duration, cleanedUp: cleanedUp)
    }

    /// An attempt inside the middleware chain and under its timeout: apart from the plain path,
    /// so that the plain path's async frame stays small.
    @inline(never)
    private static func wrapped(
        _ implementation: AnyNode, timeout: Duration?, middleware: [any NodeMiddleware], clock: any Clock<Duration>,
        context: NodeContext, prepared: inout JSONValue?
    ) async throws -> NodeOutput {
        let box = PreparedBox(prepared)
        defer { prepared = box.value }
        let body: @Sendable (NodeContext) async throws -> NodeOutput = { context in
            var inner = box.value
            defer { box.value = inner }
            return try await implementation.runAttempt(context, prepared: &inner)
        }
        guard let timeout else { return try await middleware.run(context, node: body) }
        return try await withTimeout(timeout, clock: clock) { try await middleware.run(context, node: body) }
    }

    static func fallback(
        implementation: AnyNode, fallback: AnyNode?, node: Int, context: NodeContext, prepared: JSONValue?, failure: NodeFailure,
        middleware: [any NodeMiddleware]
    ) async -> Completion {
        let clock = ContinuousClock()
        let started = clock.now
        var result: Result<NodeOutput, NodeFailure> = .failure(failure)
        do {
            try Task.checkCancellation()
            let output = try await middleware.run(context) { context in
                if let output = try await implementation.runFallback(context, prepared: prepared, failure: failure) {
                    return output
                }
                guard let fallback else { throw failure }
                var fallbackState: JSONValue? = nil
                return try await fallback.runAttempt(context, prepared: &fallbackState)
            }
            result = .success(output)
        } catch let error as NodeFailure where error == failure {
            result = .failure(failure)
        } catch {
            result = .failure(NodeFailure(error))
        }
        await implementation.cleanup(context)
        let duration = clock.now - started
        return .fallback(node: node, result: result, patch: context.context.takeChanges(), duration: duration)
    }

}

/// Carries a lifecycle node's prepared state out of a `@Sendable` closure.
private final class PreparedBox: Sendable {
    private let state: Mutex<JSONValue?>
    init(_ value: JSONValue?) { state = Mutex(value) }
    var value: JSONValue? {
        get { state.withLock { $0 } }
        set { state.withLock { $0 = newValue } }
    }
}
