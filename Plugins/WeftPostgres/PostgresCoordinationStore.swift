import NIOCore
import PostgresNIO
import Weft

/// The coordination store on PostgreSQL (see ``CoordinationStore``): records in `weft_values`,
/// fences in `weft_fences`, sets with their sizes, counters, leases, durable timers and the
/// progress index in tables of their own. Each operation is one statement; set-if-absent with
/// its set additions, and compare-and-set, are functions the schema installs, which lock the
/// fence row they check.
public final class PostgresCoordinationStore: CoordinationStore {
    let database: PostgresDatabaseHandle
    /// The group commit of set-if-absent calls.
    private let writes: PostgresBatcher<Write, WriteOutcome>
    /// The group commit of reads of several values.
    private let reads: PostgresBatcher<[StoreKey], [[UInt8]?]>

    init(database: PostgresDatabaseHandle) {
        self.database = database
        writes = PostgresBatcher(concurrency: database.configuration.batches) { writes in
            await Self.perform(writes, on: database)
        }
        reads = PostgresBatcher(concurrency: database.configuration.batches) { reads in
            await Self.perform(reads, on: database)
        }
    }

    private typealias Handle = PostgresDatabaseHandle

    // MARK: Values

    public func value(at key: StoreKey) async throws -> [UInt8]? {
        try await database.execute(PostgresStatements.Value(run: key.run, name: key.name)).first.map(Handle.bytes)
    }

    public func values(at keys: [StoreKey]) async throws -> [[UInt8]?] {
        guard keys.count > 1 else { return keys.isEmpty ? [] : [try await value(at: keys[0])] }
        return try await reads.submit(keys)
    }

    public func setIfAbsent(_ key: StoreKey, _ value: [UInt8], fence: Fence?) async throws -> SetIfAbsentOutcome {
        try await setIfAbsent(key, value, fence: fence, thenAddToSets: [], thenRead: []).0
    }

    public func setIfAbsent(_ key: StoreKey, _ value: [UInt8], fence: Fence?, thenAddToSets additions: [SetAddition])
        async throws -> (SetIfAbsentOutcome, [Int])
    {
        let (outcome, sizes, _) = try await setIfAbsent(key, value, fence: fence, thenAddToSets: additions, thenRead: [])
        return (outcome, sizes)
    }

    public func setIfAbsent(
        _ key: StoreKey, _ value: [UInt8], fence: Fence?, thenAddToSets additions: [SetAddition], thenRead reads: [StoreKey]
    ) async throws -> (SetIfAbsentOutcome, [Int], [[UInt8]?]) {
        try check(fence, guarding: key)
        guard additions.allSatisfy({ $0.key.run == key.run }) else {
            // Sets of other runs: not in the same call (the function adds to its own run's).
            let outcome = try await setIfAbsent(key, value, fence: fence)
            guard outcome == .stored else { return (outcome, [], []) }
            let sizes = try await addToSets(additions)
            return (outcome, sizes, reads.isEmpty ? [] : try await values(at: reads))
        }
        return try await writes.submit(Write(key: key, value: value, fence: fence, additions: additions, reads: reads))
    }

    public func compareAndSet(_ key: StoreKey, expected: [UInt8]?, new: [UInt8], fence: Fence?) async throws
        -> CompareAndSetOutcome
    {
        try check(fence, guarding: key)
        let rows = try await database.query(
            """
            SELECT outcome, current FROM weft_compare_and_set(\(key.run), \(key.name), \(expected.map(Handle.bytes)),
                \(Handle.bytes(new)), \(fence?.key.name), \(fence.map { Handle.column($0.token) }))
            """)
        for try await (outcome, current) in rows.decode((Int32, ByteBuffer?).self) {
            switch outcome {
            case 0: return .swapped
            case 1: return .mismatch(current.map(Handle.bytes))
            default: return .fenced
            }
        }
        throw PostgresStoreError(.queryFailed, "weft_compare_and_set returned no row")
    }

    public func removeValue(at key: StoreKey) async throws {
        try await database.query("DELETE FROM weft_values WHERE run = \(key.run) AND name = \(key.name)")
    }

    private func check(_ fence: Fence?, guarding key: StoreKey) throws {
        guard let fence, fence.key.run != key.run else { return }
        throw WeftError(.invalidFence, "A fence guards keys of its own run: \(fence.key) cannot guard \(key)")
    }

    // MARK: Sets and counters

    public func addToSet(_ key: StoreKey, member: String) async throws -> Int {
        try await addToSets([SetAddition(key: key, member: member)])[0]
    }

    public func addToSets(_ additions: [SetAddition]) async throws -> [Int] {
        guard !additions.isEmpty else { return [] }
        var sizes: [Int] = []
        sizes.reserveCapacity(additions.count)
        // One call per run (additions almost always share one).
        var start = 0
        while start < additions.count {
            let run = additions[start].key.run
            var end = start
            while end < additions.count && additions[end].key.run == run { end += 1 }
            let slice = additions[start..<end]
            let result = try await database.scalar(
                "SELECT weft_add_to_sets(\(run), \(slice.map(\.key.name))::text[], \(slice.map(\.member))::text[])",
                as: [Int64].self)
            sizes.append(contentsOf: (result ?? []).map { Int($0) })
            start = end
        }
        return sizes
    }

    public func members(of key: StoreKey) async throws -> [String] {
        var members: [String] = []
        let rows = try await database.query(
            "SELECT member FROM weft_sets WHERE run = \(key.run) AND name = \(key.name) ORDER BY member")
        for try await member in rows.decode(String.self) { members.append(member) }
        return members
    }

    /// The runs that have a start record, at most `limit`, by id: for `weft runs`.
    public func runIDs(limit: Int = .max) async throws -> [String] {
        var runs: [String] = []
        let rows = try await database.query(
            "SELECT run FROM weft_values WHERE name = 'm' ORDER BY run LIMIT \(Int64(clamping: limit))")
        for try await run in rows.decode(String.self) { runs.append(run) }
        return runs
    }

    /// How many runs are in the progress index (have not ended): for `weft top`.
    public func unfinishedRunCount() async throws -> Int {
        Int(try await database.scalar("SELECT count(*) FROM weft_progress", as: Int64.self) ?? 0)
    }

    public func increment(_ key: StoreKey, by delta: Int64) async throws -> Int64 {
        try await database.scalar(
            """
            INSERT INTO weft_counters AS c (run, name, value) VALUES (\(key.run), \(key.name), \(delta))
            ON CONFLICT (run, name) DO UPDATE SET value = c.value + excluded.value RETURNING value
            """, as: Int64.self) ?? delta
    }
}
