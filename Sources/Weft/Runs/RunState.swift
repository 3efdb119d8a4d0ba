import Logging
import Synchronization

/// The state one run's attempts share: its identity, its context entries, and the buffered
/// context writes of its attempts. One object per run, so that a node attempt allocates
/// nothing for its context.
final class RunState: ContextReader, Sendable {
    let runID: String
    let dependencies: Dependencies
    let logger: Logger
    private let entries: Mutex<[String: JSONValue]>
    private let writes = Mutex<[UInt64: ContextPatch]>([:])
    /// Whether any attempt ever wrote: until one does, taking writes needs no lock.
    private let anyWrites = Atomic<Bool>(false)

    init(runID: String, dependencies: Dependencies, logger: Logger, context: [String: JSONValue]) {
        self.runID = runID
        self.dependencies = dependencies
        self.logger = logger
        self.entries = Mutex(context)
    }

    // MARK: The run's context

    func value(forKey key: String) -> JSONValue? {
        entries.withLock { $0[key] }
    }

    func snapshot() -> [String: JSONValue] {
        entries.withLock { $0 }
    }

    /// Applies every change of `patch` at once: readers see all of it or none of it.
    func apply(_ patch: ContextPatch) {
        guard !patch.isEmpty else { return }
        entries.withLock { patch.apply(to: &$0) }
    }

    // MARK: Attempts' buffered writes

    func append(_ key: UInt64, _ changes: [ContextPatch.Change]) {
        anyWrites.store(true, ordering: .releasing)
        writes.withLock { $0[key, default: ContextPatch()].changes.append(contentsOf: changes) }
    }

    func lastWrite(_ key: UInt64, _ name: String) -> JSONValue?? {
        writes.withLock { writes in
            guard let patch = writes[key] else { return nil }
            return patch.changes.last(where: { $0.key == name }).map { $0.value }
        }
    }

    func patch(_ key: UInt64) -> ContextPatch {
        writes.withLock { $0[key] ?? ContextPatch() }
    }

    func take(_ key: UInt64) -> ContextPatch {
        guard anyWrites.load(ordering: .acquiring) else { return ContextPatch() }
        return writes.withLock { $0.isEmpty ? ContextPatch() : ($0.removeValue(forKey: key) ?? ContextPatch()) }
    }

    /// The buffer key of attempt `attempt` of node `node`; a fallback writes apart from the
    /// attempt it follows, whose late writes (after a timeout) must not leak into it.
    static func writeKey(node: Int, attempt: Int, fallback: Bool) -> UInt64 {
        UInt64(truncatingIfNeeded: node) << 25 | (fallback ? 1 << 24 : 0) | UInt64(truncatingIfNeeded: attempt) & 0xFF_FFFF
    }
}
