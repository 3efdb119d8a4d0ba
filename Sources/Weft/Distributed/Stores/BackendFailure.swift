/// An error of a backend (a store or a transport) that says whether trying the same work again
/// can succeed.
///
/// A worker puts a job back on its queue when a backend fails, so that a passing outage (a
/// restart, a lost connection) loses nothing. An error that retrying cannot fix (a key the store
/// cannot keep, a value it refuses, a damaged record) would bring the job back for ever: a
/// plugin's errors adopt this protocol and say so, and the worker dead-letters the job with the
/// error at once. Other errors are taken as passing, for at most
/// ``FleetOptions/maxBackendRetries`` tries.
public protocol BackendFailure: Error {
    /// Whether the same operation cannot succeed however often it is tried.
    var isPermanent: Bool { get }
}

extension WeftError {
    /// Whether the error comes from data no retry will change (a record or message that does
    /// not decode, an id or batch that breaks the rules, a payload over the limit).
    var isPermanent: Bool {
        switch code {
        case .malformedMessage, .unsupportedVersion, .invalidFence, .invalidBatch, .invalidIdentifier, .payloadTooLarge: true
        default: false
        }
    }
}
