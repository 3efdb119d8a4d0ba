import ArgumentParser

/// The flags every fleet command takes (`weft worker`, `weft foreman`, `weft start`…), and a
/// worker executable built with ``WorkerProgram`` too. Each replaces the file's and the
/// environment's setting.
public struct FleetFlags: ParsableArguments, Sendable {
    @Option(help: "The configuration file (JSON); also WEFT_CONFIG.")
    public var config: String?
    @Option(help: "The broker's URL, amqp:// or amqps://; also WEFT_BROKER.")
    public var broker: String?
    @Option(help: "The state store: an LMDB directory, or a postgres:// URL (password from PGPASSWORD, say); also WEFT_STORE.")
    public var store: String?
    @Option(name: .customLong("store-sync"), help: "durable (fsync every commit, the default) or fast; also WEFT_STORE_SYNC.")
    public var storeSync: String?
    @Option(name: .customLong("queue-prefix"), help: "Prefixes every queue name; also WEFT_QUEUE_PREFIX.")
    public var queuePrefix: String?
    @Option(name: .customLong("queue"), help: "A queue label to serve (repeat; \"\" is the default queue); also WEFT_QUEUES.")
    public var queues: [String] = []
    @Option(help: "Jobs a worker handles at once; also WEFT_CONCURRENCY.")
    public var concurrency: Int?
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical; also WEFT_LOG_LEVEL.")
    public var logLevel: String?
    @Option(name: .customLong("metrics-port"), help: "Serve Prometheus metrics on 127.0.0.1:<port>/metrics; 0: off. Also WEFT_METRICS_PORT.")
    public var metricsPort: Int?
    @Option(name: .customLong("drain-timeout"), help: "Seconds a stopping worker waits for its jobs in hand.")
    public var drainTimeout: Double?
    @Option(name: .customLong("blueprint"), help: "A blueprint JSON file to serve (repeat).")
    public var blueprints: [String] = []
    @Option(name: .customLong("tls-ca"), help: "For amqps://: a PEM file of the authorities that sign the broker's certificate; also WEFT_TLS_CA.")
    public var tlsCA: String?
    @Option(name: .customLong("tls-cert"), help: "For amqps:// with mutual TLS: the client certificate (PEM); also WEFT_TLS_CERT.")
    public var tlsCertificate: String?
    @Option(name: .customLong("tls-key"), help: "The client certificate's private key (PEM); also WEFT_TLS_KEY.")
    public var tlsKey: String?
    @Flag(name: .customLong("allow-plain-amqp"), help: "Allow amqp:// (no TLS) to a broker off this machine; also WEFT_ALLOW_PLAIN_AMQP=1.")
    public var allowPlainAMQP = false

    public init() {}

    /// The overrides these flags make.
    public var overrides: FleetConfiguration.Overrides {
        var overrides = FleetConfiguration.Overrides()
        overrides.broker = broker
        overrides.store = store
        overrides.storeSync = storeSync
        overrides.queuePrefix = queuePrefix
        overrides.queues = queues.isEmpty ? nil : queues
        overrides.concurrency = concurrency
        overrides.logLevel = logLevel
        overrides.metricsPort = metricsPort
        overrides.drainTimeout = drainTimeout
        overrides.blueprints = blueprints
        if allowPlainAMQP { overrides.allowPlainAMQP = true }
        overrides.tlsCA = tlsCA
        overrides.tlsCertificate = tlsCertificate
        overrides.tlsKey = tlsKey
        return overrides
    }

    /// The configuration: file, environment, then these flags.
    /// - Throws: ``ConfigurationError`` with every problem.
    public func load() throws(ConfigurationError) -> FleetConfiguration {
        try FleetConfiguration.load(file: config, overrides: overrides)
    }
}
