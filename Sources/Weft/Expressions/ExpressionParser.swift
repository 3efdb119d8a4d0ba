/// A recursive-descent parser for ``Expression``. It works on UTF-8 bytes and never recurses
/// deeper than ``maximumDepth``, so hostile input cannot exhaust the stack.
struct ExpressionParser {
    static let maximumDepth = 64

    private let text: String
    private let bytes: [UInt8]
    private var position = 0
    private var depth = 0

    init(_ text: String) {
        self.text = text
        self.bytes = Array(text.utf8)
    }

    mutating func parse() throws -> ExpressionNode {
        skipSpace()
        guard position < bytes.count else { throw error("the expression is empty") }
        let node = try parseOr()
        skipSpace()
        guard position == bytes.count else { throw error("unexpected '\(Self.excerpt(of: rest))'") }
        return node
    }

    // MARK: Grammar

    private mutating func parseOr() throws -> ExpressionNode {
        var node = try parseAnd()
        while consume("||") { node = .or(node, try parseAnd()) }
        return node
    }

    private mutating func parseAnd() throws -> ExpressionNode {
        var node = try parseUnary()
        while consume("&&") { node = .and(node, try parseUnary()) }
        return node
    }

    private mutating func parseUnary() throws -> ExpressionNode {
        skipSpace()
        if peek("!") && !peek("!=") {
            position += 1
            return try nested { .not(try $0.parseUnary()) }
        }
        return try parseComparison()
    }

    private mutating func parseComparison() throws -> ExpressionNode {
        let lhs = try parsePostfix()
        skipSpace()
        for op in ["==", "!=", "<=", ">=", "<", ">"] where consume(op) {
            return .compare(ComparisonOperator(rawValue: op)!, lhs, try parsePostfix())
        }
        if consumeKeyword("in") {
            return .compare(.contains, lhs, try parsePostfix())
        }
        return lhs
    }

    private mutating func parsePostfix() throws -> ExpressionNode {
        let primary = try parsePrimary()
        guard case .path(let root, var key, var components) = primary else {
            skipSpace()
            if peek(".") || peek("[") { throw error("only a root name such as 'output' can be followed by a path") }
            return primary
        }
        while true {
            if consume(".") {
                let name = try identifier()
                if key == nil && components.isEmpty && ExpressionNode.keyedRoots.contains(root) {
                    key = name
                } else {
                    components.append(.member(name))
                }
            } else if consume("[") {
                let index = try nested { try $0.parseOr() }
                guard consume("]") else { throw error("expected ']'") }
                switch index {
                case .literal(.string(let name)) where key == nil && components.isEmpty && ExpressionNode.keyedRoots.contains(root):
                    key = name
                case .literal(.string(let name)): components.append(.member(name))
                case .literal(.int(let value)): components.append(.index(Int(value)))
                default: components.append(.dynamic(index))
                }
            } else {
                return .path(root: root, key: key, components: components)
            }
        }
    }

