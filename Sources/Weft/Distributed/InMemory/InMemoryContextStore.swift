/// A ``ContextStore`` in this process's memory: the embedded default and what tests use.
/// Safe to share between tasks; runs are kept in shards, each behind its own lock.
public final class InMemoryContextStore: ContextStore {
    private struct RunEntries {
        var entries: [String: JSONValue] = [:]
        var origins: Set<String> = []
    }

    private let runs = Sharded<[String: RunEntries]> { [:] }

    /// Creates an empty store.
    public init() {}

    public func value(forKey key: String, run: String) async throws -> JSONValue? {
        runs.withLock(run) { $0[run]?.entries[key] }
    }

    public func snapshot(run: String) async throws -> [String: JSONValue] {
        runs.withLock(run) { $0[run]?.entries ?? [:] }
    }

    @discardableResult
    public func apply(_ patch: ContextPatch, run: String, origin: String?) async throws -> Bool {
        runs.withLock(run) { runs in
            if let origin {
                guard runs[run, default: RunEntries()].origins.insert(origin).inserted else { return false }
            }
            guard !patch.isEmpty else { return true }
            patch.apply(to: &runs[run, default: RunEntries()].entries)
            return true
        }
    }

    public func deleteRun(_ run: String) async throws {
        runs.withLock(run) { _ = $0.removeValue(forKey: run) }
    }

    /// How many runs have entries or applied origins: for tests of retention.
    public var runCount: Int {
        var count = 0
        runs.forEach { count += $0.count }
        return count
    }
}
