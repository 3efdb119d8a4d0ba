import Foundation
import Logging
import NIOCore
import NIOSSL
import PostgresNIO
import Synchronization
import Weft

/// Run state in PostgreSQL: the context store and the coordination store of a fleet whose
/// workers are on several machines, over one pooled client.
///
/// ```swift
/// let store = try await PostgresStateStore.open(PostgresConfiguration(url: "postgres://weft@db/weft?sslmode=verify-full"))
/// let backends = WeftBackends(transport: transport, contextStore: store.contextStore, coordinationStore: store.coordinationStore)
/// …
/// await store.close()
/// ```
///
/// Opening checks the connection (a bad URL, an unreachable server, a wrong password, a missing
/// database each give a ``PostgresStoreError`` saying so) and the schema: it is created or
/// upgraded when ``PostgresConfiguration/migrateOnStart`` allows, and a schema written by a
/// newer Weft is refused. Every protocol operation is one statement (the compound ones call a
/// function the schema installs), atomic on its own.
public final class PostgresStateStore: Sendable {
    /// The configuration it was opened with.
    public let configuration: PostgresConfiguration
    /// The context store.
    public let contextStore: PostgresContextStore
    /// The coordination store.
    public let coordinationStore: PostgresCoordinationStore
    let client: PostgresClient
    private let runner: Task<Void, Never>
    private let statements: StatementCounter

    private init(configuration: PostgresConfiguration, client: PostgresClient, runner: Task<Void, Never>, clock: StoreClock?) {
        self.configuration = configuration
        self.client = client
        self.runner = runner
        let statements = StatementCounter()
        self.statements = statements
        let database = PostgresDatabaseHandle(client: client, configuration: configuration, statements: statements, clock: clock)
        contextStore = PostgresContextStore(database: database)
        coordinationStore = PostgresCoordinationStore(database: database)
    }

    /// Connects, checks the schema (creating or upgrading it when allowed) and returns the store.
    ///
    /// - Parameter clock: for tests only: the time leases, timers and progress use, instead of
    ///   the database's clock.
    /// - Throws: ``PostgresStoreError``.
    public static func open(
        _ configuration: PostgresConfiguration, logger: Logger = Logger(label: "weft.postgres"), clock: StoreClock? = nil
    ) async throws -> PostgresStateStore {
        try await check(configuration)
        let client = PostgresClient(configuration: try clientConfiguration(configuration), backgroundLogger: Self.quiet)
        let runner = Task { await client.run() }
        let store = PostgresStateStore(configuration: configuration, client: client, runner: runner, clock: clock)
        do {
            let schema = PostgresMigrator(client: client, logger: logger)
            let version = try await schema.version()
            if version > PostgresSchema.currentVersion {
                throw PostgresStoreError(
                    .schemaTooNew,
                    "the database \(configuration.database) has Weft schema version \(version), newer than this build reads "
                        + "(\(PostgresSchema.currentVersion)): upgrade Weft")
            }
            if version < PostgresSchema.currentVersion {
                guard configuration.migrateOnStart else {
                    throw PostgresStoreError(
                        .schemaMissing,
                        "the database \(configuration.database) has Weft schema version \(version), this build needs "
                            + "\(PostgresSchema.currentVersion): run `weft store migrate`, or allow migrating on start")
                }
                try await schema.migrate()
            }
            logger.debug("opened the PostgreSQL state store", metadata: ["weft.store": "\(configuration)"])
            return store
        } catch {
            await store.close()
            throw Self.describe(error, configuration: configuration)
        }
    }

    /// Creates or upgrades the schema of the database `configuration` names, and returns the
    /// version it had and the version it has now.
    ///
    /// - Throws: ``PostgresStoreError``, ``PostgresStoreError/Code/schemaTooNew`` for a newer schema.
    public static func migrate(_ configuration: PostgresConfiguration, logger: Logger = Logger(label: "weft.postgres")) async throws
        -> (from: Int, to: Int)
    {
        try await check(configuration)
        let client = PostgresClient(configuration: try clientConfiguration(configuration), backgroundLogger: Self.quiet)
        let runner = Task { await client.run() }
        defer { runner.cancel() }
        do {
            let schema = PostgresMigrator(client: client, logger: logger)
            let before = try await schema.version()
            if before > PostgresSchema.currentVersion {
                throw PostgresStoreError(
                    .schemaTooNew,
                    "the database \(configuration.database) has Weft schema version \(before), newer than this build reads "
                        + "(\(PostgresSchema.currentVersion)): upgrade Weft")
            }
            try await schema.migrate()
            return (before, PostgresSchema.currentVersion)
        } catch {
            throw Self.describe(error, configuration: configuration)
        }
    }

    /// Runs one SQL statement of your own (administration, such as `CREATE DATABASE`), outside
    /// any transaction.
    public func execute(_ sql: String) async throws {
        do {
            try await client.query(PostgresQuery(unsafeSQL: sql))
        } catch {
            throw Self.describe(error, configuration: configuration)
        }
    }

    /// How many statements this store sent, for the benchmarks' statements-per-hop figure.
    public var statementCount: Int { statements.value }

    /// Closes the pool. Operations after it fail.
    public func close() async {
        runner.cancel()
        _ = await runner.value
    }

