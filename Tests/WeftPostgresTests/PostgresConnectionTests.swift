import Foundation
import Synchronization
import Testing
import Weft
import WeftPostgres
import WeftTesting

extension PostgresTests {
    @Suite("Connecting: URLs, credentials, TLS, schema versions", .serialized)
    struct Connecting {
        /// The error code `body` throws, if it throws a ``PostgresStoreError``, and its message.
        func failure(_ body: () async throws -> Void) async -> (PostgresStoreError.Code, String)? {
            do {
                try await body()
                return nil
            } catch let error as PostgresStoreError {
                return (error.code, error.message)
            } catch {
                return nil
            }
        }

        @Test("URLs parse with the environment filling gaps; bad ones are refused with the reason, never the password")
        func urls() throws {
            let parsed = try PostgresConfiguration(
                url: "postgres://ada:s3cr%40t@db.example.org:6543/runs?sslmode=verify-full&pool=4&connect_timeout=2.5&batches=3",
                environment: [:])
            #expect(parsed.user == "ada" && parsed.password == "s3cr@t" && parsed.host == "db.example.org")
            #expect(parsed.port == 6543 && parsed.database == "runs" && parsed.tls == .verifyFull)
            #expect(parsed.maximumConnections == 4 && parsed.connectTimeout == .milliseconds(2500) && parsed.batches == 3)
            #expect(!parsed.description.contains("s3cr"))
            #expect(parsed.description.contains("<redacted>"))

            let fromEnvironment = try PostgresConfiguration(
                url: "postgres://", environment: ["PGHOST": "pg", "PGPORT": "7000", "PGUSER": "u", "PGPASSWORD": "p", "PGDATABASE": "d", "PGSSLMODE": "require"])
            #expect(fromEnvironment.host == "pg" && fromEnvironment.port == 7000 && fromEnvironment.user == "u")
            #expect(fromEnvironment.password == "p" && fromEnvironment.database == "d" && fromEnvironment.tls == .require)

            for bad in [
                "mysql://x", "postgres://h/db?sslmode=sometimes", "postgres://h:99999/db", "postgres://h/db?pool=0",
                "postgres://h/db?batches=0", "postgres://u:hunter2@h/db?colour=blue",
            ] {
                do {
                    _ = try PostgresConfiguration(url: bad, environment: [:])
                    Issue.record("\(bad) was accepted")
                } catch let error as PostgresStoreError {
                    #expect(error.code == .invalidURL)
                    #expect(!error.message.contains("hunter2"))
                }
            }
        }

        @Test("A wrong password, a missing database and an unreachable server are typed, clear errors")
        func badConnections() async throws {
            var wrongPassword = try Database.configuration()
            wrongPassword.password = "not-the-password"
            let refused = await failure { _ = try await PostgresStateStore.open(wrongPassword) }
            #expect(refused?.0 == .authenticationFailed, "\(String(describing: refused))")
            #expect(refused.map { !$0.1.contains("not-the-password") } ?? false)

            var missing = try Database.configuration()
            missing.database = "no_such_database"
            let unknown = await failure { _ = try await PostgresStateStore.open(missing) }
            #expect(unknown?.0 == .unknownDatabase, "\(String(describing: unknown))")
            #expect(unknown?.1.contains("does not exist") == true)

            var nowhere = try Database.configuration()
            nowhere.port = 1
            nowhere.connectTimeout = .seconds(2)
            let unreachable = await failure { _ = try await PostgresStateStore.open(nowhere) }
            #expect(unreachable?.0 == .unreachable, "\(String(describing: unreachable))")
        }

        @Test("sslmode: verify-full with the cluster's CA connects; require to a host without TLS is refused")
        func tls() async throws {
            guard let url = ProcessInfo.processInfo.environment["WEFT_POSTGRES_TLS_URL"] else { throw Database.Missing() }
            let store = try await PostgresStateStore.open(try PostgresConfiguration(url: url))
            let key = StoreKey(run: "tls-" + UUID().uuidString, name: "v")
            #expect(try await store.coordinationStore.setIfAbsent(key, [7], fence: nil) == .stored)
            #expect(try await store.coordinationStore.value(at: key) == [7])
            await store.close()

            // Without the cluster's CA, its certificate is not trusted.
            var wrongName = try PostgresConfiguration(url: url)
            wrongName.rootCertificate = nil
            let untrusted = await failure { _ = try await PostgresStateStore.open(wrongName) }
            #expect(untrusted?.0 == .tlsFailed, "\(String(describing: untrusted))")
        }

        @Test("The schema is created once by processes opening together; a newer one is refused; migrate is idempotent")
        func schemaVersions() async throws {
            let configuration = try await Database.fresh()
            // Four stores open the empty database at once: one migrates, the others wait.
            let stores = try await withThrowingTaskGroup(of: PostgresStateStore.self) { group in
                for _ in 0..<4 { group.addTask { try await PostgresStateStore.open(configuration) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(try await PostgresStateStore.migrate(configuration) == (from: 2, to: 2))
            // A database of version 1 (before batches) is taken to version 2, and batches work.
            try await stores[0].execute("DROP FUNCTION weft_apply_batch")
            try await stores[0].execute(
                "CREATE TABLE weft_leases (run text NOT NULL, name text NOT NULL, owner text NOT NULL, expires_at float8 NOT NULL, "
                    + "token bigint NOT NULL, PRIMARY KEY (run, name))")
            try await stores[0].execute("UPDATE weft_schema SET version = 1")
            #expect(try await PostgresStateStore.migrate(configuration) == (from: 1, to: 2))
            var batch = StoreBatch()
            let stored = batch.setIfAbsent(StoreKey(run: "migrated", name: "k"), [1])
            batch.addToSet(StoreKey(run: "migrated", name: "s"), member: "1", when: [.stored(stored)])
            #expect(try await stores[1].coordinationStore.apply(batch)[stored] == .stored)
            try await stores[0].execute("UPDATE weft_schema SET version = 99")
            for store in stores { await store.close() }
            let newer = await failure { _ = try await PostgresStateStore.open(configuration) }
            #expect(newer?.0 == .schemaTooNew, "\(String(describing: newer))")
            #expect(newer?.1.contains("version 99") == true)
            let migrateNewer = await failure { _ = try await PostgresStateStore.migrate(configuration) }
            #expect(migrateNewer?.0 == .schemaTooNew)

            var noMigration = try await Database.fresh()
            noMigration.migrateOnStart = false
            let missing = await failure { _ = try await PostgresStateStore.open(noMigration) }
            #expect(missing?.0 == .schemaMissing)
            #expect(missing?.1.contains("weft store migrate") == true)
        }
    
        @Test("A value the server refuses (a NUL in text) is a typed error that says retrying cannot fix it; a lost server may pass")
        func permanentFailures() async throws {
            let stores = StoreList()
            let store = try await Database.scratchStore(in: stores)
            let refused = await #expect(throws: PostgresStoreError.self) {
                _ = try await store.coordinationStore.value(at: StoreKey(run: "run\u{0}id", name: "status"))
            }
            #expect(refused?.code == .queryFailed)
            #expect(refused?.sqlState?.hasPrefix("22") == true, "\(String(describing: refused))")
            #expect(refused?.isPermanent == true)
            #expect(PostgresStoreError(.unreachable, "cannot reach the server").isPermanent == false)
            #expect(PostgresStoreError(.queryFailed, "serialization", sqlState: "40001").isPermanent == false)
            await stores.closeAll()
        }
    }
}

