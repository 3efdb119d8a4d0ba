/// Appends Weft's compact binary encoding to a byte array: unsigned LEB128 varints,
/// length-prefixed UTF-8 strings, and tagged ``JSONValue``s.
struct BinaryWriter {
    private(set) var bytes: [UInt8]

    init(capacity: Int = 64) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    mutating func byte(_ value: UInt8) { bytes.append(value) }

    mutating func varint(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }

    mutating func varint(_ value: Int) { varint(UInt64(truncatingIfNeeded: value)) }

    mutating func signed(_ value: Int64) {
        varint(UInt64(bitPattern: (value << 1) ^ (value >> 63)))  // zigzag
    }

    mutating func string(_ value: String) {
        var value = value
        value.withUTF8 { utf8 in
            varint(utf8.count)
            bytes.append(contentsOf: utf8)
        }
    }

    mutating func optionalString(_ value: String?) {
        if let value {
            byte(1)
            string(value)
        } else {
            byte(0)
        }
    }

    mutating func raw(_ value: [UInt8]) {
        varint(value.count)
        bytes.append(contentsOf: value)
    }

    mutating func json(_ value: JSONValue) {
        switch value {
        case .null: byte(0)
        case .bool(false): byte(1)
        case .bool(true): byte(2)
        case .int(let number):
            byte(3)
            signed(number)
        case .double(let number):
            byte(4)
            let bits = number.bitPattern
            for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: bits >> UInt64(shift))) }
        case .string(let text):
            byte(5)
            string(text)
        case .array(let elements):
            byte(6)
            varint(elements.count)
            for element in elements { json(element) }
        case .object(let members):
            byte(7)
            varint(members.count)
            // In the dictionary's order: readers build a dictionary, so order carries nothing.
            for (key, value) in members {
                string(key)
                json(value)
            }
        }
    }

    mutating func optionalJSON(_ value: JSONValue?) {
        if let value {
            byte(1)
            json(value)
        } else {
            byte(0)
        }
    }
}
