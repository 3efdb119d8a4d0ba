import Weft

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
    /// The server's SQLSTATE, for a statement the server refused.
    public var sqlState: String?

    /// Creates an error.
    public init(_ code: Code, _ message: String, sqlState: String? = nil) {
        self.code = code
        self.message = message
        self.sqlState = sqlState
    }

    public var description: String { "\(message) [\(code)]" }
}

extension PostgresStoreError: BackendFailure {
    /// Whether retrying cannot help: a schema written by a newer Weft or missing, or a statement
    /// the server refused for its data (SQLSTATE class 22, a value it cannot store, such as a NUL
    /// in text), its form (class 42) or a limit (class 54). A lost connection, a serialization
    /// failure or a server shutting down may pass.
    public var isPermanent: Bool {
        switch code {
        case .schemaTooNew, .schemaMissing: return true
        case .queryFailed:
            guard let sqlState, sqlState.count == 5 else { return false }
            return ["22", "42", "54"].contains(String(sqlState.prefix(2)))
        default: return false
        }
    }
}