    /// Opens one connection and closes it: the pool retries a failed connection for ever, so
    /// a wrong password, a missing database or a TLS failure is found here, at once.
    static func check(_ configuration: PostgresConfiguration) async throws {
        let client = try clientConfiguration(configuration)
        let tls: PostgresConnection.Configuration.TLS
        do {
            switch configuration.tls {
            case .disable: tls = .disable
            case .prefer: tls = .prefer(try NIOSSLContext(configuration: try tlsContext(configuration)))
            case .require, .verifyFull: tls = .require(try NIOSSLContext(configuration: try tlsContext(configuration)))
            }
        } catch let error as PostgresStoreError {
            throw error
        } catch {
            throw PostgresStoreError(.tlsFailed, "cannot set up TLS: \(error)")
        }
        var connection = PostgresConnection.Configuration(
            host: configuration.host, port: configuration.port, username: configuration.user, password: configuration.password,
            database: configuration.database, tls: tls)
        connection.options.connectTimeout = .nanoseconds(Int64(client.options.connectTimeout.seconds * 1e9))
        do {
            let opened = try await PostgresConnection.connect(configuration: connection, id: 0, logger: Self.quiet)
            try? await opened.close()
        } catch {
            throw describe(error, configuration: configuration)
        }
    }

    private static func tlsContext(_ configuration: PostgresConfiguration) throws -> TLSConfiguration {
        var context = TLSConfiguration.makeClientConfiguration()
        if configuration.tls == .verifyFull {
            context.certificateVerification = .fullVerification
            if let root = configuration.rootCertificate {
                do {
                    context.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(root))
                } catch {
                    throw PostgresStoreError(.tlsFailed, "cannot read the trusted roots in \(root): \(error)")
                }
            }
        } else {
            context.certificateVerification = .none
        }
        return context
    }

    // MARK: Configuration

    static func clientConfiguration(_ configuration: PostgresConfiguration) throws -> PostgresClient.Configuration {
        let tls: PostgresClient.Configuration.TLS
        switch configuration.tls {
        case .disable: tls = .disable
        case .prefer: tls = .prefer(try tlsContext(configuration))
        case .require, .verifyFull: tls = .require(try tlsContext(configuration))
        }
        var client = PostgresClient.Configuration(
            host: configuration.host, port: configuration.port, username: configuration.user, password: configuration.password,
            database: configuration.database, tls: tls)
        client.options.maximumConnections = configuration.maximumConnections
        client.options.minimumConnections = 0
        client.options.connectTimeout = configuration.connectTimeout
        // Every statement is prepared and keyed by primary keys: one plan serves all values,
        // so the server plans each once per connection instead of on every execution.
        client.options.additionalStartupParameters = [("plan_cache_mode", "force_generic_plan")]
        return client
    }

    /// A clear error for a failure to connect or to run the schema's statements; never the password.
    static func describe(_ error: any Error, configuration: PostgresConfiguration) -> any Error {
        if error is PostgresStoreError { return error }
        if let error = error as? PostgresTransactionError {
            if let cause = error.closureError ?? error.beginError ?? error.commitError {
                return describe(cause, configuration: configuration)
            }
        }
        if let error = error as? PSQLError {
            let where_ = "\(configuration.user)@\(configuration.host):\(configuration.port)/\(configuration.database)"
            if let state = error.serverInfo?[.sqlState] {
                let message = error.serverInfo?[.message] ?? "\(state)"
                switch state {
                case "28P01", "28000":
                    return PostgresStoreError(.authenticationFailed, "the server refused \(where_): \(message)")
                case "3D000":
                    return PostgresStoreError(.unknownDatabase, "the database of \(where_) does not exist: \(message)")
                default:
                    return PostgresStoreError(.queryFailed, "\(where_): \(message) (SQLSTATE \(state))", sqlState: state)
                }
            }
            switch error.code {
            case .failedToAddSSLHandler:
                return PostgresStoreError(.tlsFailed, "TLS with \(where_) could not be set up (sslmode=\(configuration.tls.rawValue))")
            case .sslUnsupported:
                return PostgresStoreError(.tlsFailed, "\(where_) does not offer TLS, which sslmode=\(configuration.tls.rawValue) requires")
            case .connectionError, .serverClosedConnection, .clientClosedConnection:
                var cause = ""
                if let underlying = error.underlying { cause = ": \(underlying)" }
                if cause.contains("SSL") || cause.contains("certificate") || cause.contains("handshake") {
                    return PostgresStoreError(.tlsFailed, "TLS with \(where_) failed\(cause)")
                }
                return PostgresStoreError(.unreachable, "cannot reach the PostgreSQL server at \(configuration.host):\(configuration.port)\(cause)")
            default:
                return PostgresStoreError(.queryFailed, "\(where_): \(String(describing: error.code))")
            }
        }
        return PostgresStoreError(.unreachable, "cannot reach the PostgreSQL server at \(configuration.host):\(configuration.port): \(error)")
    }

    static var quiet: Logger {
        var logger = Logger(label: "weft.postgres.pool")
        logger.logLevel = .critical
        return logger
    }
}

/// Counts statements across tasks.
final class StatementCounter: Sendable {
    private let count = Atomic<Int>(0)
    func add() { count.add(1, ordering: .relaxed) }
    var value: Int { count.load(ordering: .relaxed) }
}
