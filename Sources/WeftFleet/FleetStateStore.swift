import Logging
import Weft
import WeftLMDB
import WeftPostgres

/// The state store a fleet process opens, as its configuration's `store` says: an LMDB
/// directory, shared by the processes of one machine, or a `postgres://` URL, shared by
/// workers on many machines.
public enum FleetStateStore: Sendable {
    case lmdb(LMDBStateStore)
    case postgres(PostgresStateStore)

    /// Opens the store of `configuration`.
    ///
    /// - Throws: ``WeftLMDB/LMDBError`` or ``WeftPostgres/PostgresStoreError``.
    public static func open(_ configuration: FleetConfiguration, logger: Logger) async throws -> FleetStateStore {
        if configuration.storeIsPostgres {
            return .postgres(try await PostgresStateStore.open(try configuration.postgresConfiguration(), logger: logger))
        }
        return .lmdb(try LMDBStateStore(configuration.lmdbConfiguration))
    }

    /// The context store.
    public var contextStore: any ContextStore {
        switch self {
        case .lmdb(let store): return store.contextStore
        case .postgres(let store): return store.contextStore
        }
    }

    /// The coordination store.
    public var coordinationStore: any CoordinationStore {
        switch self {
        case .lmdb(let store): return store.coordinationStore
        case .postgres(let store): return store.coordinationStore
        }
    }

    /// Closes the store.
    public func close() async {
        switch self {
        case .lmdb(let store): store.close()
        case .postgres(let store): await store.close()
        }
    }

    /// Gives back the memory of the store's mapped pages, where it maps them (LMDB); `false`
    /// when that failed.
    func releaseMappedPages() -> Bool {
        guard case .lmdb(let store) = self else { return true }
        return store.environment.releaseMappedPages() != nil
    }

    /// The runs with a start record, at most `limit`.
    public func runIDs(limit: Int) async throws -> [String] {
        switch self {
        case .lmdb(let store): return try store.coordinationStore.runIDs(limit: limit)
        case .postgres(let store): return try await store.coordinationStore.runIDs(limit: limit)
        }
    }

    /// How many runs have not ended.
    public func unfinishedRunCount() async throws -> Int {
        switch self {
        case .lmdb(let store): return try store.coordinationStore.progressIndex().count
        case .postgres(let store): return try await store.coordinationStore.unfinishedRunCount()
        }
    }
}
