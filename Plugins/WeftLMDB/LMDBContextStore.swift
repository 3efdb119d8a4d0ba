import Weft

/// A ``ContextStore`` in an LMDB environment, shared by every process of the machine that opens
/// the same directory.
///
/// Layout: database `context` maps `run key` (the run id length-prefixed, then the key's UTF-8)
/// to the value in Weft's binary JSON form; database `context.origins` holds the origins whose
/// patch was applied (`run origin`, empty value). A patch is one group-committed write: applied
/// whole or not at all, at most once per origin.
public final class LMDBContextStore: ContextStore {
    /// The databases the store uses; give them when opening the environment.
    public static let databases = ["context", "context.origins"]

    private let environment: LMDBEnvironment
    private let entries: LMDBDatabase
    private let origins: LMDBDatabase

    /// A store in `environment`, which must have been opened with ``databases``.
    public init(environment: LMDBEnvironment) {
        self.environment = environment
        entries = environment.database("context")
        origins = environment.database("context.origins")
    }

    public func value(forKey key: String, run: String) async throws -> JSONValue? {
        let entries = self.entries
        guard let bytes = try environment.read({ try $0.get(entries, LMDBKey.run(run, then: key)) }) else { return nil }
        return try JSONValue(binaryEncoding: bytes)
    }

    public func snapshot(run: String) async throws -> [String: JSONValue] {
        let entries = self.entries
        let prefix = LMDBKey.run(run)
        let pairs = try environment.read { transaction in
            var pairs: [([UInt8], [UInt8])] = []
            try transaction.scan(entries, prefix: prefix) { key, value in
                pairs.append((Array(key.dropFirst(prefix.count)), value))
                return true
            }
            return pairs
        }
        var snapshot: [String: JSONValue] = [:]
        for (key, value) in pairs { snapshot[String(decoding: key, as: UTF8.self)] = try JSONValue(binaryEncoding: value) }
        return snapshot
    }

    @discardableResult
    public func apply(_ patch: ContextPatch, run: String, origin: String?) async throws -> Bool {
        let (entries, origins) = (self.entries, self.origins)
        let changes = patch.changes.map { (LMDBKey.run(run, then: $0.key), $0.value?.binaryEncoding) }
        let originKey = origin.map { LMDBKey.run(run, then: $0) }
        return try await environment.write { transaction in
            if let originKey {
                guard try transaction.put(origins, originKey, [], onlyIfAbsent: true) else { return false }
            }
            for (key, value) in changes {
                if let value { try transaction.put(entries, key, value) } else { try transaction.delete(entries, key) }
            }
            return true
        }
    }

    public func deleteRun(_ run: String) async throws {
        let (entries, origins) = (self.entries, self.origins)
        let prefix = LMDBKey.run(run)
        try await environment.write { transaction in
            for database in [entries, origins] {
                var keys: [[UInt8]] = []
                try transaction.scan(database, prefix: prefix) { key, _ in
                    keys.append(key)
                    return true
                }
                for key in keys { try transaction.delete(database, key) }
            }
        }
    }
}
