/// What a coordination store says of one run, read straight from its records: for tools that
/// inspect a store (`weft store runs`) without a runtime.
public struct StoredRun: Sendable, Hashable {
    /// The run's id.
    public var runID: String
    /// The blueprint it runs, and the version it is pinned to.
    public var blueprintID: String
    /// The blueprint's version.
    public var blueprintVersion: String
    /// When it started, in seconds since 1970.
    public var startedAt: Double
    /// How it ended, or `nil` while it is unfinished.
    public var status: RunStatus?
    /// When it ended, in seconds since 1970, or `nil` while it is unfinished.
    public var finishedAt: Double?

    /// Reads run `runID`'s records from `store`: `nil` when the store has no record of its start
    /// (never started here, or deleted by retention).
    /// - Throws: the store's errors, or a ``WeftError`` when a record cannot be decoded.
    public static func read(_ runID: String, from store: any CoordinationStore) async throws -> StoredRun? {
        let values = try await store.values(at: [RunKeys.meta(runID), RunKeys.status(runID)])
        guard let metaBytes = values[0] else { return nil }
        let meta = try RunMeta(decoding: metaBytes)
        let terminal = try values[1].map { try TerminalRecord(decoding: $0) }
        return StoredRun(
            runID: runID, blueprintID: meta.blueprintID, blueprintVersion: meta.blueprintVersion, startedAt: meta.startedAt,
            status: terminal?.status, finishedAt: terminal?.finishedAt)
    }
}
