/// A node attempt's failure, as recorded in a run: serialisable, so both runtimes record the
/// same thing.
public struct NodeFailure: Error, Sendable, Hashable, Codable, CustomStringConvertible {
    /// The failure's message.
    public var message: String
    /// The Swift type of the error that was thrown, such as `PaymentError`.
    public var errorType: String
    /// A stable code when the error carried one (``WeftError`` and ``NodeError`` do).
    public var code: String?
    /// Whether another attempt could succeed.
    public var isRetryable: Bool

    /// Creates a failure record.
    public init(message: String, errorType: String, code: String? = nil, isRetryable: Bool = true) {
        self.message = message
        self.errorType = errorType
        self.code = code
        self.isRetryable = isRetryable
    }

    /// Describes an error thrown by node code. ``NodeError``, ``WeftError`` and errors conforming
    /// to ``RetryClassifiable`` say whether they are retryable; other errors are.
    public init(_ error: any Error) {
        switch error {
        case let failure as NodeFailure:
            self = failure
        case let error as NodeError:
            self.init(message: error.message, errorType: "NodeError", code: error.code, isRetryable: error.isRetryable)
        case let error as WeftError:
            let retryable = error.code == .timedOut
            self.init(message: error.message, errorType: "WeftError", code: error.code.rawValue, isRetryable: retryable)
        case let error as any RetryClassifiable:
            self.init(message: "\(error)", errorType: String(describing: type(of: error)), isRetryable: error.isRetryable)
        case is CancellationError:
            self.init(message: "cancelled", errorType: "CancellationError", code: WeftError.Code.cancelled.rawValue, isRetryable: false)
        default:
            self.init(message: String(describing: error), errorType: String(describing: type(of: error)))
        }
    }

    /// The failure of an attempt that ran past its timeout.
    public static func timedOut(after timeout: Duration) -> NodeFailure {
        NodeFailure(
            message: "attempt timed out after \(timeout)", errorType: "WeftError",
            code: WeftError.Code.timedOut.rawValue, isRetryable: true)
    }

    /// Whether this failure is a timeout.
    public var isTimeout: Bool { code == WeftError.Code.timedOut.rawValue }

    public var description: String { "\(errorType): \(message)" }
}

/// An error that says whether retrying could help. Node code may throw any error; conform it to
/// this protocol to mark it non-retryable, or throw ``NodeError``.
public protocol RetryClassifiable: Error {
    /// Whether another attempt could succeed.
    var isRetryable: Bool { get }
}

/// An error for node code to throw when it wants to say whether to retry.
///
/// ```swift
/// throw NodeError.permanent("card declined", code: "declined")
/// ```
public struct NodeError: Error, Sendable, Hashable, RetryClassifiable, CustomStringConvertible {
    /// What went wrong.
    public var message: String
    /// An optional stable code.
    public var code: String?
    /// Whether another attempt could succeed.
    public var isRetryable: Bool

    /// Creates an error.
    public init(_ message: String, code: String? = nil, isRetryable: Bool) {
        self.message = message
        self.code = code
        self.isRetryable = isRetryable
    }

    /// An error that retrying cannot fix: attempts stop and the fallback (if any) runs.
    public static func permanent(_ message: String, code: String? = nil) -> NodeError {
        NodeError(message, code: code, isRetryable: false)
    }

    /// An error that another attempt may not hit.
    public static func transient(_ message: String, code: String? = nil) -> NodeError {
        NodeError(message, code: code, isRetryable: true)
    }

    public var description: String { message }
}
