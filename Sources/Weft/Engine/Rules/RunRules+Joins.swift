extension RunRules {
    /// What a node's incoming edges have resolved to so far (its own arrival included).
    struct Arrivals: Sendable, Hashable {
        /// How many incoming edges the node has.
        var incoming: Int
        /// How many are resolved, taken or skipped.
        var resolved: Int
        /// How many are taken.
        var taken: Int
    }

    /// The edge that just resolved.
    enum Arriving: Sendable, Hashable {
        /// It was taken; `first` when no other taken edge reached the node before it (the
        /// owner establishes that order: a count in one process, an atomic marker on a fleet).
        case taken(first: Bool)
        case skipped
    }

    /// What an edge's resolution means for its target.
    enum JoinDecision: Sendable, Hashable {
        /// Not yet: more incoming edges must resolve (or an `any` join fired already).
        case wait
        /// The node is ready to run.
        case fire
        /// Every incoming edge was skipped: the node is skipped, and so are its outgoing edges.
        case skip
    }

    /// Rules 3 and 4: dead-path elimination and joins. An `all` join (the default, and any
    /// node with one incoming edge) fires once every incoming edge is resolved and at least one
    /// was taken; an `any` join fires on its first taken edge and ignores later ones. A node
    /// all of whose incoming edges were skipped is skipped. Arrivals are counted per edge, so
    /// a duplicate cannot fire a join early.
    static func join(_ strategy: JoinStrategy, arrivals: Arrivals, arriving: Arriving) -> JoinDecision {
        if strategy == .any, case .taken(let first) = arriving { return first ? .fire : .wait }
        let state = readiness(strategy, arrivals: arrivals)
        // An `any` join fired on its first taken edge; a later skip changes nothing.
        return strategy == .any && state == .fire ? .wait : state
    }

    /// Rules 3 and 4 read from a node's arrivals alone, whatever arrived last: whether the
    /// node is ready to run (`fire`: an `all` join whose edges are all resolved, one at least
    /// taken; an `any` join with a taken edge), skipped (every edge skipped), or neither yet.
    /// A worker checks a job against this before running it (a job is a claim to check).
    static func readiness(_ strategy: JoinStrategy, arrivals: Arrivals) -> JoinDecision {
        if strategy == .any && arrivals.taken > 0 { return .fire }
        guard arrivals.resolved >= arrivals.incoming else { return .wait }
        return arrivals.taken == 0 ? .skip : .fire
    }
}