    private mutating func parsePrimary() throws -> ExpressionNode {
        skipSpace()
        guard position < bytes.count else { throw error("expected a value but the expression ended") }
        let byte = bytes[position]
        switch byte {
        case UInt8(ascii: "("):
            position += 1
            let node = try nested { try $0.parseOr() }
            guard consume(")") else { throw error("expected ')'") }
            return node
        case UInt8(ascii: "\""), UInt8(ascii: "'"):
            return .literal(.string(try stringLiteral()))
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return .literal(try numberLiteral())
        case UInt8(ascii: "["):
            position += 1
            var elements: [ExpressionNode] = []
            if !consume("]") {
                repeat { elements.append(try nested { try $0.parseOr() }) } while consume(",")
                guard consume("]") else { throw error("expected ']' or ','") }
            }
            return elements.allSatisfy({ if case .literal = $0 { true } else { false } })
                ? .literal(.array(elements.map { if case .literal(let v) = $0 { v } else { .null } }))
                : .array(elements)
        case UInt8(ascii: "{"):
            position += 1
            var members: [(String, ExpressionNode)] = []
            if !consume("}") {
                repeat {
                    skipSpace()
                    let name = peek("\"") || peek("'") ? try stringLiteral() : try identifier()
                    guard consume(":") else { throw error("expected ':' after '\(name)'") }
                    members.append((name, try nested { try $0.parseOr() }))
                } while consume(",")
                guard consume("}") else { throw error("expected '}' or ','") }
            }
            return .object(members)
        default:
            let name = try identifier()
            switch name {
            case "true": return .literal(.bool(true))
            case "false": return .literal(.bool(false))
            case "null": return .literal(.null)
            default: break
            }
            if consume("(") {
                guard let function = ExpressionFunction(rawValue: name) else {
                    throw error("unknown function '\(name)'; known: \(ExpressionFunction.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                let argument = try nested { try $0.parseOr() }
                guard consume(")") else { throw error("\(name)() takes one argument; expected ')'") }
                return .call(function, [argument])
            }
            guard ExpressionNode.knownRoots.contains(name) else {
                throw error("unknown name '\(name)'; an expression reads \(ExpressionNode.knownRoots.sorted().joined(separator: ", "))")
            }
            return .path(root: name, key: nil, components: [])
        }
    }

    // MARK: Tokens

    private mutating func nested<T>(_ body: (inout ExpressionParser) throws -> T) throws -> T {
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maximumDepth else { throw error("the expression nests deeper than \(Self.maximumDepth) levels") }
        return try body(&self)
    }

    private mutating func identifier() throws -> String {
        skipSpace()
        let start = position
        while position < bytes.count {
            let b = bytes[position]
            let isLetter = (b >= 97 && b <= 122) || (b >= 65 && b <= 90) || b == 95
            let isDigit = b >= 48 && b <= 57
            if isLetter || (isDigit && position > start) || (b == 45 && position > start) { position += 1 } else { break }
        }
        guard position > start else {
            throw error(position < bytes.count ? "unexpected '\(rest.prefix(1))'" : "expected a name but the expression ended")
        }
        return String(decoding: bytes[start..<position], as: UTF8.self)
    }

    private mutating func stringLiteral() throws -> String {
        skipSpace()
        let quote = bytes[position]
        position += 1
        var result: [UInt8] = []
        while position < bytes.count {
            let b = bytes[position]
            position += 1
            if b == quote { return String(decoding: result, as: UTF8.self) }
            if b == UInt8(ascii: "\\") {
                guard position < bytes.count else { break }
                let escaped = bytes[position]
                position += 1
                switch escaped {
                case UInt8(ascii: "n"): result.append(10)
                case UInt8(ascii: "t"): result.append(9)
                default: result.append(escaped)
                }
            } else {
                result.append(b)
            }
        }
        throw error("unterminated string")
    }

    private mutating func numberLiteral() throws -> JSONValue {
        let start = position
        if bytes[position] == UInt8(ascii: "-") { position += 1 }
        var isDouble = false
        while position < bytes.count {
            let b = bytes[position]
            if b >= 48 && b <= 57 {
                position += 1
            } else if b == UInt8(ascii: ".") || b == UInt8(ascii: "e") || b == UInt8(ascii: "E")
                || ((b == UInt8(ascii: "+") || b == UInt8(ascii: "-")) && isDouble)
            {
                isDouble = true
                position += 1
            } else {
                break
            }
        }
        let literal = String(decoding: bytes[start..<position], as: UTF8.self)
        if !isDouble, let value = Int64(literal) { return .int(value) }
        guard let value = Double(literal) else { throw error("malformed number '\(literal)'") }
        // Beyond ±1.8e308 a literal reads as infinity, which no JSON can carry: refused here
        // rather than when a run's output is encoded.
        guard value.isFinite else { throw error("number '\(literal)' is out of range (a double's largest is about 1.8e308)") }
        return .double(value)
    }

    private mutating func skipSpace() {
        while position < bytes.count, bytes[position] == 32 || bytes[position] == 9 || bytes[position] == 10 || bytes[position] == 13 {
            position += 1
        }
    }

    private func peek(_ token: String) -> Bool {
        var index = position
        for b in token.utf8 {
            guard index < bytes.count, bytes[index] == b else { return false }
            index += 1
        }
        return true
    }

    private mutating func consume(_ token: String) -> Bool {
        skipSpace()
        guard peek(token) else { return false }
        position += token.utf8.count
        return true
    }

    private mutating func consumeKeyword(_ word: String) -> Bool {
        skipSpace()
        guard peek(word) else { return false }
        let end = position + word.utf8.count
        if end < bytes.count {
            let b = bytes[end]
            if (b >= 97 && b <= 122) || (b >= 65 && b <= 90) || b == 95 || (b >= 48 && b <= 57) { return false }
        }
        position = end
        return true
    }

    private var rest: String { String(decoding: bytes[min(position, bytes.count)...], as: UTF8.self) }

    private func error(_ reason: String) -> WeftError {
        WeftError(.invalidExpression, "Cannot parse expression \"\(Self.excerpt(of: text))\" at offset \(position): \(reason)")
    }

    /// `text`, or its first and last 60 characters around an ellipsis when it is longer than
    /// 160: an error quotes an expression without repeating a hostile one of any length.
    static func excerpt(of text: String) -> String {
        guard text.utf8.count > 160 else { return text }
        return "\(text.prefix(60))…\(text.suffix(60)) (\(text.utf8.count) bytes)"
    }
}
