import NIOCore
import PostgresNIO
import Weft

/// The context store on PostgreSQL (see ``ContextStore``): entries in `weft_context`, values in
/// Weft's binary JSON form; a patch is one call of `weft_apply_context`, applied whole or not
/// at all, at most once per origin (`weft_context_origins`).
public final class PostgresContextStore: ContextStore {
    let database: PostgresDatabaseHandle

    init(database: PostgresDatabaseHandle) {
        self.database = database
    }

    public func value(forKey key: String, run: String) async throws -> JSONValue? {
        guard let buffer = try await database.scalar(
            "SELECT value FROM weft_context WHERE run = \(run) AND key = \(key)", as: ByteBuffer.self)
        else { return nil }
        return try JSONValue(binaryEncoding: PostgresDatabaseHandle.bytes(buffer))
    }

    public func snapshot(run: String) async throws -> [String: JSONValue] {
        var entries: [String: JSONValue] = [:]
        let rows = try await database.query("SELECT key, value FROM weft_context WHERE run = \(run)")
        for try await (key, value) in rows.decode((String, ByteBuffer).self) {
            entries[key] = try JSONValue(binaryEncoding: PostgresDatabaseHandle.bytes(value))
        }
        return entries
    }

    @discardableResult
    public func apply(_ patch: ContextPatch, run: String, origin: String?) async throws -> Bool {
        // The patch's final word on each key: a value, or a removal.
        var finals: [String: JSONValue?] = [:]
        var order: [String] = []
        for change in patch.changes {
            if finals[change.key] == nil { order.append(change.key) }
            finals[change.key] = .some(change.value)
        }
        var keys: [String] = []
        var values: [ByteBuffer] = []
        var deleted: [String] = []
        for key in order {
            if let value = finals[key] ?? nil {
                keys.append(key)
                values.append(PostgresDatabaseHandle.bytes(value.binaryEncoding))
            } else {
                deleted.append(key)
            }
        }
        return try await database.scalar(
            "SELECT weft_apply_context(\(run), \(origin), \(keys)::text[], \(values)::bytea[], \(deleted)::text[])",
            as: Bool.self) ?? false
    }

    public func deleteRun(_ run: String) async throws {
        try await database.query("DELETE FROM weft_context WHERE run = \(run)")
        try await database.query("DELETE FROM weft_context_origins WHERE run = \(run)")
    }
}
