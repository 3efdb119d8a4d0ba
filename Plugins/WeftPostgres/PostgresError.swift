/// An error of the PostgreSQL state store, with a stable code and a message that never holds
/// a password.
public struct PostgresStoreError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A stable identifier for a kind of error.
    public struct Code: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// The store URL does not parse, or names an unknown `sslmode`.
        public static let invalidURL = Code(rawValue: "invalid_url")
        /// The server cannot be reached (refused, timed out, unknown host).
        public static let unreachable = Code(rawValue: "unreachable")
        /// The server refused the user or the password.
        public static let authenticationFailed = Code(rawValue: "authentication_failed")
        /// The database does not exist.
        public static let unknownDatabase = Code(rawValue: "unknown_database")
        /// TLS was required and failed (the server has no TLS, or its certificate is not trusted).
        public static let tlsFailed = Code(rawValue: "tls_failed")
        /// The database's schema was written by a newer version of Weft.
        public static let schemaTooNew = Code(rawValue: "schema_too_new")
        /// The database has no Weft schema (or an older one) and migrating on start is off.
        public static let schemaMissing = Code(rawValue: "schema_missing")
        /// A statement failed.
        public static let queryFailed = Code(rawValue: "query_failed")
        /// The store was closed.
        public static let closed = Code(rawValue: "closed")
    }

    /// What kind of error this is.
    public var code: Code
    /// What went wrong, for people.
    public var message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(message) [\(code)]" }
}
