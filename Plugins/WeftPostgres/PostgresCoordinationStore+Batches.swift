import NIOCore
import PostgresNIO
import Weft

/// The group commits of the coordination store (see ``PostgresBatcher``): batches that write
/// (a node hop's record with its set additions and the next job's first read, a run's start or
/// end), and reads of several values.
extension PostgresCoordinationStore {
    private typealias Handle = PostgresDatabaseHandle

    /// Applies `batches` in one statement. They are ordered by their first key, so that
    /// concurrent groups lock rows in one order; if the server still reports an error (a
    /// deadlock, a serialization failure, a value it refuses: the whole group was rolled back),
    /// each is applied again, alone, so that one bad batch fails alone.
    static func perform(_ batches: [StoreBatch], on database: PostgresDatabaseHandle) async -> [Result<StoreBatch.Results, any Error>] {
        let order = batches.indices.sorted { firstKey(batches[$0]) < firstKey(batches[$1]) }
        var results = [Result<StoreBatch.Results, any Error>](
            repeating: .failure(PostgresStoreError(.queryFailed, "not written")), count: batches.count)
        do {
            let outcomes = try await run(order.map { batches[$0] }, on: database)
            for (position, index) in order.enumerated() { results[index] = .success(outcomes[position]) }
        } catch let error as PSQLError where batches.count > 1 && error.serverInfo != nil && !Task.isCancelled {
            // The server refused the group (a deadlock, a serialization failure, a value it
            // refuses in one batch): each batch again, alone. A cancelled caller or a lost
            // connection fails the group as it is, with nothing to retry.
            for index in order {
                do {
                    results[index] = .success(try await run([batches[index]], on: database)[0])
                } catch {
                    results[index] = .failure(PostgresStateStore.describe(error, configuration: database.configuration))
                }
            }
        } catch {
            // Every batch of the group gets the failure: the batcher answers each request.
            let described = PostgresStateStore.describe(error, configuration: database.configuration)
            results = Array(repeating: .failure(described), count: batches.count)
        }
        return results
    }

    private static func firstKey(_ batch: StoreBatch) -> (String, String) {
        switch batch.steps.first?.operation {
        case .read(let key), .setIfAbsent(let key, _, _), .compareAndSet(let key, _, _, _), .addToSet(let key, _),
            .increment(let key, _), .scheduleTimer(let key, _, _), .retireTimer(let key):
            (key.run, key.name)
        case .recordProgress(let run, _), .forgetProgress(let run):
            (run, "")
        case nil:
            ("", "")
        }
    }

    /// Applies `batches` in one call of `weft_apply_batch` and returns their results, in order.
    private static func run(_ batches: [StoreBatch], on database: PostgresDatabaseHandle) async throws -> [StoreBatch.Results] {
        var statement = PostgresStatements.ApplyBatch(now: database.now)
        var starts: [Int] = []
        for batch in batches {
            let offset = statement.kinds.count
            starts.append(offset)
            for step in batch.steps {
                var (kind, key, value, expected, fence) = (Int32(0), StoreKey(run: "", name: ""), [UInt8](), [UInt8](), Fence?.none)
                var (member, number, seconds) = ("", Int64(0), 0.0)
                switch step.operation {
                case .read(let read): key = read
                case .setIfAbsent(let target, let stored, let guarding): (kind, key, value, fence) = (1, target, stored, guarding)
                case .compareAndSet(let target, let old, let new, let guarding):
                    (kind, key, value, fence) = (old == nil ? 3 : 2, target, new, guarding)
                    expected = old ?? []
                case .addToSet(let set, let added): (kind, key, member) = (4, set, added)
                case .increment(let counter, let delta): (kind, key, number) = (5, counter, delta)
                case .scheduleTimer(let timer, let delay, let payload): (kind, key, value, seconds) = (6, timer, payload, delay.seconds)
                case .retireTimer(let timer): (kind, key) = (7, timer)
                case .recordProgress(let run, let quietFor): (kind, key, seconds) = (8, StoreKey(run: run, name: ""), quietFor.seconds)
                case .forgetProgress(let run): (kind, key) = (9, StoreKey(run: run, name: ""))
                }
                statement.kinds.append(kind)
                statement.runs.append(key.run)
                statement.names.append(key.name)
                statement.values.append(Handle.bytes(value))
                statement.expected.append(Handle.bytes(expected))
                statement.fences.append(fence?.key.name ?? "")
                statement.tokens.append(fence.map { Handle.column($0.token) } ?? 0)
                statement.members.append(member)
                statement.numbers.append(number)
                statement.seconds.append(seconds)
                for condition in step.conditions {
                    let (conditionKind, size): (Int32, Int64)
                    switch condition {
                    case .stored: (conditionKind, size) = (0, 0)
                    case .swapped: (conditionKind, size) = (1, 0)
                    case .size(_, let equals): (conditionKind, size) = (2, Int64(equals))
                    }
                    statement.conditionKinds.append(conditionKind)
                    // 1-based, in the whole statement; a step out of the batch names none (0).
                    let inBatch = condition.step >= 0 && condition.step < batch.steps.count
                    statement.conditionSteps.append(inBatch ? Int32(offset + condition.step + 1) : 0)
                    statement.conditionSizes.append(size)
                }
                statement.conditionEnds.append(Int32(statement.conditionKinds.count))
            }
        }
        database.statements.add()
        var outcomes = [StoreBatch.Results.Outcome?](repeating: nil, count: statement.kinds.count)
        for try await (step, outcome, value, number) in try await database.client.execute(statement) {
            let index = Int(step) - 1
            guard outcomes.indices.contains(index) else {
                throw PostgresStoreError(.queryFailed, "weft_apply_batch returned a row for no step (\(step))")
            }
            outcomes[index] = try Self.outcome(kind: statement.kinds[index], outcome, value.map(Handle.bytes), number)
        }
        return try batches.enumerated().map { position, batch in
            var results = StoreBatch.Results(capacity: batch.steps.count)
            for index in starts[position]..<starts[position] + batch.steps.count {
                guard let outcome = outcomes[index] else {
                    throw PostgresStoreError(.queryFailed, "weft_apply_batch returned no row for a step")
                }
                results.append(outcome)
            }
            return results
        }
    }

    /// A step's outcome from its row.
    private static func outcome(kind: Int32, _ outcome: Int32, _ value: [UInt8]?, _ number: Int64?) throws
        -> StoreBatch.Results.Outcome
    {
        if outcome == -1 { return .notAttempted }
        switch kind {
        case 0: return .read(value)
        case 1: return .set(outcome == 0 ? .stored : outcome == 1 ? .exists(value ?? []) : .fenced)
        case 2, 3: return .swap(outcome == 0 ? .swapped : outcome == 1 ? .mismatch(value) : .fenced)
        case 4: return .size(Int(clamping: number ?? 0))
        case 5: return .count(number ?? 0)
        case 6: return .scheduled((number ?? 0) > 0)
        default: return .done
        }
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
}
