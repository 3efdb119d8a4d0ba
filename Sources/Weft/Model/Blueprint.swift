/// A workflow's graph: its nodes, the edges between them, and metadata.
///
/// A blueprint is plain data. It is `Codable`, round-trips through JSON unchanged, and is never
/// mutated by a run. Build one with ``Workflow`` or decode one from JSON, then check it with
/// ``validate(against:)`` before running it.
public struct Blueprint: Sendable, Hashable, Codable {
    /// The workflow's id, stable across versions.
    public var id: String
    /// The version of this graph. A run is pinned to the version it started with.
    public var version: String
    /// The nodes, each with an id unique in the blueprint.
    public var nodes: [NodeDefinition]
    /// The edges between nodes.
    public var edges: [EdgeDefinition]
    /// Free-form metadata, such as an owner or a description.
    public var metadata: [String: JSONValue]

    /// Creates a blueprint.
    public init(
        id: String, version: String = "1", nodes: [NodeDefinition] = [], edges: [EdgeDefinition] = [],
        metadata: [String: JSONValue] = [:]
    ) {
        self.id = id
        self.version = version
        self.nodes = nodes
        self.edges = edges
        self.metadata = metadata
    }

    /// The node with id `id`, if any.
    public func node(_ id: String) -> NodeDefinition? {
        nodes.first { $0.id == id }
    }

    private enum CodingKeys: String, CodingKey { case id, version, nodes, edges, metadata }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(String.self, forKey: .id)
        version = try container.decodeIfPresent(String.self, forKey: .version) ?? "1"
        nodes = try container.decodeIfPresent([NodeDefinition].self, forKey: .nodes) ?? []
        edges = try container.decodeIfPresent([EdgeDefinition].self, forKey: .edges) ?? []
        metadata = try container.decodeIfPresent([String: JSONValue].self, forKey: .metadata) ?? [:]
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(version, forKey: .version)
        try container.encode(nodes, forKey: .nodes)
        try container.encode(edges, forKey: .edges)
        if !metadata.isEmpty { try container.encode(metadata, forKey: .metadata) }
    }
}

/// One node of a blueprint: which code runs it, with what params, input and configuration.
public struct NodeDefinition: Sendable, Hashable, Codable {
    /// The node's id, unique in its blueprint.
    public var id: String
    /// The registry key of the code that runs this node.
    public var uses: String
    /// Parameters handed to the node's code, as JSON.
    public var params: JSONValue
    /// Where the node's input comes from; `nil` for the default (see ``InputSpec``).
    public var inputs: InputSpec?
    /// Attempts, backoff, timeout, fallback, join strategy, queue and priority.
    public var config: NodeConfiguration

    /// Creates a node definition.
    public init(
        id: String, uses: String, params: JSONValue = .null, inputs: InputSpec? = nil,
        config: NodeConfiguration = .init()
    ) {
        self.id = id
        self.uses = uses
        self.params = params
        self.inputs = inputs
        self.config = config
    }

    private enum CodingKeys: String, CodingKey { case id, uses, params, inputs, config }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(String.self, forKey: .id)
        uses = try container.decode(String.self, forKey: .uses)
        params = try container.decodeIfPresent(JSONValue.self, forKey: .params) ?? .null
        inputs = try container.decodeIfPresent(InputSpec.self, forKey: .inputs)
        config = try container.decodeIfPresent(NodeConfiguration.self, forKey: .config) ?? .init()
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(uses, forKey: .uses)
        if !params.isNull { try container.encode(params, forKey: .params) }
        try container.encodeIfPresent(inputs, forKey: .inputs)
        if config != NodeConfiguration() { try container.encode(config, forKey: .config) }
    }
}

/// An edge from one node to another, optionally labelled with an action, guarded by a condition
/// and transforming the value it carries.
public struct EdgeDefinition: Sendable, Hashable, Codable {
    /// The id of the node the edge leaves.
    public var source: String
    /// The id of the node the edge enters.
    public var target: String
    /// The action label: the edge is a candidate when the source returns this action.
    /// Unlabelled edges are the source's default edges.
    public var action: String?
    /// A condition on the source's output and the run's context; the edge is taken only if it holds.
    public var condition: EdgeCondition?
    /// A transform of the source's output into the value this edge carries.
    public var transform: EdgeTransform?

