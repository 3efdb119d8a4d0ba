/// What every message of the fleet carries: a format version, the kind of message, the ids it
/// concerns, the attempt and fencing token, trace context, and the payload.
///
/// Encoded compactly (see ``encoded()``): the magic bytes `WF`, the major and minor format
/// versions, then the fields. A reader rejects a newer major version with a clear error
/// (``WeftError/Code/unsupportedVersion``); fields added by a newer minor version come last
/// and are ignored by older readers, and fields missing from an older minor version take
/// their defaults.
package struct Envelope: Sendable, Hashable {
    /// A format version.
    package struct Version: Sendable, Hashable, CustomStringConvertible {
        /// Incompatible changes increase it.
        package var major: UInt8
        /// Compatible additions increase it.
        package var minor: UInt8

        /// Creates a version.
        package init(major: UInt8, minor: UInt8) {
            self.major = major
            self.minor = minor
        }

        package var description: String { "\(major).\(minor)" }
    }

    /// The version this build writes.
    package static let currentVersion = Version(major: 1, minor: 2)

    /// What a message asks for.
    package enum Kind: UInt8, Sendable, Hashable {
        /// Run an attempt of a node.
        case job = 1
        /// A run ended (sent to the client that started it). Its payload may name more runs
        /// that ended, as an array of run ids: under load a worker announces several at once.
        case runFinished = 2
        /// Resume a suspended control node: a child run ended, a signal came, or a timer fired.
        /// The payload says which (format 1.1).
        case resume = 3
        /// Events of a run, for the client that started it and asked for them: the payload is
        /// an array of events (format 1.2).
        case event = 4
    }

    /// The fields, in one reference: a job's envelope is passed and kept by several steps of its
    /// path, and a copy of the struct is then one retain, not one per string. Copied on write.
    private final class Storage: @unchecked Sendable {
        // Only mutated while uniquely referenced (``Envelope/storage`` copies it first), which
        // is what makes sharing it safe.
        var version: Version
        var kind: Kind
        var runID: String
        var blueprintID: String
        var blueprintVersion: String
        var nodeID: String
        var iteration: Int
        var attempt: Int
        var fencingToken: UInt64
        var traceContext: String?
        var payload: JSONValue

        init(
            version: Version, kind: Kind, runID: String, blueprintID: String, blueprintVersion: String, nodeID: String,
            iteration: Int, attempt: Int, fencingToken: UInt64, traceContext: String?, payload: JSONValue
        ) {
            self.version = version
            self.kind = kind
            self.runID = runID
            self.blueprintID = blueprintID
            self.blueprintVersion = blueprintVersion
            self.nodeID = nodeID
            self.iteration = iteration
            self.attempt = attempt
            self.fencingToken = fencingToken
            self.traceContext = traceContext
            self.payload = payload
        }

        func copy() -> Storage {
            Storage(
                version: version, kind: kind, runID: runID, blueprintID: blueprintID, blueprintVersion: blueprintVersion,
                nodeID: nodeID, iteration: iteration, attempt: attempt, fencingToken: fencingToken, traceContext: traceContext,
                payload: payload)
        }
    }

    private var _storage: Storage

    /// The storage, copied first when it is shared: for a write.
    private var storage: Storage {
        mutating get {
            if !isKnownUniquelyReferenced(&_storage) { _storage = _storage.copy() }
            return _storage
        }
    }

    /// The format version the message was written with.
    package var version: Version {
        get { _storage.version }
        set { storage.version = newValue }
    }
    /// What the message asks for.
    package var kind: Kind {
        get { _storage.kind }
        set { storage.kind = newValue }
    }
    /// The run.
    package var runID: String {
        get { _storage.runID }
        set { storage.runID = newValue }
    }
    /// The blueprint the run is pinned to.
    package var blueprintID: String {
        get { _storage.blueprintID }
        set { storage.blueprintID = newValue }
    }
    /// The blueprint version the run is pinned to.
    package var blueprintVersion: String {
        get { _storage.blueprintVersion }
        set { storage.blueprintVersion = newValue }
    }
    /// The node to run (empty for ``Kind/runFinished``).
    package var nodeID: String {
        get { _storage.nodeID }
        set { storage.nodeID = newValue }
    }
    /// The loop iteration (0 outside loops).
    package var iteration: Int {
        get { _storage.iteration }
        set { storage.iteration = newValue }
    }
    /// The attempt, from 1.
    package var attempt: Int {
        get { _storage.attempt }
        set { storage.attempt = newValue }
    }
    /// Grows with every attempt and every re-publication of a node; writes carry it.
    package var fencingToken: UInt64 {
        get { _storage.fencingToken }
        set { storage.fencingToken = newValue }
    }
    /// W3C trace context (`traceparent`), when the run is traced.
    package var traceContext: String? {
        get { _storage.traceContext }
        set { storage.traceContext = newValue }
    }
    /// The node's input for a job; nothing (`null`) otherwise.
    package var payload: JSONValue {
        get { _storage.payload }
        set { storage.payload = newValue }
    }

    /// Creates an envelope in the current version.
    package init(
        kind: Kind, runID: String, blueprintID: String, blueprintVersion: String, nodeID: String = "", iteration: Int = 0,
        attempt: Int = 1, fencingToken: UInt64 = 0, traceContext: String? = nil, payload: JSONValue = .null
    ) {
        _storage = Storage(
            version: Self.currentVersion, kind: kind, runID: runID, blueprintID: blueprintID, blueprintVersion: blueprintVersion,
            nodeID: nodeID, iteration: iteration, attempt: attempt, fencingToken: fencingToken, traceContext: traceContext,
            payload: payload)
    }

    package static func == (lhs: Envelope, rhs: Envelope) -> Bool {
        let (l, r) = (lhs._storage, rhs._storage)
        return l === r
            || (l.version == r.version && l.kind == r.kind && l.runID == r.runID && l.blueprintID == r.blueprintID
                && l.blueprintVersion == r.blueprintVersion && l.nodeID == r.nodeID && l.iteration == r.iteration
                && l.attempt == r.attempt && l.fencingToken == r.fencingToken && l.traceContext == r.traceContext
                && l.payload == r.payload)
    }

    package func hash(into hasher: inout Hasher) {
        let storage = _storage
        hasher.combine(storage.version)
        hasher.combine(storage.kind)
        hasher.combine(storage.runID)
        hasher.combine(storage.blueprintID)
        hasher.combine(storage.blueprintVersion)
        hasher.combine(storage.nodeID)
        hasher.combine(storage.iteration)
        hasher.combine(storage.attempt)
        hasher.combine(storage.fencingToken)
        hasher.combine(storage.traceContext)
        hasher.combine(storage.payload)
    }

    static let magic: (UInt8, UInt8) = (0x57, 0x46)  // "WF"

    /// The envelope's bytes.
    package func encoded() -> [UInt8] {
        var writer = BinaryWriter(capacity: 64 + runID.utf8.count + nodeID.utf8.count)
        writer.byte(Self.magic.0)
        writer.byte(Self.magic.1)
        writer.byte(version.major)
        writer.byte(version.minor)
        writer.byte(kind.rawValue)
        writer.string(runID)
        writer.string(blueprintID)
        writer.string(blueprintVersion)
        writer.string(nodeID)
        writer.varint(iteration)
        writer.varint(attempt)
        writer.varint(fencingToken)
        writer.optionalString(traceContext)
        writer.json(payload)
        return writer.bytes
    }

    /// Decodes an envelope.
    ///
    /// - Throws: ``WeftError`` with code ``WeftError/Code/unsupportedVersion`` for a newer major
    ///   version, or ``WeftError/Code/malformedMessage`` for bytes that are not an envelope.
    package init(decoding bytes: [UInt8]) throws(WeftError) {
        var reader = BinaryReader(bytes, subject: "envelope")
        guard bytes.count >= 5, bytes[0] == Self.magic.0, bytes[1] == Self.magic.1 else {
            throw WeftError(.malformedMessage, "Malformed envelope: not a Weft envelope (\(bytes.count) bytes)")
        }
        _ = try reader.byte()
        _ = try reader.byte()
        let version = Version(major: try reader.byte(), minor: try reader.byte())
        guard version.major == Self.currentVersion.major else {
            throw WeftError(
                .unsupportedVersion,
                "Envelope format \(version) is not supported by this version of Weft (it reads \(Self.currentVersion.major).x)")
        }
        let rawKind = try reader.byte()
        guard let kind = Kind(rawValue: rawKind) else { throw reader.malformed("unknown message kind \(rawKind)") }
        let runID = try reader.string()
        let blueprintID = try reader.string()
        let blueprintVersion = try reader.string()
        let nodeID = try reader.string()
        let iteration = try reader.int()
        let attempt = try reader.int()
        let fencingToken = try reader.varint()
        let traceContext = try reader.optionalString()
        let payload = try reader.json()
        // Fields of newer minor versions follow; this version ignores them.
        // Ids are checked here, once, so that no store ever sees one it cannot keep (a run id
        // too long for LMDB's keys, a NUL that PostgreSQL refuses) and no job loops on it.
        // A job or resume names its blueprint and node; the client's messages may leave them empty.
        let namesNode = kind == .job || kind == .resume
        try Self.check(runID, as: .run, required: true)
        try Self.check(blueprintID, as: .blueprint, required: namesNode)
        try Self.check(blueprintVersion, as: .version, required: namesNode)
        try Self.check(nodeID, as: .node, required: namesNode)
        _storage = Storage(
            version: version, kind: kind, runID: runID, blueprintID: blueprintID, blueprintVersion: blueprintVersion,
            nodeID: nodeID, iteration: iteration, attempt: attempt, fencingToken: fencingToken, traceContext: traceContext,
            payload: payload)
    }

    /// Checks an id of a decoded envelope; an optional one (`required` false) may be empty.
    private static func check(_ id: String, as kind: Identifier.Kind, required: Bool) throws(WeftError) {
        guard required || !id.isEmpty, let problem = Identifier.problem(id, as: kind, nested: true) else { return }
        throw WeftError(.malformedMessage, "Malformed envelope: \(problem)")
    }
}
