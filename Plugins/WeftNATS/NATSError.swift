import CNATS
import Weft

/// A failure of the NATS plugin: a libnats call that did not succeed, a configuration that is
/// not valid, or a queue name NATS cannot carry.
public struct NATSError: Error, CustomStringConvertible, Sendable, BackendFailure {
    /// What went wrong, for people.
    public let message: String
    /// libnats's status, when a call failed (`NATS_OK`, 0, otherwise).
    public let status: Int32
    /// JetStream's error code, when the server gave one (0 otherwise).
    public let jetStreamCode: Int32
    /// Whether no retry can make the same operation succeed (a bad configuration or name).
    public let isPermanent: Bool

    /// Creates an error.
    public init(_ message: String, status: Int32 = 0, jetStreamCode: Int32 = 0, isPermanent: Bool = false) {
        self.message = message
        self.status = status
        self.jetStreamCode = jetStreamCode
        self.isPermanent = isPermanent
    }

    public var description: String { message }

    /// The error of a libnats call `what` that returned `status` (with JetStream's `code`).
    static func call(_ what: String, _ status: natsStatus, code: jsErrCode = jsErrCode(rawValue: 0)) -> NATSError {
        let text = String(cString: natsStatus_GetText(status))
        var detail = ""
        if let last = nats_GetLastError(nil) {
            let lastText = String(cString: last)
            if !lastText.isEmpty && lastText != text { detail = " (\(lastText))" }
        }
        let jetStream = code.rawValue == 0 ? "" : ", JetStream error \(code.rawValue)"
        return NATSError(
            "NATS: \(what) failed: \(text)\(detail)\(jetStream)", status: Int32(status.rawValue), jetStreamCode: Int32(code.rawValue))
    }

    /// Throws the error of `what` unless `status` is `NATS_OK`.
    static func check(_ status: natsStatus, _ what: @autoclosure () -> String, code: jsErrCode = jsErrCode(rawValue: 0)) throws(NATSError) {
        guard status != NATS_OK else { return }
        throw call(what(), status, code: code)
    }
}
