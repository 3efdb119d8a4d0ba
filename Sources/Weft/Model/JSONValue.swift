import Foundation

/// A JSON value: the currency of run inputs, node outputs, params and context entries.
///
/// `JSONValue` keeps integers and floating-point numbers apart so that an integer survives a
/// round trip through JSON unchanged. Comparisons between the two are numeric.
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])
}

extension JSONValue {
    /// The member at `key` when this is an object, otherwise `nil`.
    public subscript(key: String) -> JSONValue? {
        if case .object(let members) = self { return members[key] }
        return nil
    }

    /// The element at `index` when this is an array and the index is in range, otherwise `nil`.
    public subscript(index: Int) -> JSONValue? {
        if case .array(let elements) = self, elements.indices.contains(index) { return elements[index] }
        return nil
    }

    /// The value as a `Bool`, when it is one.
    public var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    /// The value as a `String`, when it is one.
    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// The value as an `Int`, when it is an integer (or a double with no fractional part).
    public var intValue: Int? {
        switch self {
        case .int(let value): return Int(exactly: value)
        case .double(let value): return Int(exactly: value)
        default: return nil
        }
    }

    /// The value as a `Double`, when it is a number.
    public var doubleValue: Double? {
        switch self {
        case .int(let value): return Double(value)
        case .double(let value): return value
        default: return nil
        }
    }

    /// The elements, when this is an array.
    public var arrayValue: [JSONValue]? {
        if case .array(let value) = self { return value }
        return nil
    }

    /// The members, when this is an object.
    public var objectValue: [String: JSONValue]? {
        if case .object(let value) = self { return value }
        return nil
    }

    /// Whether this is `null`.
    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// The name of the JSON type, for error messages: `null`, `boolean`, `number`, `string`,
    /// `array` or `object`.
    public var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "boolean"
        case .int, .double: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }
}

// MARK: - Codable

extension JSONValue: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .int(value)
        } else if let value = try? container.decode(Double.self) {
            // An integer too large for 64 bits would become the nearest double, silently another
            // number (12345678901234567890 → 12345678901234567168): refused, unless the double
            // is that very number.
            if value.rounded() == value, value.magnitude >= 0x1p53, let exact = try? container.decode(Decimal.self),
                exact == exact.rounded(), String(format: "%.0f", value) != "\(exact)"
            {
                throw DecodingError.dataCorruptedError(
                    in: container,
                    debugDescription: "the integer \(exact) does not fit 64 bits, and as a double it would become "
                        + "\(String(format: "%.0f", value)); send it as a string")
            }
            self = .double(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else {
            // An array or an object: what is wrong inside one (a refused number) is reported.
            do {
                self = .array(try container.decode([JSONValue].self))
            } catch DecodingError.typeMismatch {
                do {
                    self = .object(try container.decode([String: JSONValue].self))
                } catch DecodingError.typeMismatch {
                    throw DecodingError.dataCorruptedError(in: container, debugDescription: "Expected a JSON value")
                }
            }
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .int(let value): try container.encode(value)
        case .double(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }
}

// MARK: - Literals

extension JSONValue: ExpressibleByNilLiteral {
    public init(nilLiteral: ()) { self = .null }
}

extension JSONValue: ExpressibleByBooleanLiteral {
    public init(booleanLiteral value: Bool) { self = .bool(value) }
}

extension JSONValue: ExpressibleByIntegerLiteral {
    public init(integerLiteral value: Int64) { self = .int(value) }
}

extension JSONValue: ExpressibleByFloatLiteral {
    public init(floatLiteral value: Double) { self = .double(value) }
}

extension JSONValue: ExpressibleByStringLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
}

extension JSONValue: ExpressibleByArrayLiteral {
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
}

extension JSONValue: ExpressibleByDictionaryLiteral {
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        var members: [String: JSONValue] = [:]
        members.reserveCapacity(elements.count)
        for (key, value) in elements { members[key] = value }
        self = .object(members)
    }
}

// MARK: - Text

extension JSONValue: CustomStringConvertible {
    /// Compact JSON text with sorted keys.
    public var description: String {
        (try? jsonString()) ?? "<unencodable JSON value>"
    }

    /// Encodes the value as JSON text.
    /// - Parameter pretty: indent and break lines for people to read.
    public func jsonString(pretty: Bool = false) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    /// Parses JSON text. An integer beyond 64 bits that a double cannot hold exactly is refused
    /// (it would silently become another number).
    ///
    /// - Throws: ``WeftError`` with code ``WeftError/Code/malformedJSON`` when the text is not JSON.
    public init(parsing text: String) throws {
        try self.init(parsing: Data(text.utf8))
    }

    /// Parses JSON bytes.
    ///
    /// - Throws: ``WeftError`` with code ``WeftError/Code/malformedJSON`` when the bytes are not JSON.
    public init(parsing data: Data) throws {
        do {
            self = try JSONDecoder().decode(JSONValue.self, from: data)
        } catch {
            throw WeftError(.malformedJSON, "Malformed JSON: \(WeftError.describe(decodingError: error))")
        }
    }
}

// MARK: - Typed values

extension JSONValue {
    /// Encodes any `Encodable` value as a `JSONValue`.
    public init<T: Encodable>(encoding value: T) throws {
        if let value = value as? JSONValue {
            self = value
            return
        }
        do {
            let data = try JSONEncoder().encode(value)
            self = try JSONDecoder().decode(JSONValue.self, from: data)
        } catch {
            throw WeftError(.encodingFailed, "Could not encode \(T.self) as JSON: \(error)")
        }
    }

    /// Decodes this value as `T`.
    ///
    /// - Throws: ``WeftError`` with code ``WeftError/Code/invalidInput`` describing what did not
    ///   match, for example `expected number at "total", found string`.
    public func decode<T: Decodable>(as type: T.Type = T.self) throws -> T {
        if let value = self as? T { return value }
        do {
            let data = try JSONEncoder().encode(self)
            return try JSONDecoder().decode(T.self, from: data)
        } catch {
            throw WeftError(.invalidInput, "Expected \(T.self): \(WeftError.describe(decodingError: error))")
        }
    }
}

extension JSONValue {
    /// An integer value.
    public init(_ value: Int) { self = .int(Int64(value)) }
    /// A floating-point value.
    public init(_ value: Double) { self = .double(value) }
    /// A string value.
    public init(_ value: String) { self = .string(value) }
    /// A boolean value.
    public init(_ value: Bool) { self = .bool(value) }
}

extension Decimal {
    /// The value rounded to an integer (half away from zero).
    fileprivate func rounded() -> Decimal {
        var value = self
        var result = Decimal()
        NSDecimalRound(&result, &value, 0, .plain)
        return result
    }
}
