import Logging

/// Everything node code receives for one attempt: its input and params, the run's context, a
/// logger with run and node metadata, the attempt number and fencing token, and the worker's
/// shared dependencies. Cancellation is Swift task cancellation: check `Task.isCancelled` or
/// call `try Task.checkCancellation()` in long-running code.
public struct NodeContext: Sendable {
    /// What every attempt of a run shares, held once.
    let environment: RunState
    /// The node's id in the blueprint.
    public let nodeID: String
    /// The attempt number, from 1.
    public let attempt: Int
    /// A token that grows with every attempt of this node in this run. Pass it to external
    /// systems with side effects so that a stale attempt cannot overwrite a newer one.
    public let fencingToken: UInt64
    /// The node's input, as resolved by the engine.
    public let input: JSONValue
    /// The node's params from the blueprint.
    public let params: JSONValue
    /// The run's key/value state.
    public let context: RunContext
    /// In a fallback, the failure that exhausted the node's attempts; otherwise `nil`.
    public var failure: NodeFailure? { failureBox?.failure }
    /// Boxed, so that the context of an ordinary attempt stays small.
    private let failureBox: FailureBox?

    /// The run's id.
    public var runID: String { environment.runID }
    /// Shared dependencies of this process or worker.
    public var dependencies: Dependencies { environment.dependencies }

    /// Creates a context. Runtimes create these; tests of node code may too.
    public init(
        runID: String, nodeID: String, attempt: Int = 1, fencingToken: UInt64 = 1, input: JSONValue = .null,
        params: JSONValue = .null, context: RunContext = RunContext(base: StaticContextReader()),
        dependencies: Dependencies = Dependencies(), failure: NodeFailure? = nil,
        logger: Logger = Logger(label: "weft.node")
    ) {
        self.init(
            environment: RunState(runID: runID, dependencies: dependencies, logger: logger, context: [:]), nodeID: nodeID,
            attempt: attempt, fencingToken: fencingToken, input: input, params: params, context: context, failure: failure)
    }

    init(
        environment: RunState, nodeID: String, attempt: Int, fencingToken: UInt64, input: JSONValue,
        params: JSONValue, context: RunContext, failure: NodeFailure?
    ) {
        self.environment = environment
        self.nodeID = nodeID
        self.attempt = attempt
        self.fencingToken = fencingToken
        self.input = input
        self.params = params
        self.context = context
        self.failureBox = failure.map(FailureBox.init)
    }

    /// A logger whose metadata names the run, the node and the attempt.
    public var logger: Logger {
        var logger = environment.logger
        logger[metadataKey: "weft.run"] = "\(runID)"
        logger[metadataKey: "weft.node"] = "\(nodeID)"
        logger[metadataKey: "weft.attempt"] = "\(attempt)"
        return logger
    }

    /// The input decoded as `T`.
    ///
    /// - Throws: ``WeftError`` with code ``WeftError/Code/invalidInput`` naming the node and the
    ///   mismatch. It is not retryable.
    public func input<T: Decodable>(as type: T.Type = T.self) throws -> T {
        do {
            return try input.decode(as: T.self)
        } catch let error as WeftError {
            throw WeftError(.invalidInput, "Node \"\(nodeID)\" got an input it cannot use: \(error.message)")
        }
    }

    /// The params decoded as `T`.
    public func params<T: Decodable>(as type: T.Type = T.self) throws -> T {
        do {
            return try params.decode(as: T.self)
        } catch let error as WeftError {
            throw WeftError(.invalidInput, "Node \"\(nodeID)\" has params it cannot use: \(error.message)")
        }
    }

}


/// A failure held by reference.
private final class FailureBox: Sendable {
    let failure: NodeFailure
    init(_ failure: NodeFailure) { self.failure = failure }
}
