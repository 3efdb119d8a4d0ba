/// The names of a distributed run's records in the coordination store. Short (most fit in a
/// string stored inline), keyed by node index and iteration: a run is pinned to one blueprint
/// version, so indices are stable.
enum RunKeys {
    static func meta(_ run: String) -> StoreKey { StoreKey(run: run, name: "m") }
    static func status(_ run: String) -> StoreKey { StoreKey(run: run, name: "s") }
    /// Present once the run's context may hold entries: until then a job reads no context.
    static func hasContext(_ run: String) -> StoreKey { StoreKey(run: run, name: "c") }
    /// Set once the run's end was announced to the client that started it.
    static func announced(_ run: String) -> StoreKey { StoreKey(run: run, name: "p") }
    /// The set of finished (completed or skipped) nodes.
    static func done(_ run: String) -> StoreKey { StoreKey(run: run, name: "d") }
    /// The set of completed nodes that took no outgoing edge: the run's result is theirs.
    static func terminals(_ run: String) -> StoreKey { StoreKey(run: run, name: "o") }
    static func result(_ run: String, _ node: Int, _ iteration: Int) -> StoreKey {
        if iteration == 0 && node < Names.count { return StoreKey(run: run, name: Names.results[node]) }
        return StoreKey(run: run, name: "n\(node).\(iteration)")
    }

    /// The member naming node `node` in the set of finished nodes.
    static func doneMember(_ node: Int) -> String {
        node < Names.count ? Names.numbers[node] : String(node)
    }

    /// The member recording that `edge` resolved, taken or skipped, in a join's arrivals.
    static func arrivalMember(_ edge: Int, taken: Bool) -> String {
        guard edge < Names.count else { return String(edge) + (taken ? "t" : "s") }
        return taken ? Names.taken[edge] : Names.skipped[edge]
    }

    /// Names built once for the first nodes and edges, so that the hot path builds no strings.
    private enum Names {
        static let count = 4096
        static let results = (0..<count).map { "n\($0).0" }
        static let numbers = (0..<count).map { String($0) }
        static let taken = (0..<count).map { "\($0)t" }
        static let skipped = (0..<count).map { "\($0)s" }
    }
    /// The node's last failed attempt, while it waits for a retry.
    static func lastFailure(_ run: String, _ node: Int, _ iteration: Int) -> StoreKey {
        StoreKey(run: run, name: "e\(node).\(iteration)")
    }
    /// A lifecycle node's prepared state, kept between attempts.
    static func prepared(_ run: String, _ node: Int, _ iteration: Int) -> StoreKey {
        StoreKey(run: run, name: "r\(node).\(iteration)")
    }
    /// The set of resolved incoming edges of a join: `<edge>t` (taken) or `<edge>s` (skipped).
    static func arrivals(_ run: String, _ node: Int, _ iteration: Int) -> StoreKey {
        StoreKey(run: run, name: "j\(node).\(iteration)")
    }
    /// The edge that fired an `any` join.
    static func anyFired(_ run: String, _ node: Int, _ iteration: Int) -> StoreKey {
        StoreKey(run: run, name: "a\(node).\(iteration)")
    }
    static func quarantine(_ run: String, _ node: Int, _ iteration: Int) -> StoreKey {
        StoreKey(run: run, name: "q\(node).\(iteration)")
    }
    /// The fence of a node's attempts (in the fences' own namespace).
    static func fence(_ run: String, _ node: Int, _ iteration: Int) -> StoreKey {
        result(run, node, iteration)
    }
    /// The counter of re-publications by the reconciler, part of their fencing tokens.
    static func generation(_ run: String, _ node: Int, _ iteration: Int) -> StoreKey {
        StoreKey(run: run, name: "g\(node).\(iteration)")
    }
    static func retryTimer(_ run: String, _ node: Int, _ iteration: Int, attempt: Int) -> StoreKey {
        StoreKey(run: run, name: "t\(node).\(iteration).\(attempt)")
    }
    /// A control node's attempt (a loop, sub-workflow, batch, wait or sleep): its input, fencing
    /// token and item count, written when the attempt starts; its presence means the node is
    /// suspended until its children, a signal or a timer resume it.
    static func control(_ run: String, _ node: Int, attempt: Int) -> StoreKey {
        StoreKey(run: run, name: "k\(node).\(attempt)")
    }
    /// The batch items of a control node's attempt that ended.
    static func batchDone(_ run: String, _ node: Int, attempt: Int) -> StoreKey {
        StoreKey(run: run, name: "b\(node).\(attempt)")
    }
    /// How batch item `index` of a control node's attempt ended (its terminal record), kept
    /// with the parent so that the items' own records may expire before the batch gathers.
    static func batchItem(_ run: String, _ node: Int, attempt: Int, index: Int) -> StoreKey {
        StoreKey(run: run, name: "i\(node).\(attempt).\(index)")
    }
    /// The timer that resumes a wait at its timeout, or a sleep.
    static func controlTimer(_ run: String, _ node: Int, attempt: Int) -> StoreKey {
        StoreKey(run: run, name: "w\(node).\(attempt)")
    }
    /// The timer that publishes a start node's job of a run started with a delay.
    static func startTimer(_ run: String, _ node: Int) -> StoreKey { StoreKey(run: run, name: "st\(node)") }
    /// The child runs this run started (sub-workflows, loop passes, batch items), by id.
    static func children(_ run: String) -> StoreKey { StoreKey(run: run, name: "ch") }
    static func deadlineTimer(_ run: String) -> StoreKey { StoreKey(run: run, name: "deadline") }
    static func expiryTimer(_ run: String) -> StoreKey { StoreKey(run: run, name: "expire") }
    static func leftCounter(_ run: String) -> StoreKey { StoreKey(run: run, name: "lc") }
    static func leftTimer(_ run: String, _ sequence: Int64) -> StoreKey { StoreKey(run: run, name: "l\(sequence)") }

    /// The fencing token of `attempt` as first published; re-publications add a generation.
    static func token(attempt: Int, generation: Int64 = 0) -> UInt64 {
        UInt64(truncatingIfNeeded: attempt) << 32 | UInt64(truncatingIfNeeded: generation) & 0xFFFF_FFFF
    }
}
