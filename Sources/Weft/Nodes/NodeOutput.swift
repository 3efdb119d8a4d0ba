/// What a node produced: a JSON value and, optionally, an action label that picks which
/// outgoing edges are candidates (see design rule 2, "Routing").
public struct NodeOutput: Sendable, Hashable {
    /// The node's output value.
    public var value: JSONValue
    /// The action label, or `nil` to take the default (unlabelled) edges.
    public var action: String?

    /// Creates an output.
    public init(_ value: JSONValue = .null, action: String? = nil) {
        self.value = value
        self.action = action
    }

    /// An output that routes along the edges labelled `action`.
    public static func action(_ action: String, _ value: JSONValue = .null) -> NodeOutput {
        NodeOutput(value, action: action)
    }
}
