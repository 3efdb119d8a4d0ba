/// An error raised by Weft itself, with a stable ``Code`` and a human-readable message.
///
/// Codes are stable across releases and safe to match on; messages are for people and may
/// change. New codes may be added, so `switch` over ``Code`` with a `default` clause.
public struct WeftError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A stable identifier for a kind of error.
    public struct Code: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// Text that should be JSON is not.
        public static let malformedJSON = Code(rawValue: "malformed_json")
        /// A blueprint does not decode, or is structurally invalid.
        public static let invalidBlueprint = Code(rawValue: "invalid_blueprint")
        /// A node's `uses` names no registered implementation.
        public static let unknownImplementation = Code(rawValue: "unknown_implementation")
        /// A node id that the blueprint does not contain.
        public static let unknownNode = Code(rawValue: "unknown_node")
        /// A node's input does not have the shape its code expects.
        public static let invalidInput = Code(rawValue: "invalid_input")
        /// A value could not be encoded as JSON.
        public static let encodingFailed = Code(rawValue: "encoding_failed")
        /// An expression (condition, transform, input reference) does not parse.
        public static let invalidExpression = Code(rawValue: "invalid_expression")
        /// A node attempt ran past its timeout.
        public static let timedOut = Code(rawValue: "timed_out")
        /// The run passed its deadline.
        public static let deadlineExceeded = Code(rawValue: "deadline_exceeded")
        /// The run was cancelled.
        public static let cancelled = Code(rawValue: "cancelled")
        /// A file could not be read.
        public static let fileNotFound = Code(rawValue: "file_not_found")
        /// A run id that the runtime does not know.
        public static let unknownRun = Code(rawValue: "unknown_run")
        /// A blueprint id and version that this process does not have.
        public static let unknownBlueprint = Code(rawValue: "unknown_blueprint")
        /// Bytes that should be an envelope or a stored record are not one.
        public static let malformedMessage = Code(rawValue: "malformed_message")
        /// An envelope or record written by a newer, incompatible version of Weft.
        public static let unsupportedVersion = Code(rawValue: "unsupported_version")
        /// A queue that was never declared.
        public static let unknownQueue = Code(rawValue: "unknown_queue")
        /// The transport was shut down.
        public static let transportClosed = Code(rawValue: "transport_closed")
        /// A delivery was settled twice.
        public static let deliveryAlreadySettled = Code(rawValue: "delivery_already_settled")
        /// A fence used on a key of another run.
        public static let invalidFence = Code(rawValue: "invalid_fence")
        /// A store batch whose condition names no earlier operation (see ``StoreBatch``).
        public static let invalidBatch = Code(rawValue: "invalid_batch")
        /// A run id, node id, blueprint id or version that breaks ``Identifier``'s rules (too
        /// long, empty, or with a control character).
        public static let invalidIdentifier = Code(rawValue: "invalid_identifier")
        /// A job crashed its workers too often and was quarantined.
        public static let quarantined = Code(rawValue: "quarantined")
        /// A loop was about to start a pass beyond its `maxIterations`.
        public static let loopLimitExceeded = Code(rawValue: "loop_limit_exceeded")
        /// A child run (a sub-workflow, a loop pass, a batch item) failed or was cancelled.
        public static let childRunFailed = Code(rawValue: "child_run_failed")
        /// A batch's `items` is not an array.
        public static let invalidBatchItems = Code(rawValue: "invalid_batch_items")
        /// A signal for a node that is not waiting for one.
        public static let notWaiting = Code(rawValue: "not_waiting")
        /// A signal whose action the waiting node does not declare.
        public static let invalidSignal = Code(rawValue: "invalid_signal")
        /// The run has ended; it takes no more signals.
        public static let runFinished = Code(rawValue: "run_finished")
        /// A run's input, a node's output or a message is larger than the fleet allows
        /// (``FleetOptions/maxMessageSize``).
        public static let payloadTooLarge = Code(rawValue: "payload_too_large")
        /// The state store belongs to another fleet (another queue prefix): fleets must not share one.
        public static let storeOwnedByAnotherFleet = Code(rawValue: "store_owned_by_another_fleet")
        /// A blueprint id and version whose content differs from what the fleet's store recorded for it.
        public static let blueprintContentMismatch = Code(rawValue: "blueprint_content_mismatch")
        /// A job of the run was dead-lettered for good (a backend failure retrying cannot fix,
        /// or one that outlasted ``FleetOptions/maxBackendRetries``): the run failed with it.
        public static let jobDeadLettered = Code(rawValue: "job_dead_lettered")
        /// Every worker process a foreman keeps crashed repeatedly, and it gave up on all of them.
        public static let workersCrashLooping = Code(rawValue: "workers_crash_looping")
    }

    /// What kind of error this is.
    public var code: Code
    /// What went wrong, for people.
    public var message: String

    /// Creates an error. Control characters in `message` (which may quote ids, labels or
    /// payloads from outside) are escaped, so that printing or logging it cannot forge a line
    /// or drive a terminal.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = PrintableText.escaped(message)
    }

    public var description: String { "\(message) [\(code)]" }
}

extension WeftError {
    /// Renders a `DecodingError` (or any error) as one line naming the path and the mismatch,
    /// such as `expected Double at "lines[0].price"`.
    public static func describe(decodingError error: any Error) -> String {
        guard let error = error as? DecodingError else { return "\(error)" }
        func path(_ codingPath: [any CodingKey]) -> String? {
            let text = codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return text.isEmpty ? nil : "\"" + String(text.drop(while: { $0 == "." })) + "\""
        }
        func at(_ codingPath: [any CodingKey]) -> String { path(codingPath).map { " at \($0)" } ?? "" }
        switch error {
        case .typeMismatch(let type, let context):
            return "expected \(type)\(at(context.codingPath))"
        case .valueNotFound(let type, let context):
            return "missing \(type) value\(at(context.codingPath))"
        case .keyNotFound(let key, let context):
            return "missing key \"\(key.stringValue)\"\(at(context.codingPath))"
        case .dataCorrupted(let context):
            return "\(context.debugDescription)\(at(context.codingPath))"
        @unknown default:
            return "\(error)"
        }
    }
}
