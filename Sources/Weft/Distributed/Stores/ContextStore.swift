/// A run's key/value state: the context seam of Weft.
///
/// Node attempts never write here directly: their writes are buffered and recorded with their
/// result, then applied with ``apply(_:run:origin:)``, at most once per origin, so that a
/// redelivered job re-applying its recorded writes changes nothing.
public protocol ContextStore: Sendable {
    /// The entry at `key` of `run`.
    func value(forKey key: String, run: String) async throws -> JSONValue?

    /// Every entry of `run` (empty for an unknown run).
    func snapshot(run: String) async throws -> [String: JSONValue]

    /// Applies every change of `patch` to `run` atomically: readers see all of it or none.
    /// With an `origin`, a patch is applied once: applying a patch again with an origin already
    /// applied to this run changes nothing and returns `false`.
    @discardableResult
    func apply(_ patch: ContextPatch, run: String, origin: String?) async throws -> Bool

    /// Removes every entry and every applied origin of `run`.
    func deleteRun(_ run: String) async throws
}

extension ContextStore {
    /// Sets one entry of `run`.
    public func set(_ key: String, _ value: JSONValue, run: String) async throws {
        try await apply(ContextPatch([.init(key: key, value: value)]), run: run, origin: nil)
    }

    /// Removes one entry of `run`.
    public func remove(_ key: String, run: String) async throws {
        try await apply(ContextPatch([.init(key: key, value: nil)]), run: run, origin: nil)
    }
}
