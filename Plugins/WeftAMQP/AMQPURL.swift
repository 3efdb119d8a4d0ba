/// The parts of an `amqp://` or `amqps://` URL.
struct AMQPURL: Sendable, Hashable {
    var usesTLS: Bool
    var user: String?
    var password: String?
    var host: String
    var port: Int
    var virtualHost: String

    init(_ text: String) throws {
        func invalid(_ reason: String) -> AMQPError {
            AMQPError(.invalidURL, "invalid broker URL: \(reason) (expected amqp[s]://[user[:password]@]host[:port][/vhost])")
        }
        var rest = Substring(text)
        if rest.hasPrefix("amqps://") {
            usesTLS = true
            rest = rest.dropFirst(8)
        } else if rest.hasPrefix("amqp://") {
            usesTLS = false
            rest = rest.dropFirst(7)
        } else {
            guard let separator = text.range(of: "://") else { throw invalid("no scheme") }
            throw invalid("unknown scheme \"\(text[..<separator.lowerBound])\"")
        }
        var path: Substring = ""
        if let slash = rest.firstIndex(of: "/") {
            path = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
        }
        if let at = rest.lastIndex(of: "@") {
            let userInfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = userInfo.firstIndex(of: ":") {
                user = try Self.decode(userInfo[..<colon], invalid("bad percent-encoding in the user"))
                password = try Self.decode(userInfo[userInfo.index(after: colon)...], invalid("bad percent-encoding in the password"))
            } else {
                user = try Self.decode(userInfo, invalid("bad percent-encoding in the user"))
                password = nil
            }
        } else {
            user = nil
            password = nil
        }
        var hostPart = rest
        var portText: Substring?
        if hostPart.hasPrefix("[") {
            guard let close = hostPart.firstIndex(of: "]") else { throw invalid("unclosed [ in the host") }
            let after = hostPart[hostPart.index(after: close)...]
            if after.hasPrefix(":") { portText = after.dropFirst() } else if !after.isEmpty { throw invalid("junk after the host") }
            hostPart = hostPart[hostPart.index(after: hostPart.startIndex)..<close]
        } else if let colon = hostPart.lastIndex(of: ":") {
            portText = hostPart[hostPart.index(after: colon)...]
            hostPart = hostPart[..<colon]
        }
        guard !hostPart.isEmpty else { throw invalid("no host") }
        guard hostPart.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == "_" || $0 == ":" }) else {
            throw invalid("bad character in the host \"\(hostPart)\"")
        }
        host = String(hostPart)
        if let portText {
            guard let port = Int(portText), (1...65535).contains(port) else { throw invalid("bad port \"\(portText)\"") }
            self.port = port
        } else {
            port = usesTLS ? 5671 : 5672
        }
        if path.isEmpty {
            virtualHost = "/"
        } else {
            virtualHost = try Self.decode(path, invalid("bad percent-encoding in the virtual host"))
        }
    }

    private static func decode(_ text: Substring, _ error: @autoclosure () -> AMQPError) throws -> String {
        guard text.contains("%") else { return String(text) }
        var bytes: [UInt8] = []
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%") {
                guard let high = iterator.next().flatMap(Self.hexValue), let low = iterator.next().flatMap(Self.hexValue) else {
                    throw error()
                }
                bytes.append(high << 4 | low)
            } else {
                bytes.append(byte)
            }
        }
        guard let decoded = String(validating: bytes, as: UTF8.self) else { throw error() }
        return decoded
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
