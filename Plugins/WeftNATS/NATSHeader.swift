import CNATS
import Weft

/// The headers Weft puts on its NATS messages, and reading them back from hostile input.
enum NATSHeader {
    /// A message's priority, 0 to ``QueueMessage/maxPriority``.
    static let priority = "Weft-Priority"
    /// How often the message was handed back by ``DeliverySettlement/retry()`` (republished).
    static let retries = "Weft-Retries"
    /// Deliveries lost before the message was republished by a retry (the server's count
    /// starts again for the copy).
    static let lost = "Weft-Lost"
    /// Why a dead letter was dead-lettered.
    static let reason = "Weft-Reason"
    /// The queue a dead letter came from.
    static let queue = "Weft-Queue"

    /// The value of header `name` of `message`, if it has one.
    static func value(_ name: String, of message: OpaquePointer) -> String? {
        var value: UnsafePointer<CChar>?
        guard natsMsgHeader_Get(message, name, &value) == NATS_OK, let value else { return nil }
        return String(cString: value)
    }

    /// Header `name` read as a count: absent, not a number or negative reads as 0, and a count
    /// is capped (a forged header cannot make arithmetic overflow).
    static func count(_ name: String, of message: OpaquePointer, limit: Int = 1_000_000) -> Int {
        guard let text = value(name, of: message), text.utf8.count <= 12, let number = Int(text), number > 0 else { return 0 }
        return min(number, limit)
    }

    /// `text` as a header value: control characters (a header ends at a line break) become
    /// spaces, and it is cut to 1,000 bytes.
    static func sanitized(_ text: String) -> String {
        var result = String(String.UnicodeScalarView(text.unicodeScalars.map { $0.properties.generalCategory == .control ? " " : $0 }))
        while result.utf8.count > 1000 { result.removeLast() }
        return result
    }

    /// A new message on `subject` with `body` and `headers`; the caller owns it (destroy it, or
    /// hand it to a call that takes it).
    static func make(subject: String, body: [UInt8], headers: [(String, String)]) throws(NATSError) -> OpaquePointer {
        var message: OpaquePointer?
        let status = body.withUnsafeBytes { bytes in
            natsMsg_Create(&message, subject, nil, bytes.baseAddress?.assumingMemoryBound(to: CChar.self), Int32(bytes.count))
        }
        guard status == NATS_OK, let message else { throw NATSError.call("creating a message", status) }
        for (name, value) in headers {
            let status = natsMsgHeader_Set(message, name, value)
            if status != NATS_OK {
                natsMsg_Destroy(message)
                throw NATSError.call("setting header \(name)", status)
            }
        }
        return message
    }

    /// The body of `message`.
    static func body(of message: OpaquePointer) -> [UInt8] {
        let count = Int(natsMsg_GetDataLength(message))
        guard count > 0, let data = natsMsg_GetData(message) else { return [] }
        return data.withMemoryRebound(to: UInt8.self, capacity: count) { Array(UnsafeBufferPointer(start: $0, count: count)) }
    }
}
