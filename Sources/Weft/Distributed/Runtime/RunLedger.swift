import Synchronization

/// A distributed run's records in the stores, read and written by key (``RunKeys``), and the
/// run records (``RunMeta``) this process has read, cached: they never change once written.
///
/// Every step of a run goes through one ledger per process: the coordinator's job, timer,
/// control and reconciler steps, the finisher and the client's inspection.
final class RunLedger: Sendable {
    /// The coordination store: every record of a run but its context.
    let records: any CoordinationStore
    /// The runs' contexts.
    let contexts: any ContextStore
    /// Run records never change once written: cached, bounded.
    private let metas = Sharded<[String: CachedMeta]> { [:] }
    /// How long a cached run record may be used without reading the store again: less than
    /// the retention, so that a run deleted by retention is never taken for a live one.
    private let metaFreshness: Duration
    /// Per shard.
    private static let metaCacheLimit = 512

    init(records: any CoordinationStore, contexts: any ContextStore, freshness: Duration) {
        self.records = records
        self.contexts = contexts
        self.metaFreshness = freshness
    }

    // MARK: Run records

    /// The run's record, read from the store (so that a deleted run is known as such) and
    /// decoded once per process.
    func meta(_ run: String) async throws -> RunMeta? {
        guard let bytes = try await records.value(at: RunKeys.meta(run)) else { return nil }
        return try cachedMeta(run, bytes: bytes)
    }

    /// The run's record from this process's cache when fresh (see `metaFreshness`), else from
    /// the store: for steps that a deleted run cannot reach (the run's own end, its result).
    func recentMeta(_ run: String) async throws -> RunMeta? {
        if let fresh = freshMeta(run) { return fresh }
        return try await meta(run)
    }

    /// The run's record from its stored bytes, decoded once per process.
    func cachedMeta(_ run: String, bytes: [UInt8], now: ContinuousClock.Instant = .now) throws -> RunMeta {
        if let cached = metas.withLock(run, { $0[run] }), cached.at.duration(to: now) < metaFreshness { return cached.meta }
        let meta = try RunMeta(decoding: bytes)
        remember(meta, of: run, at: now)
        return meta
    }

    /// Keeps `meta` as the run's record, read or written at `now`.
    func remember(_ meta: RunMeta, of run: String, at now: ContinuousClock.Instant = .now) {
        metas.withLock(run) { cache in
            if cache.count >= Self.metaCacheLimit { cache.removeAll(keepingCapacity: true) }
            cache[run] = CachedMeta(meta: meta, at: now)
        }
    }

    /// Forgets every cached run record, giving their memory back.
    func forgetCachedRuns() {
        metas.forEach { $0 = [:] }
    }

    /// The run's record if this process read it recently enough to trust it without reading
    /// the store (see `metaFreshness`).
    func freshMeta(_ run: String, now: ContinuousClock.Instant = .now) -> RunMeta? {
        guard let cached = metas.withLock(run, { $0[run] }) else { return nil }
        return cached.at.duration(to: now) < metaFreshness ? cached.meta : nil
    }

    struct CachedMeta: Sendable {
        var meta: RunMeta
        var at: ContinuousClock.Instant
    }

    func terminal(_ run: String) async throws -> TerminalRecord? {
        guard let bytes = try await records.value(at: RunKeys.status(run)) else { return nil }
        return try TerminalRecord(decoding: bytes)
    }

    func result(_ run: String, node: Int, iteration: Int) async throws -> NodeResultRecord? {
        guard let bytes = try await records.value(at: RunKeys.result(run, node, iteration)) else { return nil }
        return try NodeResultRecord(decoding: bytes)
    }

    /// Every node's record, by index (`nil`: not recorded), read in one batch.
    func results(_ run: String, plan: ExecutionPlan, iteration: Int = 0) async throws -> [NodeResultRecord?] {
        let keys = (0..<plan.nodeCount).map { RunKeys.result(run, $0, iteration) }
        return try await records.values(at: keys).map { bytes in try bytes.map { try NodeResultRecord(decoding: $0) } }
    }

    /// Node states carrying the recorded outputs, for expressions that read `nodes.x`.
    func nodeStates(_ run: String, plan: ExecutionPlan) async throws -> [RunStateMachine.NodeState] {
        var states = Array(repeating: RunStateMachine.NodeState(), count: plan.nodeCount)
        for (node, record) in try await results(run, plan: plan).enumerated() where record?.status == .completed {
            states[node].output = record?.output
        }
        return states
    }

    /// Applies context writes recorded for a node, noting first that the run has context.
    func applyContext(_ patch: ContextPatch, run: String, origin: String) async throws {
        _ = try await records.setIfAbsent(RunKeys.hasContext(run), [1], fence: nil)
        try await contexts.apply(patch, run: run, origin: origin)
    }
}
