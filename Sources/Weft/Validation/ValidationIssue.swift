/// One problem found in a blueprint by ``Blueprint/validate(against:)``.
public struct ValidationIssue: Sendable, Hashable, CustomStringConvertible {
    /// A stable identifier for a kind of problem.
    public struct Code: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// Two nodes share an id.
        public static let duplicateNodeID = Code(rawValue: "duplicate_node_id")
        /// A node's `uses` (or its `fallback`) names no registered code.
        public static let missingImplementation = Code(rawValue: "missing_implementation")
        /// An edge's source or target is not a node of the blueprint.
        public static let unknownEdgeNode = Code(rawValue: "unknown_edge_node")
        /// No path leads to the node from a start node.
        public static let unreachableNode = Code(rawValue: "unreachable_node")
        /// The edges form a cycle.
        public static let cycle = Code(rawValue: "cycle")
        /// A node with several incoming edges none of which can ever be taken.
        public static let joinNeverFires = Code(rawValue: "join_never_fires")
        /// A node whose only incoming edge can never be taken.
        public static let nodeNeverRuns = Code(rawValue: "node_never_runs")
        /// An edge condition that does not parse.
        public static let invalidCondition = Code(rawValue: "invalid_condition")
        /// An edge transform that does not parse.
        public static let invalidTransform = Code(rawValue: "invalid_transform")
        /// A node's `inputs` that do not parse, or that name an unknown node.
        public static let invalidInputs = Code(rawValue: "invalid_inputs")
        /// A named predicate that is not registered.
        public static let unknownPredicate = Code(rawValue: "unknown_predicate")
        /// A named transform that is not registered.
        public static let unknownTransform = Code(rawValue: "unknown_transform")
        /// A node configuration with impossible values (no attempts, a negative timeout).
        public static let invalidConfiguration = Code(rawValue: "invalid_configuration")
        /// The blueprint has no nodes.
        public static let emptyBlueprint = Code(rawValue: "empty_blueprint")
        /// A blueprint id, version or node id that breaks ``Identifier``'s rules.
        public static let invalidIdentifier = Code(rawValue: "invalid_identifier")
        /// A node's queue label that cannot name a queue (see ``NodeConfiguration/queueLabelProblem(_:)``).
        public static let invalidQueueLabel = Code(rawValue: "invalid_queue_label")
        /// A loop, sub-workflow, batch, wait or sleep whose params are wrong, or a `weft.` key
        /// that names no construct.
        public static let invalidControl = Code(rawValue: "invalid_control")
        /// A sub-workflow, batch or loop names a blueprint the registry does not have.
        public static let unknownBlueprint = Code(rawValue: "unknown_blueprint")
        /// A wait declares an action (or a timeout action) that no outgoing edge carries, and
        /// the node has no default edge: the run would end that branch there.
        public static let missingActionEdge = Code(rawValue: "missing_action_edge")
        /// A `weft.break` node outside a loop's body.
        public static let breakOutsideLoop = Code(rawValue: "break_outside_loop")
        /// Sub-workflows that start each other without end.
        public static let recursiveBlueprint = Code(rawValue: "recursive_blueprint")
        /// Registries merged into the one validated against gave one key different code (or
        /// one blueprint id and version different blueprints): which one runs is not decided.
        public static let conflictingRegistration = Code(rawValue: "conflicting_registration")
    }

    /// What kind of problem this is.
    public var code: Code
    /// What is wrong, for people.
    public var message: String
    /// The node concerned, if any.
    public var nodeID: String?
    /// The index of the edge concerned in ``Blueprint/edges``, if any.
    public var edgeIndex: Int?

    /// Creates an issue. Control characters in `message` (which quotes ids and expressions
    /// from the blueprint) are escaped, so that printing it cannot forge a line or drive the
    /// terminal.
    public init(_ code: Code, _ message: String, nodeID: String? = nil, edgeIndex: Int? = nil) {
        self.code = code
        self.message = PrintableText.escaped(message)
        self.nodeID = nodeID
        self.edgeIndex = edgeIndex
    }

    public var description: String { "\(code): \(message)" }
}

/// The outcome of ``Blueprint/validate(against:)``.
public struct ValidationReport: Sendable, Hashable, CustomStringConvertible {
    /// Every problem found, in the order found.
    public var issues: [ValidationIssue]

    /// Whether the blueprint has no problem.
    public var isValid: Bool { issues.isEmpty }

    /// The codes of the problems found.
    public var codes: Set<ValidationIssue.Code> { Set(issues.map(\.code)) }

    public var description: String {
        isValid ? "valid" : issues.map(\.description).joined(separator: "\n")
    }
}
