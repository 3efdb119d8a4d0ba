import Logging
import PostgresNIO

/// Creates and upgrades the schema, one migration per transaction, under a lock so that
/// processes starting together migrate once.
struct PostgresMigrator {
    let client: PostgresClient
    let logger: Logger
    /// The advisory lock migrations take ("weft" in ASCII).
    static let lock: Int64 = 0x7765_6674

    /// The schema version of the database (0: none).
    func version() async throws -> Int {
        var exists = false
        for try await found in try await client.query("SELECT to_regclass('weft_schema') IS NOT NULL", logger: logger)
            .decode(Bool.self)
        {
            exists = found
        }
        guard exists else { return 0 }
        return try await client.query("SELECT version FROM weft_schema WHERE id = 1", logger: logger).collectOrMissing()
    }

    /// Applies the migrations the database lacks.
    func migrate() async throws {
        try await client.withTransaction(logger: logger) { connection in
            // Processes opening an empty database together: one migrates, the others wait here.
            try await connection.query("SELECT pg_advisory_xact_lock(\(Self.lock))", logger: logger)
            try await connection.query("CREATE TABLE IF NOT EXISTS weft_schema (id int PRIMARY KEY, version int NOT NULL)", logger: logger)
            var version = 0
            for try await value in try await connection.query("SELECT version FROM weft_schema WHERE id = 1", logger: logger)
                .decode(Int.self)
            {
                version = value
            }
            guard version < PostgresSchema.currentVersion else { return }
            for (index, migration) in PostgresSchema.migrations.enumerated() where index >= version {
                for statement in migration {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                logger.info("migrated the Weft schema", metadata: ["weft.schema": "\(index + 1)"])
            }
            try await connection.query(
                """
                INSERT INTO weft_schema (id, version) VALUES (1, \(PostgresSchema.currentVersion))
                ON CONFLICT (id) DO UPDATE SET version = excluded.version
                """, logger: logger)
        }
    }
}

extension PostgresRowSequence {
    /// The first row's `Int`, or 0 when there is none.
    fileprivate func collectOrMissing() async throws -> Int {
        for try await value in decode(Int.self) { return value }
        return 0
    }
}
