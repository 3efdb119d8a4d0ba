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

    /// Batches of operations (see ``PostgresCoordinationStore/apply(_:)``), run by
    /// `weft_apply_batch` in order in one statement (one transaction, one commit): step `i`
    /// (1-based) is attempted when its conditions, positions `conditionEnds[i-1]+1 ...
    /// conditionEnds[i]` of the flat condition arrays, hold. One row per step: its position, its
    /// outcome (-1: not attempted), a value and a number.
    struct ApplyBatch: PostgresPreparedStatement {
        static let sql = """
            SELECT o_step, o_outcome, o_value, o_number FROM weft_apply_batch(
                $1::int4[], $2::text[], $3::text[], $4::bytea[], $5::bytea[], $6::text[], $7::int8[], $8::text[], $9::int8[],
                $10::float8[], $11::int4[], $12::int4[], $13::int4[], $14::int8[], $15::float8)
            """
        typealias Row = (Int32, Int32, ByteBuffer?, Int64?)
        var kinds: [Int32] = []
        var runs: [String] = []
        var names: [String] = []
        /// The value stored, or a timer's payload.
        var values: [ByteBuffer] = []
        /// A compare-and-set's expected value.
        var expected: [ByteBuffer] = []
        /// The fence's name, or empty for none.
        var fences: [String] = []
        var tokens: [Int64] = []
        var members: [String] = []
        /// A counter's delta.
        var numbers: [Int64] = []
        /// A timer's delay or a run's quiet time, in seconds.
        var seconds: [Double] = []
        var conditionEnds: [Int32] = []
        /// 0: stored, 1: swapped, 2: a set's size.
        var conditionKinds: [Int32] = []
        var conditionSteps: [Int32] = []
        var conditionSizes: [Int64] = []
        var now: Double?

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 15)
            bindings.append(kinds)
            bindings.append(runs)
            bindings.append(names)
            bindings.append(values)
            bindings.append(expected)
            bindings.append(fences)
            bindings.append(tokens)
            bindings.append(members)
            bindings.append(numbers)
            bindings.append(seconds)
            bindings.append(conditionEnds)
            bindings.append(conditionKinds)
            bindings.append(conditionSteps)
            bindings.append(conditionSizes)
            bindings.append(now)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode((Int32, Int32, ByteBuffer?, Int64?).self) }
    }
}
