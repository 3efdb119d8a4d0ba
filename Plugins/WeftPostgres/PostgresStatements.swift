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

    /// A run's start: its record if absent, and its entry in the progress index, in one
    /// statement (the progress write is a data-modifying CTE, which runs whatever the outcome).
    struct RecordStart: PostgresPreparedStatement {
        static let sql = """
            WITH p AS (
                INSERT INTO weft_progress AS p (run, quiet_until)
                VALUES ($4, coalesce($5::float8, extract(epoch from clock_timestamp())) + $6::float8)
                ON CONFLICT (run) DO UPDATE SET quiet_until = greatest(p.quiet_until, excluded.quiet_until))
            SELECT outcome, existing FROM weft_set_if_absent($1, $2, $3, NULL, NULL, '{}'::text[], '{}'::text[])
            """
        typealias Row = (Int32, ByteBuffer?)
        var run: String
        var name: String
        var value: ByteBuffer
        var progressRun: String
        var now: Double?
        var quietFor: Double

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 6)
            bindings.append(run)
            bindings.append(name)
            bindings.append(value)
            bindings.append(progressRun)
            bindings.append(now)
            bindings.append(quietFor)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode((Int32, ByteBuffer?).self) }
    }

    /// What a run's end leaves behind, in one statement of data-modifying CTEs: the marker
    /// stored if absent, a timer cancelled (remembered as fired), the run's entry in the
    /// progress index removed, the expiry timer scheduled. A `NULL` name skips its part.
    struct RecordEnd: PostgresPreparedStatement {
        static let sql = """
            WITH m AS (
                INSERT INTO weft_values (run, name, value) SELECT $2, $3, '\\x01'::bytea WHERE $3::text IS NOT NULL
                ON CONFLICT DO NOTHING),
            c AS (
                INSERT INTO weft_timers (run, name, due_at, payload, state) SELECT $4, $5, 0, '', 2 WHERE $5::text IS NOT NULL
                ON CONFLICT (run, name) DO UPDATE SET state = 2),
            p AS (DELETE FROM weft_progress WHERE run = $1),
            e AS (
                INSERT INTO weft_timers (run, name, due_at, payload)
                SELECT $6, $7, coalesce($8::float8, extract(epoch from clock_timestamp())) + $9::float8, $10::bytea
                WHERE $7::text IS NOT NULL
                ON CONFLICT DO NOTHING)
            SELECT 1
            """
        typealias Row = Int32
        var run: String
        var marker: (run: String, name: String)?
        var cancelling: (run: String, name: String)?
        var expiry: (run: String, name: String, after: Double, payload: ByteBuffer)?
        var now: Double?

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 10)
            bindings.append(run)
            bindings.append(marker?.run)
            bindings.append(marker?.name)
            bindings.append(cancelling?.run)
            bindings.append(cancelling?.name)
            bindings.append(expiry?.run)
            bindings.append(expiry?.name)
            bindings.append(now)
            bindings.append(expiry?.after)
            bindings.append(expiry?.payload)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Int32.self) }
    }

    /// Several set-if-absent calls with their set additions and reads, in one statement (one
    /// transaction, one commit): the group commit of ``PostgresWriteBatcher``. Call `i` (1-based)
    /// takes its sets from positions `setFrom...setTo` of the flat set arrays and its reads from
    /// `readFrom...readTo` of the flat read arrays (empty ranges: none). The calls run in order,
    /// once each (the CTE is materialized); each yields one row per read, or one row with no read
    /// position, and reads are made only for a stored value.
    struct SetIfAbsentBatch: PostgresPreparedStatement {
        static let sql = """
            WITH b AS (
                SELECT * FROM unnest(
                    $1::text[], $2::text[], $3::bytea[], $4::text[], $5::int8[], $6::int4[], $7::int4[], $8::int4[], $9::int4[])
                    WITH ORDINALITY AS b(run, name, value, fence, token, set_from, set_to, read_from, read_to, i)),
            s AS MATERIALIZED (
                SELECT b.i, b.read_from, b.read_to, w.outcome, w.existing, w.sizes
                FROM b CROSS JOIN LATERAL weft_set_if_absent(
                    b.run, b.name, b.value, nullif(b.fence, ''), b.token,
                    ($10::text[])[b.set_from:b.set_to], ($11::text[])[b.set_from:b.set_to]) AS w
                ORDER BY b.i)
            SELECT s.i, s.outcome, s.existing, s.sizes, r.j,
                (SELECT v.value FROM weft_values v WHERE v.run = r.run AND v.name = r.name)
            FROM s LEFT JOIN LATERAL unnest(
                CASE WHEN s.outcome = 0 THEN ($12::text[])[s.read_from:s.read_to] END,
                CASE WHEN s.outcome = 0 THEN ($13::text[])[s.read_from:s.read_to] END)
                WITH ORDINALITY AS r(run, name, j) ON true
            """
        typealias Row = (Int64, Int32, ByteBuffer?, [Int64], Int64?, ByteBuffer?)
        var runs: [String] = []
        var names: [String] = []
        var values: [ByteBuffer] = []
        /// The fence's name, or empty for none.
        var fences: [String] = []
        var tokens: [Int64] = []
        var setFrom: [Int32] = []
        var setTo: [Int32] = []
        var readFrom: [Int32] = []
        var readTo: [Int32] = []
        var setNames: [String] = []
        var setMembers: [String] = []
        var readRuns: [String] = []
        var readNames: [String] = []

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 13)
            bindings.append(runs)
            bindings.append(names)
            bindings.append(values)
            bindings.append(fences)
            bindings.append(tokens)
            bindings.append(setFrom)
            bindings.append(setTo)
            bindings.append(readFrom)
            bindings.append(readTo)
            bindings.append(setNames)
            bindings.append(setMembers)
            bindings.append(readRuns)
            bindings.append(readNames)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Row {
            try row.decode((Int64, Int32, ByteBuffer?, [Int64], Int64?, ByteBuffer?).self)
        }
    }
}
