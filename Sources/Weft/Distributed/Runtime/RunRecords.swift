/// The records a distributed run keeps in the coordination store, and their encoding.
///
/// Every record starts with a format byte, so that a newer format is recognised and refused
/// with a clear error rather than misread.
enum RecordFormat {
    static let current: UInt8 = 1

    static func reader(_ bytes: [UInt8], subject: String) throws(WeftError) -> BinaryReader {
        var reader = BinaryReader(bytes, subject: subject)
        let format = try reader.byte()
        guard format <= current else {
            throw WeftError(.unsupportedVersion, "A stored \(subject) has format \(format); this version of Weft reads up to \(current)")
        }
        return reader
    }

    static func writer(capacity: Int = 64) -> BinaryWriter {
        var writer = BinaryWriter(capacity: capacity)
        writer.byte(current)
        return writer
    }
}

/// What a run was started with: written once, when it starts. Immutable and shared by
/// reference (workers cache it), so that passing it around copies nothing.
final class RunMeta: Sendable {
    let blueprintID: String
    let blueprintVersion: String
    let input: JSONValue
    /// The queue of the client that started the run, told when it ends.
    let replyTo: String?
    let deadline: Duration?
    /// Wall-clock start, in seconds since 1970.
    let startedAt: Double
    /// For a child run: the message that tells its parent it ended.
    let parent: ParentResume?
    /// Whether the client that started the run asked for its events.
    let reportsEvents: Bool

    func encoded() -> [UInt8] {
        var writer = RecordFormat.writer()
        writer.string(blueprintID)
        writer.string(blueprintVersion)
        writer.json(input)
        writer.optionalString(replyTo)
        writer.byte(deadline == nil ? 0 : 1)
        if let deadline { writer.signed(Int64(deadline.nanoseconds)) }
        writer.json(.double(startedAt))
        // Added later, last: records written before have none.
        if let parent {
            writer.byte(1)
            writer.string(parent.queue)
            writer.raw(parent.envelope)
            writer.byte(parent.priority)
        } else if reportsEvents {
            writer.byte(0)
        }
        if reportsEvents { writer.byte(1) }
        return writer.bytes
    }

    init(
        blueprintID: String, blueprintVersion: String, input: JSONValue, replyTo: String?, deadline: Duration?,
        startedAt: Double, parent: ParentResume? = nil, reportsEvents: Bool = false
    ) {
        self.parent = parent
        self.reportsEvents = reportsEvents
        self.blueprintID = blueprintID
        self.blueprintVersion = blueprintVersion
        self.input = input
        self.replyTo = replyTo
        self.deadline = deadline
        self.startedAt = startedAt
    }

    convenience init(decoding bytes: [UInt8]) throws(WeftError) {
        var reader = try RecordFormat.reader(bytes, subject: "run record")
        let blueprintID = try reader.string()
        let blueprintVersion = try reader.string()
        let input = try reader.json()
        let replyTo = try reader.optionalString()
        let deadline: Duration? = try reader.bool() ? .nanoseconds(try reader.signed()) : nil
        let startedAt = try reader.json().doubleValue ?? 0
        var parent: ParentResume? = nil
        if !reader.isAtEnd, try reader.byte() == 1 {
            parent = ParentResume(queue: try reader.string(), envelope: try reader.raw(), priority: try reader.byte())
        }
        let reportsEvents = !reader.isAtEnd ? try reader.bool() : false
        self.init(
            blueprintID: blueprintID, blueprintVersion: blueprintVersion, input: input, replyTo: replyTo, deadline: deadline,
            startedAt: startedAt, parent: parent, reportsEvents: reportsEvents)
    }
}

/// The message a child run publishes when it ends, to resume the parent's node: built by the
/// parent, kept in the child's record.
struct ParentResume: Sendable, Hashable {
    var queue: String
    var envelope: [UInt8]
    var priority: UInt8
}

/// A control node's attempt, recorded when it starts (see ``RunKeys/control(_:_:attempt:)``).
struct ControlRecord: Sendable, Hashable {
    var input: JSONValue
    var fencingToken: UInt64
    /// A batch's item count.
    var count: Int
    /// A batch's items, when they were read from the run's context (which may change): kept,
    /// so that every step sees the same items. `nil` when they come from the input alone.
    var items: JSONValue?
    /// When the attempt started, in wall-clock seconds since 1970 (absent in records of
    /// earlier versions).
    var startedAt: Double?

