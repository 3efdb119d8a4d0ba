extension JSONValue {
    /// The value in Weft's compact binary form (the form envelopes carry): for stores that keep
    /// values as bytes. Decode it with ``init(binaryEncoding:)``.
    public var binaryEncoding: [UInt8] {
        var writer = BinaryWriter()
        writer.json(self)
        return writer.bytes
    }

    /// Decodes ``binaryEncoding``.
    /// - Throws: ``WeftError`` with code ``WeftError/Code/malformedMessage`` for bytes that are
    ///   not one whole encoded value.
    public init(binaryEncoding bytes: [UInt8]) throws {
        var reader = BinaryReader(bytes, subject: "a stored JSON value")
        self = try reader.json()
        guard reader.isAtEnd else { throw reader.malformed("\(reader.remaining) bytes after the value") }
    }
}
