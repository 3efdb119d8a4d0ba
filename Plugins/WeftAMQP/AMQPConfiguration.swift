import Foundation
import Logging
import Weft

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where the broker is, who Weft is to it, and how the transport behaves.
///
/// ```swift
/// let configuration = try AMQPConfiguration(url: "amqps://weft@rabbit.internal/prod")
/// let transport = try await AMQPTransport.connect(configuration)
/// ```
///
/// Credentials come from the URL; when it has none, from the `WEFT_AMQP_USER` and
/// `WEFT_AMQP_PASSWORD` environment variables; otherwise RabbitMQ's `guest`/`guest` (which a
/// default broker accepts from loopback only). The password never appears in a description, a
/// log line or an error.
public struct AMQPConfiguration: Sendable, CustomStringConvertible {
    /// Host, port, virtual host, and whether the link is TLS (`amqps://`).
    public var endpoint: Endpoint
    /// User and password.
    public var credentials: Credentials
    /// Certificates and checks for `amqps://`.
    public var tls: TLSOptions
    /// Behaviour: prefix, prefetch, confirms, heartbeats, reconnection, queue type.
    public var options: Options

    /// Creates a configuration from its parts.
    public init(endpoint: Endpoint, credentials: Credentials, tls: TLSOptions = TLSOptions(), options: Options = Options()) {
        self.endpoint = endpoint
        self.credentials = credentials
        self.tls = tls
        self.options = options
    }

    /// Parses `amqp://[user[:password]@]host[:port][/vhost]` (or `amqps://`, port 5671 by
    /// default). The virtual host is the percent-decoded path; no path means `/`.
    /// - Throws: ``AMQPError`` `invalidURL`, saying what is wrong (without the password).
    public init(
        url: String, tls: TLSOptions = TLSOptions(), options: Options = Options(),
        environment: [String: String]? = nil
    ) throws {
        let parsed = try AMQPURL(url)
        let environment = environment ?? Self.processEnvironment(["WEFT_AMQP_USER", "WEFT_AMQP_PASSWORD"])
        let user = parsed.user ?? environment["WEFT_AMQP_USER"] ?? "guest"
        let password = parsed.password ?? environment["WEFT_AMQP_PASSWORD"] ?? (parsed.user == nil ? "guest" : "")
        self.init(
            endpoint: Endpoint(host: parsed.host, port: parsed.port, virtualHost: parsed.virtualHost, usesTLS: parsed.usesTLS),
            credentials: Credentials(user: user, password: password), tls: tls, options: options)
    }

    public var description: String {
        "\(endpoint.usesTLS ? "amqps" : "amqp")://\(credentials.user)@\(endpoint.host):\(endpoint.port)/\(endpoint.virtualHost == "/" ? "" : endpoint.virtualHost)"
    }

    /// Refuses plain AMQP to a broker off this machine unless
    /// ``Options/allowsPlainTextToRemoteHosts`` is set, and warns when it is.
    /// - Throws: ``AMQPError`` with code ``AMQPError/Code/insecureLink``.
    func checkLinkSecurity(logger: Logger) throws(AMQPError) {
        guard !endpoint.usesTLS, !endpoint.isLoopback else { return }
        guard options.allowsPlainTextToRemoteHosts else {
            throw AMQPError(
                .insecureLink,
                "plain amqp:// to \(endpoint.host), which is not on this machine, would send credentials and payloads in the "
                    + "clear: use amqps://, or allow it explicitly (--allow-plain-amqp, allowPlainAMQP, WEFT_ALLOW_PLAIN_AMQP=1)")
        }
        logger.warning(
            "plain AMQP to a broker off this machine: credentials and payloads cross the network in the clear",
            metadata: ["broker": "\(self)"])
    }

    static func processEnvironment(_ names: [String]) -> [String: String] {
        var values: [String: String] = [:]
        for name in names {
            if let value = getenv(name) { values[name] = String(cString: value) }
        }
        return values
    }
}

extension AMQPConfiguration {
    /// Where the broker listens.
    public struct Endpoint: Sendable, Hashable {
        /// Host name or address.
        public var host: String
        /// TCP port.
        public var port: Int
        /// The RabbitMQ virtual host.
        public var virtualHost: String
        /// Whether the link is TLS.
        public var usesTLS: Bool

