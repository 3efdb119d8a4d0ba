import Foundation
import Logging
import Weft
import WeftAMQP
import WeftLMDB
import WeftPostgres

/// How the processes of a fleet run: one JSON file, environment variables and flags, in rising
/// order of precedence.
///
/// ```json
/// {
///   "broker": "amqp://weft@rabbit.internal/prod",
///   "store": "/var/lib/weft/state",
///   "storeSync": "durable",
///   "queuePrefix": "weft",
///   "queues": ["", "gpu"],
///   "concurrency": 8,
///   "blockingThreads": 2,
///   "inlineSuccessors": 32,
///   "logLevel": "info",
///   "metricsPort": 9464,
///   "drainTimeout": 30,
///   "stallTimeout": 30,
///   "blueprints": ["blueprints/orders.json"],
///   "foreman": {"workers": 2, "minWorkers": 1, "maxWorkers": 4, "scaleInterval": 5, "restartLimit": 5}
/// }
/// ```
public struct FleetConfiguration: Sendable, Hashable {
    /// The foreman's settings.
    public struct Foreman: Sendable, Hashable {
        /// Worker processes to start with. Default 2.
        public var workers = 2
        /// The fewest workers scaling may leave. Default 1.
        public var minWorkers = 1
        /// The most workers scaling may start. Default 4.
        public var maxWorkers = 4
        /// Seconds between two looks at the queues for scaling. Default 5.
        public var scaleInterval = 5.0
        /// Crashes of one worker slot within a minute after which it is not restarted. Default 5.
        public var restartLimit = 5
        /// The command that starts a worker; empty: this executable with `worker`.
        public var workerCommand: [String] = []

        /// The defaults.
        public init() {}
    }

    /// The broker's URL (`amqp://` or `amqps://`). Default `amqp://127.0.0.1:5672/` (credentials
    /// from `WEFT_AMQP_USER`/`WEFT_AMQP_PASSWORD`, else guest).
    public var broker = "amqp://127.0.0.1:5672/"
    /// Whether plain `amqp://` may reach a broker off this machine (default `false`: use
    /// `amqps://`; see ``AMQPConfiguration/Options/allowsPlainTextToRemoteHosts``).
    public var allowPlainAMQP = false
    /// For `amqps://`: a PEM file of the authorities that sign the broker's certificate; `nil`:
    /// the system's. Also `WEFT_TLS_CA`, `--tls-ca`.
    public var tlsCA: String?
    /// For `amqps://` to a broker that asks for one (mutual TLS): this fleet's client certificate,
    /// a PEM file. Also `WEFT_TLS_CERT`, `--tls-cert`.
    public var tlsCertificate: String?
    /// The client certificate's private key, a PEM file. Also `WEFT_TLS_KEY`, `--tls-key`.
    public var tlsKey: String?
    /// The state store: an LMDB directory (default `/var/lib/weft/state`), shared by the workers
    /// of one machine, or a `postgres://` URL, shared by workers on many (see ``postgresConfiguration()``).
    public var store = "/var/lib/weft/state"
    /// Where workers and the foreman of this machine report their state for `weft top`, and
    /// where the foreman leaves its workers' settings; `nil`: `<store>/fleet` for an LMDB store;
    /// for PostgreSQL, `$XDG_RUNTIME_DIR/weft-fleet-<queuePrefix>`, else
    /// `~/.local/state/weft/fleet-<queuePrefix>`. It must belong to this user and be writable by
    /// no other (see ``FleetStatusDirectory/prepare()``): never a shared directory another user
    /// could have created first.
    public var statusDir: String?
    /// How the store's commits reach the disk: `durable` (the default: fsynced before a write is
    /// acknowledged) or `fast` (not fsynced: a power loss loses the last commits).
    public var storeSync: LMDBConfiguration.SyncMode = .durable
    /// Prefixes every queue. Default `weft`.
    public var queuePrefix = "weft"
    /// The queue labels to serve (`""` is the default queue); `nil`: every queue the blueprints use.
    public var queues: [String]?
    /// Jobs one worker process handles at once. Default: the number of cores.
    public var concurrency = ProcessInfo.processInfo.activeProcessorCount
    /// Threads for nodes declared blocking. Default: the number of cores.
    public var blockingThreads = ProcessInfo.processInfo.activeProcessorCount
    /// How many successors in a row a worker runs itself within one delivery, when a node
    /// completes with one ready successor on a queue it serves, instead of publishing each
    /// (``Worker/Configuration/maxInlineSuccessors``); 0 publishes every job. Default 32.
    public var inlineSuccessors = 32
    /// The log level. Default `info`.
    public var logLevel: Logger.Level = .info
    /// The local port of the Prometheus metrics endpoint (`/metrics` on 127.0.0.1); 0 turns it
    /// off. A foreman serves on it and gives its workers the ports after it. Default 0.
    public var metricsPort = 0
    /// Seconds a draining worker waits for the jobs in hand before it hands them back. Default 30.
    public var drainTimeout = 30.0
    /// Blueprint JSON files to serve, besides those compiled into the worker.
    public var blueprints: [String] = []
    /// How long finished runs stay readable, in seconds; `nil` keeps them. Default 3,600.
    public var retention: Double? = 3600
    /// Seconds without progress after which the reconciler repairs a run (re-publishes what its
    /// records say is ready: the work of a worker that died mid-job). Default 30.
    public var stallTimeout = 30.0
    /// The largest message, in bytes, the fleet carries: a run's input, a node's output, a
    /// delivery (see ``FleetOptions/maxMessageSize``). Default 8 MiB.
    public var maxMessageSize = 8 << 20
    /// The foreman's settings.
    public var foreman = Foreman()

