import Logging
import Weft
import WeftAMQP
import WeftConformance
import WeftTesting

#if canImport(Glibc)
import Glibc
#endif

/// The RabbitMQ the tests talk to: the one `scripts/rabbitmq.sh start` runs (scripts/test.sh
/// starts it and exports its variables). Without it the tests fail, saying how to start one.
enum Broker {
    static func variable(_ name: String) throws -> String {
        guard let value = getenv(name).map({ String(cString: $0) }), !value.isEmpty else {
            throw BrokerMissing(variable: name)
        }
        return value
    }

    /// `amqp://` URL of the test broker.
    static func url() throws -> String { try variable("WEFT_AMQP_URL") }
    /// `amqps://` URL of its TLS listener (certificate for `localhost`).
    static func tlsURL() throws -> String { try variable("WEFT_AMQPS_URL") }
    /// The folder with ca.pem, client.pem and client.key.
    static func tlsDirectory() throws -> String { try variable("WEFT_AMQP_TLS_DIR") }

    /// A transport connected to the test broker, with a prefix of its own.
    static func transport(
        prefix: String = unique("weft-test"), queueType: AMQPConfiguration.QueueType = .classic, maxPriority: UInt8 = 0,
        classicQueueVersion: UInt8? = nil
    ) async throws -> AMQPTransport {
        let configuration = try AMQPConfiguration(
            url: url(),
            options: .init(
                prefix: prefix, reconnect: .exponential(initialDelay: .milliseconds(50), maximumDelay: .milliseconds(500)),
                queueType: queueType, maxPriority: maxPriority, classicQueueVersion: classicQueueVersion))
        return try await AMQPTransport.connect(configuration, logger: quietLogger)
    }

    /// Backends for the conformance suites: AMQP (classic queues with all ten priorities, or
    /// quorum queues), with in-memory stores.
    static func harness(queueType: AMQPConfiguration.QueueType = .classic) -> BackendHarness {
        let clock = ManualClock()
        return BackendHarness(
            makeBackends: {
                WeftBackends(
                    transport: try await transport(queueType: queueType, maxPriority: queueType == .classic ? 9 : 0), contextStore: InMemoryContextStore(),
                    coordinationStore: InMemoryCoordinationStore(clock: StoreClock(clock)))
            },
            passTime: { clock.advance(by: $0) },
            loseDelivery: { try await $0.abandon() })
    }

    /// Stops the broker and starts it again (same data, same ports); returns once it answers.
    static func restart(between action: () async throws -> Void = {}) async throws {
        try script("stop")
        try await action()
        try script("start")
    }

    static func stop() throws { try script("stop") }
    /// Starts the broker again; a start that fails (its reason goes to standard error) is tried
    /// once more after stopping what is left of it, since a loaded machine sometimes trips a
    /// broker restarted seconds after it stopped.
    static func start() throws {
        do {
            try script("start")
        } catch {
            try? script("stop")
            try script("start")
        }
    }

    private static func script(_ command: String) throws {
        let directory = try variable("WEFT_RABBITMQ_DIR")
        let root = String(#filePath).split(separator: "/").dropLast(3).joined(separator: "/")
        let status = system("/\(root)/scripts/rabbitmq.sh \(command) \(directory) > /dev/null")
        guard status == 0 else { throw BrokerMissing(variable: "scripts/rabbitmq.sh \(command) exited with \(status)") }
    }
}

struct BrokerMissing: Error, CustomStringConvertible {
    var variable: String
    var description: String {
        "\(variable) is not set: run the tests with scripts/test.sh, or start a broker with `eval \"$(scripts/rabbitmq.sh start)\"` first"
    }
}

/// A name no other test uses.
func unique(_ base: String) -> String { base + "-" + String(UInt64.random(in: 0...UInt64.max), radix: 36) }

let quietLogger: Logger = {
    var logger = Logger(label: "weft.test")
    logger.logLevel = .critical
    return logger
}()
