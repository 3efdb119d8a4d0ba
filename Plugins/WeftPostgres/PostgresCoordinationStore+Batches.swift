import NIOCore
import PostgresNIO
import Weft

/// The group commits of the coordination store (see ``PostgresBatcher``): set-if-absent calls
/// (a node hop's write, with its set additions and the next job's first read), and reads of
/// several values.
extension PostgresCoordinationStore {
    /// One set-if-absent call.
    struct Write: Sendable {
        var key: StoreKey
        var value: [UInt8]
        var fence: Fence?
        var additions: [SetAddition]
        var reads: [StoreKey]
    }

    /// A write's outcome, its sets' sizes and the values it read (both empty unless stored).
    typealias WriteOutcome = (SetIfAbsentOutcome, [Int], [[UInt8]?])

    private typealias Handle = PostgresDatabaseHandle

    /// Makes `writes` in one statement. They are ordered by key first, so that concurrent
    /// batches lock rows in one order; if the database still reports a deadlock or a
    /// serialization failure (the batch was rolled back), each is made again, alone.
    static func perform(_ writes: [Write], on database: PostgresDatabaseHandle) async -> [Result<WriteOutcome, any Error>] {
        let order = writes.indices.sorted { (writes[$0].key.run, writes[$0].key.name) < (writes[$1].key.run, writes[$1].key.name) }
        var results = [Result<WriteOutcome, any Error>](
            repeating: .failure(PostgresStoreError(.queryFailed, "not written")), count: writes.count)
        do {
            let outcomes = try await run(order.map { writes[$0] }, on: database)
            for (position, index) in order.enumerated() { results[index] = .success(outcomes[position]) }
        } catch let error as PSQLError where writes.count > 1 && isConflict(error) {
            for index in order {
                do {
                    results[index] = .success(try await run([writes[index]], on: database)[0])
                } catch {
                    results[index] = .failure(PostgresStateStore.describe(error, configuration: database.configuration))
                }
            }
        } catch {
            let described = PostgresStateStore.describe(error, configuration: database.configuration)
            results = Array(repeating: .failure(described), count: writes.count)
        }
        return results
    }

    /// Reads each request's keys, all in one statement.
    static func perform(_ reads: [[StoreKey]], on database: PostgresDatabaseHandle) async -> [Result<[[UInt8]?], any Error>] {
        var statement = PostgresStatements.Values(runs: [], names: [])
        for keys in reads {
            for key in keys {
                statement.runs.append(key.run)
                statement.names.append(key.name)
            }
        }
        do {
            var values = [[UInt8]?](repeating: nil, count: statement.runs.count)
            for (index, value) in try await database.execute(statement) where index >= 1 && Int(index) <= values.count {
                values[Int(index) - 1] = value.map(Handle.bytes)
            }
            var start = 0
            return reads.map { keys in
                defer { start += keys.count }
                return .success(Array(values[start..<start + keys.count]))
            }
        } catch {
            return Array(repeating: .failure(error), count: reads.count)
        }
    }

    /// A deadlock or a serialization failure: the transaction was rolled back, and may be retried.
    private static func isConflict(_ error: PSQLError) -> Bool {
        guard let state = error.serverInfo?[.sqlState] else { return false }
        return state == "40P01" || state == "40001"
    }

    /// Makes `writes` in one statement and returns their outcomes, in order.
    private static func run(_ writes: [Write], on database: PostgresDatabaseHandle) async throws -> [WriteOutcome] {
        var statement = PostgresStatements.SetIfAbsentBatch()
        for write in writes {
            statement.runs.append(write.key.run)
            statement.names.append(write.key.name)
            statement.values.append(Handle.bytes(write.value))
            statement.fences.append(write.fence?.key.name ?? "")
            statement.tokens.append(write.fence.map { Handle.column($0.token) } ?? 0)
            statement.setFrom.append(Int32(statement.setNames.count + 1))
            for addition in write.additions {
                statement.setNames.append(addition.key.name)
                statement.setMembers.append(addition.member)
            }
            statement.setTo.append(Int32(statement.setNames.count))
            statement.readFrom.append(Int32(statement.readNames.count + 1))
            for read in write.reads {
                statement.readRuns.append(read.run)
                statement.readNames.append(read.name)
            }
            statement.readTo.append(Int32(statement.readNames.count))
        }
        database.statements.add()
        var outcomes: [WriteOutcome?] = Array(repeating: nil, count: writes.count)
        for try await (index, outcome, existing, sizes, read, value) in try await database.client.execute(statement) {
            let call = Int(index) - 1
            guard writes.indices.contains(call) else {
                throw PostgresStoreError(.queryFailed, "weft_set_if_absent returned a row for no call (\(index))")
            }
            if outcomes[call] == nil {
                switch outcome {
                case 0: outcomes[call] = (.stored, sizes.map { Int($0) }, Array(repeating: nil, count: writes[call].reads.count))
                case 1: outcomes[call] = (.exists(existing.map(Handle.bytes) ?? []), [], [])
                default: outcomes[call] = (.fenced, [], [])
                }
            }
            if outcome == 0, let read, read >= 1, read <= writes[call].reads.count {
                outcomes[call]?.2[Int(read) - 1] = value.map(Handle.bytes)
            }
        }
        return try outcomes.map { outcome in
            guard let outcome else { throw PostgresStoreError(.queryFailed, "weft_set_if_absent returned no row for a call") }
            return outcome
        }
    }
}
