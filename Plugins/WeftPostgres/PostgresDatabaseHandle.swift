import Logging
import NIOCore
import PostgresNIO
import Weft

/// What the two stores share: the pooled client, the statement count, and the clock.
struct PostgresDatabaseHandle: Sendable {
    let client: PostgresClient
    let configuration: PostgresConfiguration
    let statements: StatementCounter
    /// A test's clock, read as seconds since an arbitrary epoch; `nil`: the database's clock.
    let clock: StoreClock?

    /// The time to pass to a statement: `nil` lets the statement read the database's clock
    /// (`coalesce($now, extract(epoch from clock_timestamp()))`).
    var now: Double? {
        clock.map { 1_000_000_000 + $0.now.seconds }
    }

    /// Runs `query`, counting it, and returns its rows.
    @discardableResult
    func query(_ query: PostgresQuery) async throws -> PostgresRowSequence {
        statements.add()
        do {
            return try await client.query(query)
        } catch {
            throw PostgresStateStore.describe(error, configuration: configuration)
        }
    }

    /// Runs a prepared statement, counting it, and returns its rows.
    func execute<Statement: PostgresPreparedStatement>(_ statement: Statement) async throws -> [Statement.Row] {
        statements.add()
        do {
            var rows: [Statement.Row] = []
            for try await row in try await client.execute(statement) { rows.append(row) }
            return rows
        } catch {
            throw PostgresStateStore.describe(error, configuration: configuration)
        }
    }

    /// Runs `query` and returns its only row's first column decoded as `T`, or `nil`.
    func scalar<T: PostgresDecodable & Sendable>(_ query: PostgresQuery, as type: T.Type) async throws -> T? {
        for try await row in try await self.query(query) {
            guard let cell = row.first, cell.bytes != nil else { return nil }
            return try cell.decode(T.self)
        }
        return nil
    }

    /// A token (unsigned) as a `bigint`, order kept.
    static func column(_ token: UInt64) -> Int64 { Int64(bitPattern: token ^ 0x8000_0000_0000_0000) }
    /// A `bigint` column back as a token.
    static func token(_ column: Int64) -> UInt64 { UInt64(bitPattern: column) ^ 0x8000_0000_0000_0000 }

    static func bytes(_ value: [UInt8]) -> ByteBuffer { ByteBuffer(bytes: value) }
    static func bytes(_ buffer: ByteBuffer) -> [UInt8] { Array(buffer.readableBytesView) }
}
