import CLMDB

/// A named database inside the environment.
struct LMDBDatabase: Sendable, Hashable {
    let name: String
    let handle: MDB_dbi
}

/// A transaction, valid only inside the closure it was given to (never across a suspension
/// point). Reads in a write transaction see its own writes.
struct LMDBTransaction {
    let pointer: OpaquePointer

    /// The value at `key`, copied out.
    func get(_ database: LMDBDatabase, _ key: [UInt8]) throws(LMDBError) -> [UInt8]? {
        var value = MDB_val()
        let status = key.withUnsafeBytes { keyBytes in
            var keyValue = MDB_val(mv_size: keyBytes.count, mv_data: UnsafeMutableRawPointer(mutating: keyBytes.baseAddress))
            return mdb_get(pointer, database.handle, &keyValue, &value)
        }
        if status == MDB_NOTFOUND { return nil }
        guard status == 0 else { throw .status(status, "reading \(database.name)") }
        return Self.bytes(value)
    }

    /// Stores `value` at `key`; with `onlyIfAbsent`, leaves an existing value and returns false.
    @discardableResult
    func put(_ database: LMDBDatabase, _ key: [UInt8], _ value: [UInt8], onlyIfAbsent: Bool = false) throws(LMDBError) -> Bool {
        let status = key.withUnsafeBytes { keyBytes in
            value.withUnsafeBytes { valueBytes in
                var keyValue = MDB_val(mv_size: keyBytes.count, mv_data: UnsafeMutableRawPointer(mutating: keyBytes.baseAddress))
                var dataValue = MDB_val(mv_size: valueBytes.count, mv_data: UnsafeMutableRawPointer(mutating: valueBytes.baseAddress))
                return mdb_put(pointer, database.handle, &keyValue, &dataValue, onlyIfAbsent ? UInt32(MDB_NOOVERWRITE) : 0)
            }
        }
        if status == MDB_KEYEXIST { return false }
        guard status == 0 else { throw .status(status, "writing \(database.name)") }
        return true
    }

    /// Removes `key`; returns whether it was there.
    @discardableResult
    func delete(_ database: LMDBDatabase, _ key: [UInt8]) throws(LMDBError) -> Bool {
        let status = key.withUnsafeBytes { keyBytes in
            var keyValue = MDB_val(mv_size: keyBytes.count, mv_data: UnsafeMutableRawPointer(mutating: keyBytes.baseAddress))
            return mdb_del(pointer, database.handle, &keyValue, nil)
        }
        if status == MDB_NOTFOUND { return false }
        guard status == 0 else { throw .status(status, "deleting from \(database.name)") }
        return true
    }

    /// Calls `body` with every key (and value) starting with `prefix`, in key order from `start`
    /// (default: the prefix), until it returns false.
    func scan(
        _ database: LMDBDatabase, prefix: [UInt8], from start: [UInt8]? = nil, _ body: ([UInt8], [UInt8]) throws -> Bool
    ) throws {
        let start = start ?? prefix
        var cursor: OpaquePointer?
        let opened = mdb_cursor_open(pointer, database.handle, &cursor)
        guard opened == 0, let cursor else { throw LMDBError.status(opened, "scanning \(database.name)") }
        defer { mdb_cursor_close(cursor) }
        var key = MDB_val()
        var value = MDB_val()
        // LMDB refuses an empty key: an empty prefix starts at the first entry.
        var status =
            start.isEmpty
            ? mdb_cursor_get(cursor, &key, &value, MDB_FIRST)
            : start.withUnsafeBytes { prefixBytes in
                key = MDB_val(mv_size: prefixBytes.count, mv_data: UnsafeMutableRawPointer(mutating: prefixBytes.baseAddress))
                return mdb_cursor_get(cursor, &key, &value, MDB_SET_RANGE)
            }
        while status == 0 {
            let keyBytes = Self.bytes(key)
            guard keyBytes.starts(with: prefix) else { return }
            guard try body(keyBytes, Self.bytes(value)) else { return }
            status = mdb_cursor_get(cursor, &key, &value, MDB_NEXT)
        }
        if status != MDB_NOTFOUND { throw LMDBError.status(status, "scanning \(database.name)") }
    }

    /// The first key at or after `position` (the first key of all when it is empty).
    func firstKey(_ database: LMDBDatabase, atOrAfter position: [UInt8]) throws -> [UInt8]? {
        var found: [UInt8]?
        try scan(database, prefix: [], from: position) { key, _ in
            found = key
            return false
        }
        return found
    }

    static func bytes(_ value: MDB_val) -> [UInt8] {
        guard value.mv_size > 0, let data = value.mv_data else { return [] }
        return Array(UnsafeRawBufferPointer(start: data, count: value.mv_size))
    }
}
