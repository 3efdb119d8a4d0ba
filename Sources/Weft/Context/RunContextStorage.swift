import Synchronization

/// The in-memory key/value state of one run, shared by its node attempts.
///
/// Safe to use from any task; a patch is applied under one lock, so readers see all of it or
/// none of it.
public final class RunContextStorage: ContextReader, Sendable {
    private let entries: Mutex<[String: JSONValue]>

    /// Creates storage with initial entries.
    public init(_ initial: [String: JSONValue] = [:]) {
        entries = Mutex(initial)
    }

    public func value(forKey key: String) -> JSONValue? {
        entries.withLock { $0[key] }
    }

    public func snapshot() -> [String: JSONValue] {
        entries.withLock { $0 }
    }

    /// Applies every change of `patch` at once.
    public func apply(_ patch: ContextPatch) {
        guard !patch.isEmpty else { return }
        entries.withLock { patch.apply(to: &$0) }
    }
}
