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

    /// The format version the message was written with.
    package var version: Version
    /// What the message asks for.
    package var kind: Kind
    /// The run.
    package var runID: String
    /// The blueprint the run is pinned to.
    package var blueprintID: String
    /// The blueprint version the run is pinned to.
    package var blueprintVersion: String
    /// The node to run (empty for ``Kind/runFinished``).
    package var nodeID: String
    /// The loop iteration (0 outside loops).
    package var iteration: Int
    /// The attempt, from 1.
    package var attempt: Int
    /// Grows with every attempt and every re-publication of a node; writes carry it.
    package var fencingToken: UInt64
    /// W3C trace context (`traceparent`), when the run is traced.
    package var traceContext: String?
    /// The node's input for a job; nothing (`null`) otherwise.
    package var payload: JSONValue

    /// Creates an envelope in the current version.
    package init(
        kind: Kind, runID: String, blueprintID: String, blueprintVersion: String, nodeID: String = "", iteration: Int = 0,
        attempt: Int = 1, fencingToken: UInt64 = 0, traceContext: String? = nil, payload: JSONValue = .null
    ) {
        self.version = Self.currentVersion
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
        self.version = version
        self.kind = kind
        runID = try reader.string()
        blueprintID = try reader.string()
        blueprintVersion = try reader.string()
        nodeID = try reader.string()
        iteration = try reader.int()
        attempt = try reader.int()
        fencingToken = try reader.varint()
        traceContext = try reader.optionalString()
        payload = try reader.json()
        // Fields of newer minor versions follow; this version ignores them.
        // Ids are checked here, once, so that no store ever sees one it cannot keep (a run id
        // too long for LMDB's keys, a NUL that PostgreSQL refuses) and no job loops on it.
        // A job or resume names its blueprint and node; the client's messages may leave them empty.
        let namesNode = kind == .job || kind == .resume
        for (id, idKind) in [(runID, Identifier.Kind.run), (blueprintID, .blueprint), (blueprintVersion, .version), (nodeID, .node)]
        where idKind == .run || namesNode || !id.isEmpty {
            if let problem = Identifier.problem(id, as: idKind, nested: true) {
                throw WeftError(.malformedMessage, "Malformed envelope: \(problem)")
            }
        }
    }
}
