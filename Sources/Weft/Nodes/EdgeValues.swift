/// What a named edge predicate or transform sees: the source node's output and action, the run's
/// input and its context.
public struct EdgeValues: Sendable {
    /// The source node's output.
    public let output: JSONValue
    /// The source node's action label, if any.
    public let action: String?
    /// The run's input.
    public let input: JSONValue
    /// The run's context.
    public let context: any ContextReader

    /// Creates edge values.
    public init(output: JSONValue, action: String?, input: JSONValue, context: any ContextReader) {
        self.output = output
        self.action = action
        self.input = input
        self.context = context
    }
}

/// A named Swift predicate usable as an edge condition.
public typealias EdgePredicate = @Sendable (EdgeValues) -> Bool

/// A named Swift function usable as an edge transform.
public typealias EdgeTransformFunction = @Sendable (EdgeValues) -> JSONValue
