/// The rules for the ids Weft keeps in stores and sends in messages: run ids, node ids,
/// blueprint ids and versions.
///
/// An id is 1 to ``maxBytes`` bytes of UTF-8 (``maxRunIDBytes`` for a run id a caller chooses,
/// ``maxNestedRunIDBytes`` for one Weft reads back, which may carry a sub-workflow child's
/// suffixes), with no control character (C0, DEL, C1), line or paragraph separator or
/// bidirectional formatting character. Every store can keep such an id (LMDB's keys stop at
/// 511 bytes; PostgreSQL's text refuses NUL) and every terminal can print it.
///
/// Checked where ids come in: a blueprint's validation (``Blueprint/validate(against:)``), a
/// run's start (the run id in ``RunOptions``) and the decoding of every message, so that no
/// store operation ever fails on an id, and no message loops for ever because of one.
public enum Identifier {
    /// What an id names, for the limits and the messages.
    public enum Kind: String, Sendable, Hashable {
        case run = "run id"
        case node = "node id"
        case blueprint = "blueprint id"
        case version = "blueprint version"
    }

    /// The longest id (node id, blueprint id or version), in UTF-8 bytes.
    public static let maxBytes = 200
    /// The longest run id a caller may choose, in UTF-8 bytes: room is left for the suffixes
    /// of the children that sub-workflows, loops and batches start under it.
    public static let maxRunIDBytes = 200
    /// The longest run id Weft reads from a message or a store, a child's included.
    public static let maxNestedRunIDBytes = 400

    /// Why `id` cannot be a `kind` (a sentence that quotes it safely), or `nil` when it can.
    /// `nested` allows a run id the length of a child's (``maxNestedRunIDBytes``).
    public static func problem(_ id: String, as kind: Kind, nested: Bool = false) -> String? {
        let limit = kind == .run && nested ? maxNestedRunIDBytes : kind == .run ? maxRunIDBytes : maxBytes
        if id.isEmpty { return "the \(kind.rawValue) is empty" }
        // Quoted only for a refusal: every decoded message checks four ids.
        if id.utf8.count > limit {
            return "the \(kind.rawValue) \(PrintableText.quoted(id)) has \(id.utf8.count) bytes, more than \(limit)"
        }
        if !PrintableText.isPrintable(id) {
            return "the \(kind.rawValue) \(PrintableText.quoted(id)) contains a control, separator or bidirectional character"
        }
        return nil
    }

    /// Throws ``WeftError/Code/invalidIdentifier`` when `id` cannot be a `kind`.
    public static func check(_ id: String, as kind: Kind, nested: Bool = false) throws(WeftError) {
        if let problem = problem(id, as: kind, nested: nested) {
            throw WeftError(.invalidIdentifier, "Invalid \(kind.rawValue): \(problem)")
        }
    }
}
