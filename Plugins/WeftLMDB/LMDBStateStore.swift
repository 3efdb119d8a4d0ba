import Weft

/// The LMDB state store of one machine: an environment opened with every database Weft needs,
/// and the context and coordination stores on it.
///
/// ```swift
/// let store = try LMDBStateStore(LMDBConfiguration(path: "/var/lib/weft/state"))
/// let backends = WeftBackends(
///     transport: transport, contextStore: store.contextStore, coordinationStore: store.coordinationStore)
/// ```
///
/// Open one per process and share it; every process of the machine that opens the same
/// directory shares the records.
public final class LMDBStateStore: Sendable {
    /// Every database of the state store.
    public static let databases = LMDBContextStore.databases + LMDBCoordinationStore.databases

    /// The environment.
    public let environment: LMDBEnvironment
    /// Runs' contexts.
    public let contextStore: LMDBContextStore
    /// Node records, join arrivals, leases, timers, terminal statuses.
    public let coordinationStore: LMDBCoordinationStore

    /// Opens (creating when missing) the state store described by `configuration`. Leases and
    /// timers follow the wall clock, or `clock` when given (for tests).
    /// - Throws: ``LMDBError`` (see ``LMDBEnvironment/init(_:databases:)``).
    public init(_ configuration: LMDBConfiguration, clock: StoreClock? = nil) throws {
        environment = try LMDBEnvironment(configuration, databases: Self.databases)
        contextStore = LMDBContextStore(environment: environment)
        coordinationStore = LMDBCoordinationStore(environment: environment, clock: clock)
    }

    /// Finishes queued writes and closes the environment.
    public func close() { environment.close() }
}
