import Foundation

/// Where and how the PostgreSQL state store connects: a server, a database, credentials, TLS
/// and the pool's size.
///
/// Build one from a URL, `postgres://user:password@host:5432/database?sslmode=require`, with
/// ``init(url:environment:)``: what the URL leaves out comes from the libpq environment
/// variables (`PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`, `PGDATABASE`, `PGSSLMODE`,
/// `PGSSLROOTCERT`), then from defaults (localhost, 5432, user `postgres`, database `weft`). A
/// configuration's description never shows the password.
public struct PostgresConfiguration: Sendable, Hashable, CustomStringConvertible {
    /// How the connection uses TLS, as libpq's `sslmode` says.
    public enum TLSMode: String, Sendable, Hashable, CaseIterable {
        /// No TLS.
        case disable
        /// TLS if the server offers it, without checking its certificate (libpq's default).
        case prefer
        /// TLS, without checking the certificate: encryption, but no protection from a
        /// server that impersonates the real one.
        case require
        /// TLS, with the certificate checked against the trusted roots and the host name.
        case verifyFull = "verify-full"
    }

    /// The server's host name or address.
    public var host: String
    /// The server's port.
    public var port: Int
    /// The user.
    public var user: String
    /// The password, if any. Never logged.
    public var password: String?
    /// The database.
    public var database: String
    /// TLS, as `sslmode`.
    public var tls: TLSMode
    /// A PEM file of roots to trust for ``TLSMode/verifyFull`` (`sslrootcert`); `nil`: the system's.
    public var rootCertificate: String?
    /// The most connections the store opens (`pool`, default 16).
    public var maximumConnections: Int
    /// How long to wait for a connection to open (`connect_timeout`, seconds; default 10).
    public var connectTimeout: Duration
    /// Whether the store creates and upgrades its schema when it opens (default `true`);
    /// otherwise run `weft store migrate` first.
    public var migrateOnStart: Bool
    /// How many batches of each kind (node records written, values read) may be in flight at
    /// once (`batches`, default 1): statements issued meanwhile gather into the next batch, which
    /// is one statement and one transaction for many (a group commit).
    public var batches: Int

    /// Creates a configuration.
    public init(
        host: String = "localhost", port: Int = 5432, user: String = "postgres", password: String? = nil,
        database: String = "weft", tls: TLSMode = .prefer, rootCertificate: String? = nil, maximumConnections: Int = 16,
        connectTimeout: Duration = .seconds(10), migrateOnStart: Bool = true, batches: Int = 1
    ) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
        self.tls = tls
        self.rootCertificate = rootCertificate
        self.maximumConnections = maximumConnections
        self.connectTimeout = connectTimeout
        self.migrateOnStart = migrateOnStart
        self.batches = batches
    }

    /// Whether `text` is a PostgreSQL URL (`postgres://` or `postgresql://`).
    public static func isURL(_ text: String) -> Bool {
        text.hasPrefix("postgres://") || text.hasPrefix("postgresql://")
    }

    /// A configuration from a `postgres://` URL, with the libpq environment variables filling
    /// in what it leaves out.
    ///
    /// - Throws: ``PostgresStoreError`` with code ``PostgresStoreError/Code/invalidURL``.
    public init(url text: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        func invalid(_ reason: String) -> PostgresStoreError {
            PostgresStoreError(
                .invalidURL,
                "invalid store URL: \(reason) (expected postgres://[user[:password]@]host[:port]/database[?sslmode=disable|prefer|require|verify-full])")
        }
        guard Self.isURL(text) else { throw invalid("it must start with postgres:// or postgresql://") }
        guard let components = URLComponents(string: text) else { throw invalid("it does not parse") }
        self.init()
        host = components.host.flatMap { $0.isEmpty ? nil : $0 } ?? environment["PGHOST"] ?? "localhost"
        if host.hasPrefix("/") { throw invalid("Unix-domain sockets are not supported; give a host") }
        if let port = components.port {
            guard (1...65535).contains(port) else { throw invalid("bad port \(port)") }
            self.port = port
        } else if let text = environment["PGPORT"] {
            guard let port = Int(text), (1...65535).contains(port) else { throw invalid("bad PGPORT \"\(text)\"") }
            self.port = port
        }
        user = components.user.flatMap { $0.isEmpty ? nil : $0 } ?? environment["PGUSER"] ?? "postgres"
        password = components.password ?? environment["PGPASSWORD"]
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        database = path.isEmpty ? environment["PGDATABASE"] ?? "weft" : path
        guard !database.contains("/") else { throw invalid("the path names more than a database") }
        var mode = environment["PGSSLMODE"]
        rootCertificate = environment["PGSSLROOTCERT"]
        for item in components.queryItems ?? [] {
            switch item.name {
            case "sslmode": mode = item.value
            case "sslrootcert": rootCertificate = item.value
            case "pool":
                guard let value = item.value.flatMap(Int.init), value >= 1 else { throw invalid("pool must be at least 1") }
                maximumConnections = value
            case "connect_timeout":
                guard let value = item.value.flatMap(Double.init), value > 0 else { throw invalid("connect_timeout must be positive") }
                connectTimeout = .milliseconds(Int64(value * 1000))
            case "batches":
                guard let value = item.value.flatMap(Int.init), value >= 1 else { throw invalid("batches must be at least 1") }
                batches = value
            case "migrate":
                guard let value = item.value, ["true", "false"].contains(value) else { throw invalid("migrate must be true or false") }
                migrateOnStart = value == "true"
            default:
                throw invalid("unknown parameter \"\(item.name)\"")
            }
        }
        if let mode {
            guard let tls = TLSMode(rawValue: mode) else {
                throw invalid("sslmode \"\(mode)\" is not one of \(TLSMode.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            self.tls = tls
        }
    }

    /// `postgres://user:<redacted>@host:port/database?sslmode=…`: what logs and errors show.
    public var description: String {
        "postgres://\(user)\(password == nil ? "" : ":<redacted>")@\(host):\(port)/\(database)?sslmode=\(tls.rawValue)"
    }
}