        /// Creates an endpoint.
        public init(host: String, port: Int? = nil, virtualHost: String = "/", usesTLS: Bool = false) {
            self.host = host
            self.port = port ?? (usesTLS ? 5671 : 5672)
            self.virtualHost = virtualHost
            self.usesTLS = usesTLS
        }

        /// Whether `host` is this machine's loopback interface (`localhost`, `127.0.0.0/8`, `::1`),
        /// where plain AMQP never leaves the machine.
        public var isLoopback: Bool {
            let name = host.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
            if name == "localhost" || name.hasSuffix(".localhost") || name == "::1" || name == "0:0:0:0:0:0:0:1" { return true }
            let octets = name.split(separator: ".", omittingEmptySubsequences: false)
            return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
        }
    }

    /// A user and password. Its description hides the password.
    public struct Credentials: Sendable, Hashable, CustomStringConvertible {
        /// The user name.
        public var user: String
        /// The password.
        public var password: String

        /// Creates credentials.
        public init(user: String, password: String) {
            self.user = user
            self.password = password
        }

        public var description: String { "\(user):<redacted>" }
    }

    /// Certificates and checks for `amqps://`. Peer and hostname verification are on by default.
    public struct TLSOptions: Sendable, Hashable {
        /// PEM file of the certificate authorities to trust; `nil` trusts the system's store.
        public var caCertificatePath: String?
        /// PEM file of the client certificate, for brokers that require one (mutual TLS).
        public var clientCertificatePath: String?
        /// PEM file of the client certificate's private key.
        public var clientKeyPath: String?
        /// Whether the broker's certificate must chain to a trusted authority.
        public var verifiesPeer: Bool
        /// Whether the broker's certificate must name the host connected to.
        public var verifiesHostname: Bool

        /// The system's bundle of trusted authorities on Debian.
        public static let systemCertificateAuthorities = "/etc/ssl/certs/ca-certificates.crt"

        /// Creates TLS options.
        public init(
            caCertificatePath: String? = nil, clientCertificatePath: String? = nil, clientKeyPath: String? = nil,
            verifiesPeer: Bool = true, verifiesHostname: Bool = true
        ) {
            self.caCertificatePath = caCertificatePath
            self.clientCertificatePath = clientCertificatePath
            self.clientKeyPath = clientKeyPath
            self.verifiesPeer = verifiesPeer
            self.verifiesHostname = verifiesHostname
        }
    }

    /// The kind of queue Weft declares.
    ///
    /// Classic queues (the default; their storage version is the broker's unless
    /// ``Options/classicQueueVersion`` says) support the 0–9 priorities of
    /// `QueueMessage` when ``Options/maxPriority`` is set; the count of lost deliveries travels in a message header that the
    /// transport updates when the broker redelivers. Quorum queues are replicated (the choice for
    /// a broker cluster) and count deliveries themselves (`x-delivery-count`), but RabbitMQ 3.10
    /// ignores message priorities on them.
    public enum QueueType: String, Sendable, Hashable {
        /// Classic queues, priorities 0–9.
        case classic
        /// Quorum queues: replicated, no priorities.
        case quorum
    }

    /// How the transport reconnects after losing the broker: delays that grow from
    /// `initialDelay` by `multiplier` up to `maximumDelay`, forever (the gap is logged).
    public struct ReconnectPolicy: Sendable, Hashable {
        /// The first delay.
        public var initialDelay: Duration
        /// The longest delay.
        public var maximumDelay: Duration
        /// The growth of the delay per failed attempt.
        public var multiplier: Double

        /// Growing delays, capped.
        public static func exponential(
            initialDelay: Duration = .milliseconds(100), maximumDelay: Duration = .seconds(5), multiplier: Double = 2
        ) -> ReconnectPolicy {
            ReconnectPolicy(initialDelay: initialDelay, maximumDelay: maximumDelay, multiplier: max(1, multiplier))
        }

