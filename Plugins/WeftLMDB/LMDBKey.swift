import Weft

/// Compact binary keys and the fixed-width numbers inside records.
///
/// Every key of a run starts with the run id, length-prefixed (a LEB128 varint), so one run's
/// keys share a prefix that no other run's keys start with, and deleting a run is one range
/// scan. Numbers are big-endian so that keys that start with one sort by it (timers by due
/// time, runs by last progress).
enum LMDBKey {
    /// The run id, length-prefixed, then `rest`.
    static func run(_ run: String, then rest: String = "") -> [UInt8] {
        var key: [UInt8] = []
        key.reserveCapacity(run.utf8.count + rest.utf8.count + 2)
        appendRun(run, to: &key)
        key.append(contentsOf: rest.utf8)
        return key
    }

    /// Appends `run`, length-prefixed.
    static func appendRun(_ run: String, to key: inout [UInt8]) {
        appendVarint(UInt64(run.utf8.count), to: &key)
        key.append(contentsOf: run.utf8)
    }

    static func appendVarint(_ value: UInt64, to bytes: inout [UInt8]) {
        var value = value
        repeat {
            let low = UInt8(value & 0x7F)
            value >>= 7
            bytes.append(value == 0 ? low : low | 0x80)
        } while value != 0
    }

    /// Reads a varint at `offset`, advancing it; `nil` when the bytes end first.
    static func readVarint(_ bytes: [UInt8], at offset: inout Int) -> UInt64? {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while offset < bytes.count, shift < 64 {
            let byte = bytes[offset]
            offset += 1
            value |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return value }
            shift += 7
        }
        return nil
    }

    /// Splits a key made by ``run(_:then:)`` (from `offset` on) into the run and the rest.
    static func split(_ bytes: [UInt8], from offset: Int = 0) -> (run: String, rest: ArraySlice<UInt8>)? {
        var offset = offset
        guard let length = readVarint(bytes, at: &offset), offset + Int(length) <= bytes.count else { return nil }
        let end = offset + Int(length)
        return (String(decoding: bytes[offset..<end], as: UTF8.self), bytes[end...])
    }

    static func appendUInt64(_ value: UInt64, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    /// The big-endian number at `offset`, or `nil` when the bytes are too short.
    static func readUInt64(_ bytes: some Collection<UInt8>, at offset: Int = 0) -> UInt64? {
        guard bytes.count >= offset + 8 else { return nil }
        var value: UInt64 = 0
        for byte in bytes.dropFirst(offset).prefix(8) { value = value << 8 | UInt64(byte) }
        return value
    }

    static func uint64(_ value: UInt64) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(8)
        appendUInt64(value, to: &bytes)
        return bytes
    }
}

/// The kinds of a run's records in the `coordination` database: the byte after the run prefix.
enum LMDBRecordKind: UInt8 {
    /// `run 0x01 name` → the value, as given.
    case value = 1
    /// `run 0x02 varint(name) name member` → empty: one entry per member of a set.
    case member = 2
    /// `run 0x03 name` → u64: the set's size.
    case setSize = 3
    /// `run 0x04 name` → u64 (two's complement): a counter.
    case counter = 4
    /// `run 0x05 name` → u64: the highest fencing token seen for the guarded key.
    case fence = 5
    /// `run 0x06 name` → a lease (written by earlier versions; no longer used).
    case lease = 6
    /// `run 0x07 name` → u8 state (0 scheduled, 1 fired or cancelled), u64 due, payload: a timer.
    case timer = 7
    /// `run 0x08` → u64: when the run counts as stalled (see the progress index).
    case progress = 8

    /// The key of `key`'s record of this kind.
    func key(_ key: StoreKey) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(key.run.utf8.count + key.name.utf8.count + 3)
        LMDBKey.appendRun(key.run, to: &bytes)
        bytes.append(rawValue)
        bytes.append(contentsOf: key.name.utf8)
        return bytes
    }

    /// The key of the run's record of this kind (a record of the run itself).
    func key(run: String) -> [UInt8] {
        var bytes: [UInt8] = []
        LMDBKey.appendRun(run, to: &bytes)
        bytes.append(rawValue)
        return bytes
    }

    /// The prefix of the members of the set at `key` (followed by each member).
    static func memberPrefix(_ key: StoreKey) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(key.run.utf8.count + key.name.utf8.count + 4)
        LMDBKey.appendRun(key.run, to: &bytes)
        bytes.append(LMDBRecordKind.member.rawValue)
        LMDBKey.appendVarint(UInt64(key.name.utf8.count), to: &bytes)
        bytes.append(contentsOf: key.name.utf8)
        return bytes
    }
}
