/// Code that runs around every node attempt and every fallback run: for logging, metrics,
/// tracing, auth, or rewriting results.
///
/// Middleware is applied in the order it is listed: the first is the outermost. For
/// `[a, b]` the order is a's before, b's before, the node, b's after, a's after.
///
/// ```swift
/// let runtime = LocalRuntime(configuration: .init(middleware: [
///     .before { context in context.logger.info("starting") },
///     .after { context, result in metrics.record(context.nodeID, result) },
/// ]))
/// ```
public protocol NodeMiddleware: Sendable {
    /// Runs around one attempt. Call `next` to run the rest of the chain and the node; return its
    /// result, a result of your own, or throw.
    func intercept(_ context: NodeContext, next: NodeMiddlewareNext) async throws -> NodeOutput
}

/// The rest of a middleware chain, ending in the node itself.
public struct NodeMiddlewareNext: Sendable {
    let body: @Sendable (NodeContext) async throws -> NodeOutput

    /// Runs the rest of the chain with `context`.
    public func callAsFunction(_ context: NodeContext) async throws -> NodeOutput {
        try await body(context)
    }
}

/// A middleware made of closures; see ``NodeMiddleware/around(_:)``, ``NodeMiddleware/before(_:)``
/// and ``NodeMiddleware/after(_:)``.
public struct ClosureMiddleware: NodeMiddleware {
    let body: @Sendable (NodeContext, NodeMiddlewareNext) async throws -> NodeOutput

    public func intercept(_ context: NodeContext, next: NodeMiddlewareNext) async throws -> NodeOutput {
        try await body(context, next)
    }
}

extension NodeMiddleware where Self == ClosureMiddleware {
    /// Middleware that wraps the attempt entirely.
    public static func around(
        _ body: @escaping @Sendable (NodeContext, NodeMiddlewareNext) async throws -> NodeOutput
    ) -> ClosureMiddleware {
        ClosureMiddleware(body: body)
    }

    /// Middleware that runs before the attempt; throwing fails the attempt without running it.
    public static func before(_ body: @escaping @Sendable (NodeContext) async throws -> Void) -> ClosureMiddleware {
        ClosureMiddleware { context, next in
            try await body(context)
            return try await next(context)
        }
    }

    /// Middleware that runs after the attempt, seeing its result or error.
    public static func after(
        _ body: @escaping @Sendable (NodeContext, Result<NodeOutput, any Error>) async -> Void
    ) -> ClosureMiddleware {
        ClosureMiddleware { context, next in
            do {
                let output = try await next(context)
                await body(context, .success(output))
                return output
            } catch {
                await body(context, .failure(error))
                throw error
            }
        }
    }
}

extension Array where Element == any NodeMiddleware {
    /// Runs `node` inside the chain, the first element outermost.
    func run(
        _ context: NodeContext, node: @escaping @Sendable (NodeContext) async throws -> NodeOutput
    ) async throws -> NodeOutput {
        guard !isEmpty else { return try await node(context) }
        var next = NodeMiddlewareNext(body: node)
        for middleware in reversed() {
            let inner = next
            next = NodeMiddlewareNext(body: { try await middleware.intercept($0, next: inner) })
        }
        return try await next(context)
    }
}
