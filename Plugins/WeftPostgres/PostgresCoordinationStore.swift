import NIOCore
import PostgresNIO
import Weft

/// The coordination store on PostgreSQL (see ``CoordinationStore``): records in `weft_values`,
/// fences in `weft_fences`, sets with their sizes, counters, durable timers and the progress
/// index in tables of their own. Each operation is one statement; compare-and-set and set
/// additions are functions the schema installs, which lock the rows they check. A batch is one
/// call of `weft_apply_batch`, in one transaction; batches made while others are in flight are
/// sent together (group commit), as are batches of reads.
public final class PostgresCoordinationStore: CoordinationStore {
    let database: PostgresDatabaseHandle
    /// The group commit of batches that write.
    private let writes: PostgresBatcher<StoreBatch, StoreBatch.Results>
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

    public func apply(_ batch: StoreBatch) async throws -> StoreBatch.Results {
        for step in batch.steps {
            switch step.operation {
            case .setIfAbsent(let key, _, let fence), .compareAndSet(let key, _, _, let fence): try check(fence, guarding: key)
            default: continue
            }
        }
        guard batch.isReadOnly else { return try await writes.submit(batch) }
        guard batch.steps.allSatisfy(\.conditions.isEmpty) else { return try await applyOneByOne(batch) }
        let keys = batch.steps.map { step -> StoreKey in
            if case .read(let key) = step.operation { return key }
            return StoreKey(run: "", name: "")
        }
        var results = StoreBatch.Results(capacity: keys.count)
        for value in keys.count == 1 ? [try await value(at: keys[0])] : try await reads.submit(keys) { results.append(.read(value)) }
        return results
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

    private func check(_ fence: Fence?, guarding key: StoreKey) throws {
        guard let fence, fence.key.run != key.run else { return }
        throw WeftError(.invalidFence, "A fence guards keys of its own run: \(fence.key) cannot guard \(key)")
    }

    // MARK: Sets and counters

    public func addToSet(_ key: StoreKey, member: String) async throws -> Int {
        let sizes = try await database.scalar(
            "SELECT weft_add_to_sets(\(key.run), \([key.name])::text[], \([member])::text[])", as: [Int64].self)
        return Int(sizes?.first ?? 0)
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
