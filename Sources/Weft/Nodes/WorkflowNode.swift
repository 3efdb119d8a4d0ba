/// A node written as a type, with typed `Codable` input and output and an optional lifecycle.
///
/// Only ``execute(_:context:)`` is required. The phases run in this order:
///
/// 1. ``prepare(_:context:)`` once, before the first attempt: turns the input into what
///    `execute` needs (default: the input itself);
/// 2. ``execute(_:context:)`` once per attempt: the only phase that is retried;
/// 3. ``finish(_:output:context:)`` once, after a successful attempt: returns the action label
///    that picks the outgoing edges (default: `nil`, the default edges);
/// 4. ``fallback(_:failure:context:)`` when attempts are exhausted: its output stands in for
///    `execute`'s and `finish` runs on it (default: rethrows, and the node's configured fallback
///    node, if any, runs next);
/// 5. ``cleanup(context:)`` once, last, whether the node succeeded or failed.
///
/// ```swift
/// struct ChargeCard: WorkflowNode {
///     func execute(_ order: Order, context: NodeContext) async throws -> Receipt {
///         try await payments.charge(order, idempotencyKey: "\(context.runID)-\(context.fencingToken)")
///     }
/// }
/// ```
public protocol WorkflowNode: Sendable {
    /// The node's input type, decoded from its JSON input.
    associatedtype Input: Decodable & Sendable
    /// What `prepare` hands to `execute`; it survives between attempts.
    associatedtype Prepared: Codable & Sendable = Input
    /// The node's output type, encoded to JSON.
    associatedtype Output: Codable & Sendable

    /// Prepares the work, once. The default returns the input.
    func prepare(_ input: Input, context: NodeContext) async throws -> Prepared
    /// Does the work. Retried on failure as the node's configuration says.
    func execute(_ prepared: Prepared, context: NodeContext) async throws -> Output
    /// Finishes after a successful attempt and picks the action; `nil` takes the default edges.
    func finish(_ prepared: Prepared, output: Output, context: NodeContext) async throws -> String?
    /// Produces an output when attempts are exhausted. The default rethrows `failure`.
    func fallback(_ prepared: Prepared, failure: NodeFailure, context: NodeContext) async throws -> Output
    /// Runs last, once, whatever happened.
    func cleanup(context: NodeContext) async
}

extension WorkflowNode where Prepared == Input {
    public func prepare(_ input: Input, context: NodeContext) async throws -> Input { input }
}

extension WorkflowNode {
    public func finish(_ prepared: Prepared, output: Output, context: NodeContext) async throws -> String? { nil }

    public func fallback(_ prepared: Prepared, failure: NodeFailure, context: NodeContext) async throws -> Output {
        throw NoFallback(failure: failure)
    }

    public func cleanup(context: NodeContext) async {}
}

/// Thrown by the default ``WorkflowNode/fallback(_:failure:context:)``: the node has none.
struct NoFallback: Error {
    var failure: NodeFailure
}
