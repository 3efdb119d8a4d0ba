import Weft

extension LMDBCoordinationStore {
    /// A lease record: `token`, `expires` (store time), `owner`.
    struct LeaseRecord {
        var token: UInt64
        var expires: UInt64
        var owner: String

        init(token: UInt64, expires: UInt64, owner: String) {
            self.token = token
            self.expires = expires
            self.owner = owner
        }

        init(_ bytes: [UInt8]) throws {
            guard let token = LMDBKey.readUInt64(bytes), let expires = LMDBKey.readUInt64(bytes, at: 8) else {
                throw LMDBError.corrupt("a lease")
            }
            self.init(token: token, expires: expires, owner: String(decoding: bytes.dropFirst(16), as: UTF8.self))
        }

        var encoded: [UInt8] {
            var bytes: [UInt8] = []
            bytes.reserveCapacity(16 + owner.utf8.count)
            LMDBKey.appendUInt64(token, to: &bytes)
            LMDBKey.appendUInt64(expires, to: &bytes)
            bytes.append(contentsOf: owner.utf8)
            return bytes
        }
    }

    public func acquireLease(_ key: StoreKey, owner: String, ttl: Duration) async throws -> Lease? {
        let records = self.records
        let recordKey = LMDBRecordKind.lease.key(key)
        let ttl = Self.nanoseconds(ttl)
        let now = self.now
        return try await environment.write { transaction -> Lease? in
            let time = now()
            let current = try transaction.get(records, recordKey).map(LeaseRecord.init)
            if let current, current.owner != owner, current.expires > time { return nil }
            let token = current.map { $0.owner == owner && $0.expires > time ? $0.token : $0.token + 1 } ?? 1
            try transaction.put(records, recordKey, LeaseRecord(token: token, expires: time &+ ttl, owner: owner).encoded)
            return Lease(key: key, owner: owner, token: token)
        }
    }

    public func renewLease(_ lease: Lease, ttl: Duration) async throws -> Bool {
        let records = self.records
        let recordKey = LMDBRecordKind.lease.key(lease.key)
        let ttl = Self.nanoseconds(ttl)
        let now = self.now
        return try await environment.write { transaction in
            let time = now()
            guard var current = try transaction.get(records, recordKey).map(LeaseRecord.init), current.owner == lease.owner,
                current.token == lease.token, current.expires > time
            else { return false }
            current.expires = time &+ ttl
            try transaction.put(records, recordKey, current.encoded)
            return true
        }
    }

    public func releaseLease(_ lease: Lease) async throws {
        let records = self.records
        let recordKey = LMDBRecordKind.lease.key(lease.key)
        try await environment.write { transaction in
            guard var current = try transaction.get(records, recordKey).map(LeaseRecord.init), current.owner == lease.owner,
                current.token == lease.token
            else { return }
            // Keep the token, so that the next acquisition gets a higher one.
            current.expires = 0
            current.owner = ""
            try transaction.put(records, recordKey, current.encoded)
        }
    }
}