    func encoded() -> [UInt8] {
        var writer = RecordFormat.writer()
        writer.json(input)
        writer.varint(fencingToken)
        writer.varint(count)
        writer.optionalJSON(items)
        if let startedAt { writer.json(.double(startedAt)) }
        return writer.bytes
    }

    init(input: JSONValue, fencingToken: UInt64, count: Int, items: JSONValue? = nil) {
        self.input = input
        self.fencingToken = fencingToken
        self.count = count
        self.items = items
    }

    init(decoding bytes: [UInt8]) throws(WeftError) {
        var reader = try RecordFormat.reader(bytes, subject: "control record")
        input = try reader.json()
        fencingToken = try reader.varint()
        count = try reader.int()
        items = try reader.optionalJSON()
        if !reader.isAtEnd { startedAt = try reader.json().doubleValue }
    }
}

/// How a node ended, recorded once (set-if-absent) with everything a redelivered job needs to
/// continue exactly as the first delivery would have: the output, the routing decision, the
/// context writes.
struct NodeResultRecord: Sendable, Hashable {
    enum Status: UInt8, Sendable {
        case completed = 1, skipped = 2, failed = 3
    }

    /// A taken edge and its value, when a transform made it differ from the output.
    struct TakenEdge: Sendable, Hashable {
        var edge: Int
        var value: JSONValue?
    }

    var status: Status
    var attempt: Int = 0
    var usedFallback = false
    var duration: Duration = .zero
    var output: JSONValue? = nil
    var action: String? = nil
    /// In the node's outgoing order. Every other outgoing edge is skipped.
    var taken: [TakenEdge] = []
    var patch = ContextPatch()
    var failure: NodeFailure? = nil
    /// When the next attempt is due, in wall-clock seconds since 1970: kept with a node's last
    /// failed attempt (``RunKeys/lastFailure``) for inspection. Encoded only when set (or the
    /// log follows), after the failure.
    var retryAt: Double? = nil
    /// The node's attempts that ended, with their times: in a result record every one; in the
    /// last failure's record the failed ones so far. Encoded last, when not empty (records of
    /// earlier versions have none).
    var log: [AttemptRecord] = []

    static let skipped = NodeResultRecord(status: .skipped)

    /// The value edge `edge` carries, if it was taken.
    func value(of edge: Int) -> JSONValue? {
        guard let taken = taken.first(where: { $0.edge == edge }) else { return nil }
        return taken.value ?? output ?? .null
    }

    func encoded() -> [UInt8] {
        var writer = RecordFormat.writer()
        writer.byte(status.rawValue)
        writer.varint(attempt)
        writer.byte(usedFallback ? 1 : 0)
        writer.signed(Int64(duration.nanoseconds))
        writer.optionalJSON(output)
        writer.optionalString(action)
        writer.varint(taken.count)
        for edge in taken {
            writer.varint(edge.edge)
            writer.optionalJSON(edge.value)
        }
        writer.varint(patch.changes.count)
        for change in patch.changes {
            writer.string(change.key)
            writer.optionalJSON(change.value)
        }
        writer.byte(failure == nil ? 0 : 1)
        if let failure { writer.failure(failure) }
        if retryAt != nil || !log.isEmpty {
            writer.byte(retryAt == nil ? 0 : 1)
            if let retryAt { writer.json(.double(retryAt)) }
        }
        if !log.isEmpty {
            writer.varint(log.count)
            for entry in log {
                writer.varint(entry.attempt)
                writer.json(.double(entry.startedAt))
                writer.json(.double(entry.endedAt))
                writer.byte(entry.failure == nil ? 0 : 1)
                if let failure = entry.failure { writer.failure(failure) }
            }
        }
        return writer.bytes
    }

    init(status: Status) { self.status = status }

    /// Just the output of an encoded record (a join reads a hundred of them): the fields before
    /// it are skipped, the ones after it are not read.
    static func output(decoding bytes: [UInt8]) throws(WeftError) -> JSONValue? {
        var reader = try RecordFormat.reader(bytes, subject: "node record")
        _ = try reader.byte()  // status
        _ = try reader.varint()  // attempt
        _ = try reader.byte()  // used fallback
        _ = try reader.varint()  // duration
        return try reader.optionalJSON()
    }