    /// Creates an edge.
    public init(
        source: String, target: String, action: String? = nil, condition: EdgeCondition? = nil,
        transform: EdgeTransform? = nil
    ) {
        self.source = source
        self.target = target
        self.action = action
        self.condition = condition
        self.transform = transform
    }
}

/// A condition on an edge: an expression of Weft's expression language, or a Swift predicate
/// registered by name.
///
/// In JSON, an expression is a string (`"output.total > 100"`) and a named predicate is an
/// object (`{"predicate": "isHighRisk"}`).
public enum EdgeCondition: Sendable, Hashable, Codable, ExpressibleByStringInterpolation {
    /// An ``Expression`` in source form; it must parse (``Blueprint/validate(against:)`` checks).
    case expression(String)
    /// A predicate registered with ``NodeRegistry/registerPredicate(_:_:)``.
    case predicate(String)

    public init(stringLiteral value: String) { self = .expression(value) }

    private enum CodingKeys: String, CodingKey { case predicate }

    public init(from decoder: any Decoder) throws {
        if let text = try? decoder.singleValueContainer().decode(String.self) {
            self = .expression(text)
        } else {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            self = .predicate(try container.decode(String.self, forKey: .predicate))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .expression(let text):
            var container = encoder.singleValueContainer()
            try container.encode(text)
        case .predicate(let name):
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(name, forKey: .predicate)
        }
    }
}

/// A transform on an edge: an expression computing the value the edge carries, or a Swift
/// function registered by name.
///
/// In JSON, an expression is a string (`"{id: output.orderId}"`) and a named transform is an
/// object (`{"function": "toInvoice"}`).
public enum EdgeTransform: Sendable, Hashable, Codable, ExpressibleByStringInterpolation {
    /// An ``Expression`` in source form.
    case expression(String)
    /// A transform registered with ``NodeRegistry/registerTransform(_:_:)``.
    case function(String)

    public init(stringLiteral value: String) { self = .expression(value) }

    private enum CodingKeys: String, CodingKey { case function }

    public init(from decoder: any Decoder) throws {
        if let text = try? decoder.singleValueContainer().decode(String.self) {
            self = .expression(text)
        } else {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            self = .function(try container.decode(String.self, forKey: .function))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .expression(let text):
            var container = encoder.singleValueContainer()
            try container.encode(text)
        case .function(let name):
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(name, forKey: .function)
        }
    }
}

/// Where a node's input comes from, when it is not the default.
///
/// The default, without `inputs`: a start node gets the run's input; a node with one taken
/// incoming edge gets the value that edge carries (its source's output, transformed if the edge
/// says so); a node with several gets an object from predecessor id to value.
///
/// With `inputs`, the input is an expression (`"nodes.fetch.items"`, `"context.customer"`,
/// `"input.orderId"`) or a map of such (`{"items": "nodes.fetch.items", "limit": "params.limit"}`).
/// In JSON, an expression is a string and a map is an object.
public indirect enum InputSpec: Sendable, Hashable, Codable, ExpressibleByStringInterpolation {
    /// The value of an ``Expression`` in source form.
    case expression(String)
    /// An object whose members are built from other specs.
    case map([String: InputSpec])

    public init(stringLiteral value: String) { self = .expression(value) }

    /// The value of node `id`'s output.
    public static func node(_ id: String) -> InputSpec { .expression("nodes[\(quoted(id))]") }
    /// The value of the run context's entry `key`.
    public static func context(_ key: String) -> InputSpec { .expression("context[\(quoted(key))]") }

    private static func quoted(_ text: String) -> String {
        "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self) {
            self = .expression(text)
        } else {
            self = .map(try container.decode([String: InputSpec].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .expression(let text): try container.encode(text)
        case .map(let members): try container.encode(members)
        }
    }
}