        func delay(afterFailures failures: Int) -> Duration {
            var delay = initialDelay
            for _ in 0..<min(failures, 64) {
                delay = delay * multiplier
                if delay >= maximumDelay { return maximumDelay }
            }
            return min(delay, maximumDelay)
        }
    }

    /// How the transport behaves. Every field has a default fit for production.
    public struct Options: Sendable, Hashable {
        /// Names the exchanges (`<prefix>.work`, `<prefix>.dead-letter`), so several Weft
        /// deployments can share a broker (queue names carry the fleet's own prefix).
        public var prefix: String
        /// Caps the prefetch a consumer asks for; `nil` takes what the caller asks.
        public var prefetchLimit: Int?
        /// How many published messages may await the broker's confirmation at once; publishes
        /// beyond wait their turn. Confirms are awaited in batches, not one by one.
        public var confirmWindow: Int
        /// The heartbeat interval asked of the broker; a silent link is declared lost after two.
        public var heartbeat: Duration
        /// How long opening a connection (TCP, TLS, login) may take.
        public var connectTimeout: Duration
        /// How long a synchronous broker operation (declare, depth) may take.
        public var operationTimeout: Duration
        /// How to reconnect after losing the broker.
        public var reconnect: ReconnectPolicy
        /// The kind of queue declared.
        public var queueType: QueueType
        /// The highest message priority classic queues honour (RabbitMQ's `x-max-priority`),
        /// 0–9; 0 (the default) declares queues without priorities. Priority queues cost the
        /// broker about 40% more CPU per message (measured: ~110 µs against ~79 µs a hop, even
        /// with 2 levels ~93 µs), so turn them on only when nodes use priorities; 9 keeps all of
        /// `QueueMessage`'s levels. Changing it for existing queues needs them deleted first.
        public var maxPriority: UInt8
        /// The storage version of classic queues (RabbitMQ's `x-queue-version`, 1 or 2); `nil`
        /// (the default) leaves it to the broker: version 1 on RabbitMQ 3.10–3.12, 2 from 3.13.
        /// On RabbitMQ 3.10, version 2 cost the broker about 20% more CPU per small persistent
        /// message (a 1 → 100 → 1 fan-out: 7.7–8.3 ms a fan against 6.4–6.7). Changing it for
        /// existing queues needs them deleted first.
        public var classicQueueVersion: UInt8?
        /// Whether plain `amqp://` (no TLS) may reach a broker that is not on this machine's
        /// loopback interface. Off by default: credentials and payloads would cross the network
        /// in the clear, so connecting so is refused (``AMQPError/Code/insecureLink``) unless
        /// this is set, and then logged as a warning.
        public var allowsPlainTextToRemoteHosts: Bool

        /// Creates options.
        public init(
            prefix: String = "weft", prefetchLimit: Int? = nil, confirmWindow: Int = 1024,
            heartbeat: Duration = .seconds(10), connectTimeout: Duration = .seconds(10),
            operationTimeout: Duration = .seconds(30), reconnect: ReconnectPolicy = .exponential(),
            queueType: QueueType = .classic, maxPriority: UInt8 = 0, classicQueueVersion: UInt8? = nil,
            allowsPlainTextToRemoteHosts: Bool = false
        ) {
            self.prefix = prefix
            self.prefetchLimit = prefetchLimit
            self.confirmWindow = max(1, confirmWindow)
            self.heartbeat = heartbeat
            self.connectTimeout = connectTimeout
            self.operationTimeout = operationTimeout
            self.reconnect = reconnect
            self.queueType = queueType
            self.maxPriority = min(maxPriority, QueueMessage.maxPriority)
            self.classicQueueVersion = classicQueueVersion
            self.allowsPlainTextToRemoteHosts = allowsPlainTextToRemoteHosts
        }

        /// The exchange work and result messages are published to (direct, durable).
        public var workExchange: String { "\(prefix).work" }
        /// The exchange dead letters go through (direct, durable).
        public var deadLetterExchange: String { "\(prefix).dead-letter" }
        /// The dead-letter queue of `queue`.
        public func deadLetterQueue(of queue: String) -> String { "\(queue).dead-letter" }
    }
}
