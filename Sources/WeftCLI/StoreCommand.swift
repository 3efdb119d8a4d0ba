import ArgumentParser
import Foundation
import Weft
import WeftFleet
import Logging
import WeftLMDB
import WeftPostgres

/// `weft store stats|runs <path or URL>`: what a state store holds; `weft store migrate <URL>`:
/// create or upgrade a PostgreSQL store's schema.
public struct StoreCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "store", abstract: "Inspect a state store (an LMDB directory or a postgres:// URL); migrate a PostgreSQL one.",
        subcommands: [Stats.self, Runs.self, Migrate.self])

    /// `weft store migrate <postgres-url>`
    public struct Migrate: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            commandName: "migrate", abstract: "Create or upgrade the Weft schema of a PostgreSQL database.")

        @Argument(help: "The database's postgres:// URL (the password may come from PGPASSWORD).") var url: String

        public init() {}

        public func run() async throws {
            try await StoreCommand.migrate(url: url).emit()
        }
    }

    /// Migrates the database at `url`.
    public static func migrate(url: String) async -> CommandOutput {
        do {
            let configuration = try PostgresConfiguration(url: url)
            var logger = Logger(label: "weft.store")
            logger.logLevel = .warning
            let (from, to) = try await PostgresStateStore.migrate(configuration, logger: logger)
            let what = from == to ? "already at schema version \(to)" : "migrated from schema version \(from) to \(to)"
            return CommandOutput(standardOutput: "\(configuration): \(what)\n")
        } catch let error as PostgresStoreError {
            return .failure(error.description)
        } catch {
            return .failure(error)
        }
    }

    public init() {}

    /// `weft store stats <path>`
    public struct Stats: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            commandName: "stats", abstract: "Sizes, counts, map usage and the oldest unfinished run.")

        @Argument(help: "The store's directory (the one holding data.mdb), or a postgres:// URL.") var path: String

        public init() {}

        public func run() async throws {
            try await StoreCommand.stats(path: path).emit()
        }
    }

    /// `weft store runs <path> [--unfinished] [--limit N]`
    public struct Runs: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            commandName: "runs", abstract: "The runs a store has records of, with their status.")

        @Argument(help: "The store's directory (the one holding data.mdb), or a postgres:// URL.") var path: String
        @Flag(help: "Only runs that have not ended.") var unfinished = false
        @Option(help: "List at most this many runs.") var limit = 100

        public init() {}

        public func run() async throws {
            try await StoreCommand.runs(path: path, unfinishedOnly: unfinished, limit: limit).emit()
        }
    }

    /// Describes the store at `path`.
    public static func stats(path: String, now: Date = Date()) async -> CommandOutput {
        await withStore(path) { store in
            let runs = try await storedRuns(store, limit: .max)
            let unfinished = runs.filter { $0.status == nil }
            var text: String
            switch store {
            case .lmdb(let lmdb):
                let statistics = try lmdb.environment.statistics()
                text = "store: \(path)\n"
                text += "format: \(LMDBEnvironment.formatVersion)\n"
                let usage = Double(statistics.usedBytes) / Double(max(1, statistics.mapSize)) * 100
                text += "map: \(bytes(statistics.mapSize)), \(bytes(statistics.usedBytes)) used (\(String(format: "%.1f", usage))%)\n"
                text += "records: " + statistics.entries.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ") + "\n"
            case .postgres(let postgres):
                text = "store: \(postgres.configuration)\n"
            }
            text += "runs: \(runs.count) (\(unfinished.count) unfinished, \(runs.count - unfinished.count) finished)\n"
            if let oldest = unfinished.min(by: { $0.startedAt < $1.startedAt }) {
                text += "oldest unfinished run: \(oldest.runID) (\(oldest.blueprintID)@\(oldest.blueprintVersion), started "
                    + "\(timestamp(oldest.startedAt)), \(age(since: oldest.startedAt, now: now)) ago)\n"
            } else {
                text += "oldest unfinished run: none\n"
            }
            return CommandOutput(standardOutput: text)
        }
    }

    /// Lists the runs of the store at `path`.
    public static func runs(path: String, unfinishedOnly: Bool, limit: Int) async -> CommandOutput {
        await withStore(path) { store in
            var runs = try await storedRuns(store, limit: unfinishedOnly ? .max : limit)
            if unfinishedOnly { runs = runs.filter { $0.status == nil } }
            runs.sort { $0.startedAt < $1.startedAt }
            runs = Array(runs.prefix(limit))
            var rows = [["RUN", "BLUEPRINT", "STATUS", "STARTED", "ENDED"]]
            for run in runs {
                rows.append([
                    run.runID, "\(run.blueprintID)@\(run.blueprintVersion)", run.status?.rawValue ?? "running",
                    timestamp(run.startedAt), run.finishedAt.map(timestamp) ?? "-",
                ])
            }
            return CommandOutput(standardOutput: table(rows) + "\(runs.count) run\(runs.count == 1 ? "" : "s")\n")
        }
    }

    /// Opens the store at `path` (refusing to create one) and runs `body` on it.
    static func withStore(_ path: String, _ body: (FleetStateStore) async throws -> CommandOutput) async -> CommandOutput {
        if PostgresConfiguration.isURL(path) {
            do {
                var logger = Logger(label: "weft.store")
                logger.logLevel = .warning
                var configuration = try PostgresConfiguration(url: path)
                configuration.migrateOnStart = false
                let store = FleetStateStore.postgres(try await PostgresStateStore.open(configuration, logger: logger))
                do {
                    let output = try await body(store)
                    await store.close()
                    return output
                } catch {
                    await store.close()
                    throw error
                }
            } catch let error as PostgresStoreError {
                return .failure(error.description)
            } catch {
                return .failure(error)
            }
        }
        guard FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent("data.mdb")) else {
            return .failure("no state store at '\(path)' (no data.mdb there)")
        }
        do {
            let store = try LMDBStateStore(LMDBConfiguration(path: path))
            defer { store.close() }
            return try await body(.lmdb(store))
        } catch let error as LMDBError {
            return .failure(error.description)
        } catch {
            return .failure(error)
        }
    }

    /// Every run the store has a start record of (runs whose records are only partly there,
    /// such as a run being deleted, are left out), at most `limit`.
    static func storedRuns(_ store: FleetStateStore, limit: Int) async throws -> [StoredRun] {
        var runs: [StoredRun] = []
        for runID in try await store.runIDs(limit: limit) {
            if let run = try await StoredRun.read(runID, from: store.coordinationStore) { runs.append(run) }
        }
        return runs
    }

    static func bytes(_ count: Int) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(count)
        var unit = 0
        while value >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(count) B" : String(format: "%.1f %@", value, units[unit])
    }

    static func timestamp(_ seconds: Double) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: Date(timeIntervalSince1970: seconds))
    }

    static func age(since seconds: Double, now: Date) -> String {
        let total = max(0, Int(now.timeIntervalSince1970 - seconds))
        if total < 60 { return "\(total)s" }
        if total < 3600 { return "\(total / 60)m\(total % 60)s" }
        if total < 86400 { return "\(total / 3600)h\(total % 3600 / 60)m" }
        return "\(total / 86400)d\(total % 86400 / 3600)h"
    }

    /// `rows` as aligned columns. Cells come from outside (run and node ids, reasons a broker's
    /// headers carry): their control, separator and bidirectional characters are escaped, so
    /// that a cell can neither move the cursor nor forge a line.
    static func table(_ rows: [[String]]) -> String {
        let rows = rows.map { $0.map(PrintableText.escaped) }
        guard let first = rows.first else { return "" }
        let widths = first.indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }.joined(separator: "\n") + "\n"
    }
}
