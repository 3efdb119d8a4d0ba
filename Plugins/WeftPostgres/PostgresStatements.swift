import NIOCore
import PostgresNIO

/// The statements of every node hop, prepared once per connection: the server parses and plans
/// them once, not on every call.
enum PostgresStatements {
    /// One record.
    struct Value: PostgresPreparedStatement {
        static let sql = "SELECT value FROM weft_values WHERE run = $1 AND name = $2"
        typealias Row = ByteBuffer
        var run: String
        var name: String

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 2)
            bindings.append(run)
            bindings.append(name)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(ByteBuffer.self) }
    }

    /// Several records, by position (1-based) in the key arrays.
    struct Values: PostgresPreparedStatement {
        static let sql = """
            SELECT k.i, (SELECT v.value FROM weft_values v WHERE v.run = k.run AND v.name = k.name)
            FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS k(run, name, i)
            """
        typealias Row = (Int64, ByteBuffer?)
        var runs: [String]
        var names: [String]

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 2)
            bindings.append(runs)
            bindings.append(names)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode((Int64, ByteBuffer?).self) }
    }

    /// Set-if-absent, fenced, with its set additions.
    struct SetIfAbsent: PostgresPreparedStatement {
        static let sql = "SELECT outcome, existing, sizes FROM weft_set_if_absent($1, $2, $3, $4, $5, $6::text[], $7::text[])"
        typealias Row = (Int32, ByteBuffer?, [Int64])
        var run: String
        var name: String
        var value: ByteBuffer
        var fence: String?
        var token: Int64?
        var sets: [String]
        var members: [String]

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 7)
            bindings.append(run)
            bindings.append(name)
            bindings.append(value)
            bindings.append(fence)
            bindings.append(token)
            bindings.append(sets)
            bindings.append(members)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode((Int32, ByteBuffer?, [Int64]).self) }
    }
}