    /// Just the status of an encoded record and whether it took `edge` (what a job's readiness
    /// check reads of its predecessor): the output, the action and the edges' values are
    /// skipped, not built, and the taken edges read only up to `edge`.
    static func routing(decoding bytes: [UInt8], takes edge: Int) throws(WeftError) -> (status: Status, takes: Bool) {
        var (status, reader) = try takenEdges(of: bytes)
        for _ in 0..<(try reader.count()) {
            let taken = try reader.int()
            if taken == edge { return (status, true) }
            if taken > edge { break }  // in outgoing order
            if try reader.bool() { try reader.skipJSON() }  // the edge's value
        }
        return (status, false)
    }

    /// Just the status and the taken edges of an encoded record: the output and the action are
    /// skipped, not built.
    static func routing(decoding bytes: [UInt8]) throws(WeftError) -> (status: Status, taken: [Int]) {
        var (status, reader) = try takenEdges(of: bytes)
        let count = try reader.count()
        var taken: [Int] = []
        taken.reserveCapacity(count)
        for _ in 0..<count {
            taken.append(try reader.int())
            if try reader.bool() { try reader.skipJSON() }  // the edge's value
        }
        return (status, taken)
    }

    /// The status of an encoded record, and a reader at its taken edges (the fields between
    /// skipped).
    private static func takenEdges(of bytes: [UInt8]) throws(WeftError) -> (Status, BinaryReader) {
        var reader = try RecordFormat.reader(bytes, subject: "node record")
        let raw = try reader.byte()
        guard let status = Status(rawValue: raw) else { throw reader.malformed("unknown node status \(raw)") }
        _ = try reader.varint()  // attempt
        _ = try reader.byte()  // used fallback
        _ = try reader.varint()  // duration
        if try reader.bool() { try reader.skipJSON() }  // output
        if try reader.bool() { try reader.skipBytes() }  // action
        return (status, reader)
    }

    init(decoding bytes: [UInt8]) throws(WeftError) {
        var reader = try RecordFormat.reader(bytes, subject: "node record")
        let raw = try reader.byte()
        guard let status = Status(rawValue: raw) else { throw reader.malformed("unknown node status \(raw)") }
        self.status = status
        attempt = try reader.int()
        usedFallback = try reader.bool()
        duration = .nanoseconds(try reader.signed())
        output = try reader.optionalJSON()
        action = try reader.optionalString()
        let takenCount = try reader.count()
        taken.reserveCapacity(takenCount)
        for _ in 0..<takenCount { taken.append(TakenEdge(edge: try reader.int(), value: try reader.optionalJSON())) }
        let changeCount = try reader.count()
        for _ in 0..<changeCount { patch.changes.append(.init(key: try reader.string(), value: try reader.optionalJSON())) }
        failure = try reader.bool() ? try reader.failure() : nil
        if !reader.isAtEnd, try reader.bool() { retryAt = try reader.json().doubleValue }
        if !reader.isAtEnd {
            let count = try reader.count()
            log.reserveCapacity(count)
            for _ in 0..<count {
                let attempt = try reader.int()
                let startedAt = try reader.json().doubleValue ?? 0
                let endedAt = try reader.json().doubleValue ?? 0
                let failure = try reader.bool() ? try reader.failure() : nil
                log.append(AttemptRecord(attempt: attempt, startedAt: startedAt, endedAt: endedAt, failure: failure))
            }
        }
    }
}

/// A run's terminal status, set once by compare-and-set.
struct TerminalRecord: Sendable, Hashable {
    var status: RunStatus
    var output: JSONValue?
    var failure: RunFailure?
    /// Wall-clock end, in seconds since 1970.
    var finishedAt: Double = 0

    /// The record of how the rules ended a run.
    init(_ outcome: RunOutcome) {
        self.init(status: outcome.status, output: outcome.output, failure: outcome.failure)
    }

    func encoded() -> [UInt8] {
        var writer = RecordFormat.writer()
        writer.byte(Self.code(status))
        writer.json(.double(finishedAt))
        writer.optionalJSON(output)
        writer.byte(failure == nil ? 0 : 1)
        if let failure {
            writer.optionalString(failure.nodeID)
            writer.varint(failure.attempt ?? 0)
            writer.failure(failure.cause)
        }
        return writer.bytes
    }

