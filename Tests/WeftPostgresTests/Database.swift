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

    /// The configuration of the cluster's `weft` database.
    static func configuration() throws -> PostgresConfiguration {
        try PostgresConfiguration(url: url())
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

    /// A store on a new database, closed when the next one is made (checks run one at a time).
    static func scratchStore(clock: StoreClock? = nil) async throws -> PostgresStateStore {
        let store = try await PostgresStateStore.open(try await fresh(), clock: clock)
        let previous = current.withLock { current in
            defer { current = store }
            return current
        }
        await previous?.close()
        return store
    }

    private static let current = Mutex<PostgresStateStore?>(nil)
}
