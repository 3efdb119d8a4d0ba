import NIOCore
import PostgresNIO
import Weft

/// Leases, durable timers, the progress index and deletion: the parts of the coordination store
/// that read the time, which is the database's (`clock_timestamp()`), never a worker's.
extension PostgresCoordinationStore {
    private typealias Handle = PostgresDatabaseHandle

    // MARK: Leases

    public func acquireLease(_ key: StoreKey, owner: String, ttl: Duration) async throws -> Lease? {
        let now = database.now
        let token = try await database.scalar(
            """
            WITH t AS (SELECT coalesce(\(now)::float8, extract(epoch from clock_timestamp())) AS now)
            INSERT INTO weft_leases AS l (run, name, owner, expires_at, token)
            SELECT \(key.run), \(key.name), \(owner), t.now + \(ttl.seconds), 1 FROM t
            ON CONFLICT (run, name) DO UPDATE SET
                owner = excluded.owner, expires_at = excluded.expires_at,
                token = CASE WHEN l.owner = excluded.owner AND l.expires_at > (SELECT now FROM t) THEN l.token ELSE l.token + 1 END
            WHERE l.owner = excluded.owner OR l.expires_at <= (SELECT now FROM t)
            RETURNING token
            """, as: Int64.self)
        return token.map { Lease(key: key, owner: owner, token: UInt64($0)) }
    }

    public func renewLease(_ lease: Lease, ttl: Duration) async throws -> Bool {
        let now = database.now
        let renewed = try await database.scalar(
            """
            WITH t AS (SELECT coalesce(\(now)::float8, extract(epoch from clock_timestamp())) AS now)
            UPDATE weft_leases SET expires_at = (SELECT now FROM t) + \(ttl.seconds)
            WHERE run = \(lease.key.run) AND name = \(lease.key.name) AND owner = \(lease.owner)
                AND token = \(Int64(clamping: lease.token)) AND expires_at > (SELECT now FROM t)
            RETURNING 1
            """, as: Int32.self)
        return renewed != nil
    }

    public func releaseLease(_ lease: Lease) async throws {
        // The token stays, so that the next acquisition gets a higher one.
        try await database.query(
            """
            UPDATE weft_leases SET expires_at = '-Infinity', owner = ''
            WHERE run = \(lease.key.run) AND name = \(lease.key.name) AND owner = \(lease.owner)
                AND token = \(Int64(clamping: lease.token))
            """)
    }

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

    public func claimDueTimers(limit: Int, claimFor: Duration) async throws -> [DueTimer] {
        let now = database.now
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
        return due.sorted { $0.1 < $1.1 }.map(\.0)
    }

    public func completeTimer(_ key: StoreKey) async throws {
        try await database.query("UPDATE weft_timers SET state = 1 WHERE run = \(key.run) AND name = \(key.name)")
    }

    public func cancelTimer(_ key: StoreKey) async throws {
        // Remembered as fired, so that it cannot be scheduled again.
        try await database.query(
            """
            INSERT INTO weft_timers (run, name, due_at, payload, state) VALUES (\(key.run), \(key.name), 0, '', 2)
            ON CONFLICT (run, name) DO UPDATE SET state = 2
            """)
    }

    public func nextTimerDue() async throws -> Duration? {
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

    public func recordStart(run: String, _ key: StoreKey, _ record: [UInt8], quietFor: Duration) async throws
        -> SetIfAbsentOutcome
    {
        let rows = try await database.execute(
            PostgresStatements.RecordStart(
                run: key.run, name: key.name, value: Handle.bytes(record), progressRun: run, now: database.now,
                quietFor: quietFor.seconds))
        guard let (outcome, existing) = rows.first else {
            throw PostgresStoreError(.queryFailed, "weft_set_if_absent returned no row")
        }
        return outcome == 0 ? .stored : .exists(existing.map(Handle.bytes) ?? [])
    }

    public func recordEnd(run: String, marker: StoreKey?, cancelling: StoreKey?, expiry: RunExpiry?) async throws {
        _ = try await database.execute(
            PostgresStatements.RecordEnd(
                run: run, marker: marker.map { ($0.run, $0.name) }, cancelling: cancelling.map { ($0.run, $0.name) },
                expiry: expiry.map { ($0.key.run, $0.key.name, $0.after.seconds, Handle.bytes($0.payload)) },
                now: database.now))
    }

    public func forgetProgress(run: String) async throws {
        try await database.query("DELETE FROM weft_progress WHERE run = \(run)")
    }

    public func deleteRun(_ run: String) async throws {
        try await database.query("SELECT weft_delete_run(\(run))")
    }
}
