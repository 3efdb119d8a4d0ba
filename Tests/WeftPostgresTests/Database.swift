import Foundation
import Synchronization
import Weft
import WeftPostgres

/// The test cluster scripts/test.sh starts (scripts/postgres.sh), and fresh databases on it.
enum Database {
    struct Missing: Error, CustomStringConvertible {
        var description: String {
            "WEFT_POSTGRES_URL is not set: run the tests with scripts/test.sh, or start a server with "
                + "`eval \"$(scripts/postgres.sh start)\"` first"
        }
    }

    static func url() throws -> String {
        guard let url = ProcessInfo.processInfo.environment["WEFT_POSTGRES_URL"], !url.isEmpty else { throw Missing() }
        return url
    }

    /// The configuration of the cluster's `weft` database, with a small pool: tests run side
    /// by side, each with stores of its own.
    static func configuration() throws -> PostgresConfiguration {
        var configuration = try PostgresConfiguration(url: url())
        configuration.maximumConnections = 4
        return configuration
    }

    /// The configuration of a new, empty database of its own.
    static func fresh(_ prefix: String = "weft_test") async throws -> PostgresConfiguration {
        let base = try configuration()
        let name = prefix + "_" + String(UInt64.random(in: 0...UInt64.max), radix: 36)
        let admin = try await PostgresStateStore.open(base)
        defer { Task { await admin.close() } }
        try await admin.execute("CREATE DATABASE \(name)")
        var configuration = base
        configuration.database = name
        return configuration
    }

    /// A store on a new database, kept in `stores` for the test to close when it ends.
    static func scratchStore(clock: StoreClock? = nil, in stores: StoreList) async throws -> PostgresStateStore {
        let store = try await PostgresStateStore.open(try await fresh(), clock: clock)
        stores.add(store)
        return store
    }
}

/// The stores a test opened, closed together when it ends.
final class StoreList: Sendable {
    private let stores = Mutex<[PostgresStateStore]>([])

    func add(_ store: PostgresStateStore) { stores.withLock { $0.append(store) } }

    func closeAll() async {
        for store in stores.withLock({ $0 }) { await store.close() }
    }
}