    init(status: RunStatus, output: JSONValue?, failure: RunFailure?) {
        self.status = status
        self.output = output
        self.failure = failure
    }

    init(decoding bytes: [UInt8]) throws(WeftError) {
        var reader = try RecordFormat.reader(bytes, subject: "run status")
        let raw = try reader.byte()
        switch raw {
        case 1: status = .completed
        case 2: status = .failed
        case 3: status = .cancelled
        default: throw reader.malformed("unknown run status \(raw)")
        }
        finishedAt = try reader.json().doubleValue ?? 0
        output = try reader.optionalJSON()
        if try reader.bool() {
            let nodeID = try reader.optionalString()
            let attempt = try reader.int()
            failure = RunFailure(nodeID: nodeID, attempt: attempt == 0 ? nil : attempt, cause: try reader.failure())
        } else {
            failure = nil
        }
    }

    private static func code(_ status: RunStatus) -> UInt8 {
        switch status {
        case .completed: return 1
        case .failed: return 2
        default: return 3
        }
    }
}

/// A job set aside after crashing its workers too often.
struct QuarantineRecord: Sendable, Hashable {
    var nodeID: String
    var attempt: Int
    var lostDeliveries: Int
    var queue: String
    var lastError: String

    var signature: String {
        "quarantined: node \"\(nodeID)\" attempt \(attempt) lost \(lostDeliveries) deliveries (\(lastError))"
    }

    func encoded() -> [UInt8] {
        var writer = RecordFormat.writer()
        writer.string(nodeID)
        writer.varint(attempt)
        writer.varint(lostDeliveries)
        writer.string(queue)
        writer.string(lastError)
        return writer.bytes
    }

    init(nodeID: String, attempt: Int, lostDeliveries: Int, queue: String, lastError: String) {
        self.nodeID = nodeID
        self.attempt = attempt
        self.lostDeliveries = lostDeliveries
        self.queue = queue
        self.lastError = lastError
    }

    init(decoding bytes: [UInt8]) throws(WeftError) {
        var reader = try RecordFormat.reader(bytes, subject: "quarantine record")
        nodeID = try reader.string()
        attempt = try reader.int()
        lostDeliveries = try reader.int()
        queue = try reader.string()
        lastError = try reader.string()
    }
}

/// What a durable timer does when it fires.
enum TimerAction: Sendable, Hashable {
    /// Publish an encoded envelope on a queue (a retry after its backoff, a job left for a
    /// worker that has its blueprint).
    case publish(queue: String, envelope: [UInt8], priority: UInt8)
    /// The run's deadline passed.
    case deadline
    /// The run finished long enough ago: delete its records.
    case expire

    func encoded() -> [UInt8] {
        var writer = RecordFormat.writer()
        switch self {
        case .publish(let queue, let envelope, let priority):
            writer.byte(1)
            writer.string(queue)
            writer.raw(envelope)
            writer.byte(priority)
        case .deadline:
            writer.byte(2)
        case .expire:
            writer.byte(3)
        }
        return writer.bytes
    }

    init(decoding bytes: [UInt8]) throws(WeftError) {
        var reader = try RecordFormat.reader(bytes, subject: "timer")
        switch try reader.byte() {
        case 1: self = .publish(queue: try reader.string(), envelope: try reader.raw(), priority: try reader.byte())
        case 2: self = .deadline
        case 3: self = .expire
        case let raw: throw reader.malformed("unknown timer action \(raw)")
        }
    }
}

extension BinaryWriter {
    mutating func failure(_ failure: NodeFailure) {
        string(failure.message)
        string(failure.errorType)
        optionalString(failure.code)
        byte(failure.isRetryable ? 1 : 0)
    }
}

extension BinaryReader {
    mutating func failure() throws(WeftError) -> NodeFailure {
        NodeFailure(
            message: try string(), errorType: try string(), code: try optionalString(), isRetryable: try bool())
    }
}

extension Duration {
    /// The duration in whole nanoseconds, saturating.
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        return scaled.addingReportingOverflow(attoseconds / 1_000_000_000).partialValue
    }
}