    /// The defaults.
    public init() {}

    /// The LMDB configuration of the store.
    public var lmdbConfiguration: LMDBConfiguration {
        LMDBConfiguration(path: store, syncMode: storeSync)
    }

    /// Whether the store is PostgreSQL (a `postgres://` URL) rather than an LMDB directory.
    public var storeIsPostgres: Bool { PostgresConfiguration.isURL(store) }

    /// The PostgreSQL configuration of a `postgres://` store (credentials may come from
    /// `PGPASSWORD` and the other libpq variables).
    public func postgresConfiguration() throws -> PostgresConfiguration {
        try PostgresConfiguration(url: store)
    }

    /// Where workers and the foreman report their state for `weft top` (see ``statusDir``).
    public var statusDirectory: String {
        if let statusDir { return statusDir }
        guard storeIsPostgres else { return (store as NSString).appendingPathComponent("fleet") }
        return Self.privateDirectory(named: "fleet-" + queuePrefix, environment: ProcessInfo.processInfo.environment)
    }

    /// A directory of this user's for run-time files: under `$XDG_RUNTIME_DIR` (a directory
    /// the system makes for the user alone) when set, else under `~/.local/state/weft`, else
    /// under `/var/tmp` with the user id in its name (and checked like any other).
    static func privateDirectory(named name: String, environment: [String: String]) -> String {
        if let runtime = environment["XDG_RUNTIME_DIR"], runtime.hasPrefix("/") {
            return (runtime as NSString).appendingPathComponent("weft-" + name)
        }
        if let home = environment["HOME"], home.hasPrefix("/"), home != "/" {
            return (home as NSString).appendingPathComponent(".local/state/weft/" + name)
        }
        return "/var/tmp/weft-\(name)-\(geteuid())"
    }

    /// The fleet options every process shares.
    public var fleetOptions: FleetOptions {
        FleetOptions(
            queuePrefix: queuePrefix, stallTimeout: .milliseconds(Int64(stallTimeout * 1000)),
            retention: retention.map { .milliseconds(Int64($0 * 1000)) }, maxMessageSize: maxMessageSize)
    }

    /// The broker for people: `amqp[s]://host:port/vhost`, never with credentials.
    public var brokerDescription: String {
        guard let endpoint = try? amqpConfiguration().endpoint else { return "(invalid broker URL)" }
        let vhost = endpoint.virtualHost == "/" ? "/" : "/" + endpoint.virtualHost
        return "\(endpoint.usesTLS ? "amqps" : "amqp")://\(endpoint.host):\(endpoint.port)\(vhost)"
    }

    /// The state store as logs and screens show it: an LMDB directory as it is, a `postgres://`
    /// URL without its password.
    public var storeDescription: String {
        guard storeIsPostgres else { return store }
        return (try? postgresConfiguration())?.description ?? "(invalid postgres:// URL)"
    }

    /// The broker's configuration.
    /// - Throws: ``AMQPError`` with code `invalidURL`.
    public func amqpConfiguration() throws -> AMQPConfiguration {
        var configuration = try AMQPConfiguration(url: broker)
        configuration.options.allowsPlainTextToRemoteHosts = allowPlainAMQP
        configuration.tls.caCertificatePath = tlsCA
        configuration.tls.clientCertificatePath = tlsCertificate
        configuration.tls.clientKeyPath = tlsKey
        return configuration
    }
}

/// A problem in a fleet configuration: where it is and what is wrong.
public struct ConfigurationProblem: Sendable, Hashable, CustomStringConvertible {
    /// The setting (`concurrency`, `foreman.maxWorkers`) or the file.
    public var setting: String
    /// What is wrong, and what is expected.
    public var message: String

    /// Creates a problem.
    public init(_ setting: String, _ message: String) {
        self.setting = setting
        self.message = message
    }

    public var description: String { "\(setting): \(message)" }
}

/// A configuration that cannot be used, with every problem found.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    /// The problems, in the order found.
    public var problems: [ConfigurationProblem]

    public var description: String {
        "invalid configuration:\n" + problems.map { "  \($0)" }.joined(separator: "\n")
    }
}
