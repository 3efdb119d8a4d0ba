/// Reads what ``BinaryWriter`` wrote, defensively: every length is checked against the bytes
/// left and nesting is bounded, so hostile input yields a ``WeftError`` (code
/// ``WeftError/Code/malformedMessage``), never a crash or an unbounded allocation.
struct BinaryReader {
    /// The deepest nesting of arrays and objects accepted.
    static let maxDepth = 256

    private let bytes: [UInt8]
    private(set) var offset: Int
    /// What is being read, for error messages.
    private let subject: String

    init(_ bytes: [UInt8], offset: Int = 0, subject: String) {
        self.bytes = bytes
        self.offset = offset
        self.subject = subject
    }

    var isAtEnd: Bool { offset >= bytes.count }
    var remaining: Int { bytes.count - offset }

    func malformed(_ detail: String) -> WeftError {
        WeftError(.malformedMessage, "Malformed \(subject): \(detail) at byte \(offset)")
    }

    mutating func byte() throws(WeftError) -> UInt8 {
        guard offset < bytes.count else { throw malformed("truncated") }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func bool() throws(WeftError) -> Bool {
        switch try byte() {
        case 0: return false
        case 1: return true
        default: throw malformed("expected a flag")
        }
    }

    mutating func varint() throws(WeftError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let next = try byte()
            guard shift < 64, shift < 63 || next <= 1 else { throw malformed("varint too long") }
            result |= UInt64(next & 0x7F) << shift
            if next < 0x80 { return result }
            shift += 7
        }
    }

    /// A count or length, which can never exceed the bytes left (each item takes at least one).
    mutating func count() throws(WeftError) -> Int {
        let value = try varint()
        guard value <= UInt64(remaining) else { throw malformed("length \(value) exceeds the \(remaining) bytes left") }
        return Int(value)
    }

    mutating func int() throws(WeftError) -> Int {
        let value = try varint()
        guard value <= UInt64(Int.max) else { throw malformed("integer out of range") }
        return Int(value)
    }

    mutating func signed() throws(WeftError) -> Int64 {
        let raw = try varint()
        return Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
    }

    mutating func string() throws(WeftError) -> String {
        let length = try count()
        let start = offset
        offset += length
        // Through a contiguous buffer, and ASCII (ids, keys: nearly everything) without the
        // generic validation, which is several times slower.
        let text = bytes.withUnsafeBufferPointer { buffer -> String? in
            let slice = UnsafeBufferPointer(rebasing: buffer[start..<start + length])
            if slice.allSatisfy({ $0 < 0x80 }) { return String(decoding: slice, as: UTF8.self) }
            return String(validating: slice, as: UTF8.self)
        }
        guard let text else { throw malformed("invalid UTF-8") }
        return text
    }

    mutating func optionalString() throws(WeftError) -> String? {
        try bool() ? try string() : nil
    }

    mutating func raw() throws(WeftError) -> [UInt8] {
        let length = try count()
        defer { offset += length }
        return Array(bytes[offset..<offset + length])
    }

    mutating func json(depth: Int = 0) throws(WeftError) -> JSONValue {
        switch try byte() {
        case 0: return .null
        case 1: return .bool(false)
        case 2: return .bool(true)
        case 3: return .int(try signed())
        case 4:
            guard remaining >= 8 else { throw malformed("truncated number") }
            var bits: UInt64 = 0
            for index in 0..<8 { bits |= UInt64(bytes[offset + index]) << UInt64(index * 8) }
            offset += 8
            // JSON has no NaN or infinity: a value that holds one could not be shown or stored.
            let number = Double(bitPattern: bits)
            guard number.isFinite else { throw malformed("a number that is not finite") }
            return .double(number)
        case 5: return .string(try string())
        case 6:
            guard depth < Self.maxDepth else { throw malformed("nesting deeper than \(Self.maxDepth)") }
            let count = try count()
            var elements: [JSONValue] = []
            elements.reserveCapacity(count)
            for _ in 0..<count { elements.append(try json(depth: depth + 1)) }
            return .array(elements)
        case 7:
            guard depth < Self.maxDepth else { throw malformed("nesting deeper than \(Self.maxDepth)") }
            let count = try count()
            var members: [String: JSONValue] = [:]
            members.reserveCapacity(count)
            for _ in 0..<count {
                let key = try string()
                members[key] = try json(depth: depth + 1)
            }
            return .object(members)
        case let tag:
            throw malformed("unknown value tag \(tag)")
        }
    }

    /// Moves past a JSON value without building it.
    mutating func skipJSON(depth: Int = 0) throws(WeftError) {
        switch try byte() {
        case 0, 1, 2: return
        case 3: _ = try varint()
        case 4:
            guard remaining >= 8 else { throw malformed("truncated number") }
            offset += 8
        case 5: try skipBytes()
        case 6:
            guard depth < Self.maxDepth else { throw malformed("nesting deeper than \(Self.maxDepth)") }
            for _ in 0..<(try count()) { try skipJSON(depth: depth + 1) }
        case 7:
            guard depth < Self.maxDepth else { throw malformed("nesting deeper than \(Self.maxDepth)") }
            for _ in 0..<(try count()) {
                try skipBytes()
                try skipJSON(depth: depth + 1)
            }
        case let tag:
            throw malformed("unknown value tag \(tag)")
        }
    }

    /// Moves past a length-prefixed run of bytes (a string's).
    mutating func skipBytes() throws(WeftError) {
        offset += try count()
    }

    mutating func optionalJSON() throws(WeftError) -> JSONValue? {
        // Not a ternary: `nil` would become `JSONValue.null`, which is nil-literal expressible.
        guard try bool() else { return Optional<JSONValue>.none }
        return try json()
    }
}
