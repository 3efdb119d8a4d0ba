import NIOCore
import PostgresNIO
import Weft

/// Durable timers, the progress index and deletion: the parts of the coordination store
/// that read the time, which is the database's (`clock_timestamp()`), never a worker's.
extension PostgresCoordinationStore {
    private typealias Handle = PostgresDatabaseHandle

    // MARK: Durable timers

    @discardableResult
    public func scheduleTimer(_ key: StoreKey, after delay: Duration, payload: [UInt8]) async throws -> Bool {
        let now = database.now
        return try await database.scalar(
            """
            INSERT INTO weft_timers (run, name, due_at, payload)
            VALUES (\(key.run), \(key.name), coalesce(\(now)::float8, extract(epoch from clock_timestamp())) + \(delay.seconds),
                \(Handle.bytes(payload)))
            ON CONFLICT DO NOTHING RETURNING 1
            """, as: Int32.self) != nil
    }

    public func claimDueTimers(limit: Int, claimFor: Duration) async throws -> TimerClaim {
        let now = database.now
        guard limit > 0 else { return TimerClaim(timers: [], nextDue: try await nextTimerDue()) }
        let rows = try await database.query(
            """
            WITH t AS (SELECT coalesce(\(now)::float8, extract(epoch from clock_timestamp())) AS now),
            due AS (
                SELECT run, name FROM weft_timers, t
                WHERE state = 0 AND due_at <= t.now AND (claimed_until IS NULL OR claimed_until <= t.now)
                ORDER BY due_at LIMIT \(limit) FOR UPDATE OF weft_timers SKIP LOCKED)
            UPDATE weft_timers w SET claimed_until = (SELECT now FROM t) + \(claimFor.seconds)
            FROM due WHERE w.run = due.run AND w.name = due.name
            RETURNING w.run, w.name, w.payload, w.due_at
            """)
        var due: [(DueTimer, Double)] = []
        for try await (run, name, payload, at) in rows.decode((String, String, ByteBuffer, Double).self) {
            due.append((DueTimer(key: StoreKey(run: run, name: name), payload: Handle.bytes(payload)), at))
        }
        return TimerClaim(timers: due.sorted { $0.1 < $1.1 }.map(\.0), nextDue: try await nextTimerDue())
    }

    public func retireTimer(_ key: StoreKey) async throws {
        // Remembered as done, so that it cannot be scheduled again.
        try await database.query(
            """
            INSERT INTO weft_timers (run, name, due_at, payload, state) VALUES (\(key.run), \(key.name), 0, '', 1)
            ON CONFLICT (run, name) DO UPDATE SET state = 1
            """)
    }

    /// How long until the earliest timer not claimed is due.
    private func nextTimerDue() async throws -> Duration? {
        let now = database.now
        let seconds = try await database.scalar(
            """
            SELECT min(greatest(due_at, coalesce(claimed_until, due_at))) - coalesce(\(now)::float8, extract(epoch from clock_timestamp()))
            FROM weft_timers WHERE state = 0
            """, as: Double.self)
        return seconds.map { .nanoseconds(Int64(max(0, $0) * 1e9)) }
    }

    // MARK: Progress of runs

    public func recordProgress(run: String, quietFor: Duration) async throws {
        let now = database.now
        try await database.query(
            """
            INSERT INTO weft_progress AS p (run, quiet_until)
            VALUES (\(run), coalesce(\(now)::float8, extract(epoch from clock_timestamp())) + \(quietFor.seconds))
            ON CONFLICT (run) DO UPDATE SET quiet_until = greatest(p.quiet_until, excluded.quiet_until)
            """)
    }

    public func runsWithoutProgress(for age: Duration, limit: Int) async throws -> [String] {
        let now = database.now
        var runs: [String] = []
        let rows = try await database.query(
            """
            SELECT run FROM weft_progress
            WHERE quiet_until <= coalesce(\(now)::float8, extract(epoch from clock_timestamp())) - \(age.seconds)
            ORDER BY quiet_until, run LIMIT \(limit)
            """)
        for try await run in rows.decode(String.self) { runs.append(run) }
        return runs
    }

    public func forgetProgress(run: String) async throws {
        try await database.query("DELETE FROM weft_progress WHERE run = \(run)")
    }

    public func deleteRun(_ run: String) async throws {
        try await database.query("SELECT weft_delete_run(\(run))")
    }
}
