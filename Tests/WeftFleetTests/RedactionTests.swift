import Foundation
import Logging
import Synchronization
import Testing
import Weft
import WeftAMQP
import WeftPostgres
@testable import WeftCLI
@testable import WeftFleet

/// Secrets stay out of every log line and every error: the broker's and the store's passwords,
/// in sessions that work and in each way a connection fails, at the most verbose log level.
@Suite("Secrets are redacted from every log line and error")
struct RedactionTests {
    /// Every log record, rendered with its metadata, as a log reader would see it.
    final class LogCapture: Sendable {
        private let lines = Mutex<[String]>([])

        var logger: Logger {
            var logger = Logger(label: "weft.redaction-test") { label in Handler(label: label, capture: self) }
            logger.logLevel = .trace
            return logger
        }

        var all: [String] { lines.withLock { $0 } }

        func append(_ line: String) { lines.withLock { $0.append(line) } }

        struct Handler: LogHandler {
            let label: String
            let capture: LogCapture
            var metadata: Logger.Metadata = [:]
            var logLevel: Logger.Level = .trace

            subscript(metadataKey key: String) -> Logger.Metadata.Value? {
                get { metadata[key] }
                set { metadata[key] = newValue }
            }

            func log(event: LogEvent) {
                let merged = metadata.merging(event.metadata ?? [:]) { $1 }
                capture.append("\(event.level) \(label) \(event.message) \(merged) \(event.source) \(event.file)")
            }
        }
    }

    /// The least-privilege user's URL on the fleet's test broker (scripts/test.sh).
    static func applicationURL() throws -> String {
        guard let url = ProcessInfo.processInfo.environment["WEFT_FLEET_AMQP_APP_URL"], !url.isEmpty else {
            throw FleetHarness.Missing()
        }
        return url
    }

    /// The lines and error texts that hold `secret`, for the failure message.
    static func leaks(of secret: String, in texts: [String]) -> [String] {
        texts.filter { $0.contains(secret) }.map { String($0.prefix(300)) }
    }

    @Test("A whole session as the least-privilege user logs its password nowhere, at trace level")
    func workingSession() async throws {
        let url = try Self.applicationURL()
        let configuration = try AMQPConfiguration(url: url)
        let secret = configuration.credentials.password
        #expect(secret.count >= 16, "the test user's password is the one scripts/rabbitmq.sh makes")
        let capture = LogCapture()
        let transport = try await AMQPTransport.connect(configuration, logger: capture.logger)
        let queue = "weft.redaction-\(UUID().uuidString.prefix(8).lowercased())"
        try await transport.declare(queue)
        try await transport.publish(QueueMessage(body: Array("hello".utf8)), to: queue)
        var deliveries = try await transport.consume(queue, prefetch: 1).makeAsyncIterator()
        let delivery = try #require(try await deliveries.next())
        try await delivery.deadLetter(reason: "checking that nothing leaks")
        #expect(try await transport.deadLetters(of: queue, limit: 10).count == 1)
        await transport.shutdown()
        let texts = capture.all + ["\(configuration)", String(reflecting: configuration), "\(configuration.credentials)"]
        #expect(capture.all.count > 0, "the session logged nothing at trace level")
        #expect(Self.leaks(of: secret, in: texts).isEmpty, "\(Self.leaks(of: secret, in: texts))")
    }

    @Test("A wrong password, an unreachable broker and a malformed URL fail without showing the password")
    func failingConnections() async throws {
        let url = try Self.applicationURL()
        let good = try AMQPConfiguration(url: url)
        let secret = "Wr0ng-" + UUID().uuidString
        let port = good.endpoint.port
        let attempts = [
            "amqp://weft:\(secret)@127.0.0.1:\(port)/weft",  // refused by the broker
            "amqp://weft:\(secret)@127.0.0.1:1/weft",  // nothing listens
            "amqp://weft:\(secret)@127.0.0.1:notaport/weft",  // not a URL
            "amqp://weft:\(secret)@[::1/weft",  // not a URL either
            "amqps://weft:\(secret)@localhost:\(port)/weft",  // TLS to a plain port
        ]
        for attempt in attempts {
            let capture = LogCapture()
            var texts: [String] = []
            do {
                let configuration = try AMQPConfiguration(url: attempt)
                let transport = try await AMQPTransport.connect(configuration, logger: capture.logger)
                await transport.shutdown()
                Issue.record("\(attempt.replacingOccurrences(of: secret, with: "…")) connected")
            } catch {
                texts.append("\(error)")
                texts.append(String(reflecting: error))
            }
            texts += capture.all
            #expect(texts.count > 0)
            #expect(Self.leaks(of: secret, in: texts).isEmpty, "\(Self.leaks(of: secret, in: texts))")
        }
    }

    @Test("Fleet settings, weft config check and the store's URL show no password")
    func fleetSettings() throws {
        let secret = "S3cret-" + UUID().uuidString
        var configuration = FleetConfiguration()
        configuration.broker = "amqp://weft:\(secret)@127.0.0.1:5672/weft"
        configuration.store = "postgres://weft:\(secret)@127.0.0.1:5432/weft"
        var texts = [configuration.brokerDescription, configuration.storeDescription]
        texts.append(try configuration.postgresConfiguration().description)
        // A bad setting next to the secrets: the problems name it, and not them.
        configuration.concurrency = 0
        texts += configuration.problems().map(\.description)
        configuration.concurrency = 2
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("weft-redaction-\(UUID().uuidString).json").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        try configuration.json.jsonString().write(toFile: file, atomically: true, encoding: .utf8)
        let check = ConfigCommand.check(try FleetFlags.parse(["--config", file]))
        texts += [check.standardOutput, check.standardError]
        #expect(check.standardOutput.contains("postgres://weft:<redacted>@127.0.0.1:5432/weft"), "\(check.standardOutput)")
        for malformed in ["postgres://weft:\(secret)@127.0.0.1:notaport/weft", "postgres://weft:\(secret)@/weft?sslmode=sometimes"] {
            do {
                _ = try PostgresConfiguration(url: malformed)
                Issue.record("a malformed URL parsed")
            } catch {
                texts += ["\(error)", String(reflecting: error)]
            }
        }
        #expect(Self.leaks(of: secret, in: texts).isEmpty, "\(Self.leaks(of: secret, in: texts))")
    }

    @Test("The foreman hands its workers their settings in a file only its user can read")
    func workerSettingsFile() throws {
        var settings = try FleetHarness.configuration()
        settings.statusDir = FileManager.default.temporaryDirectory.appendingPathComponent("weft-status-\(UUID().uuidString)").path
        let configuration = settings
        defer { try? FileManager.default.removeItem(atPath: configuration.statusDirectory) }
        let foreman = Foreman(configuration: configuration, reload: { configuration }, logger: Logger(label: "test"))
        try foreman.writeWorkerConfiguration(configuration)
        let attributes = try FileManager.default.attributesOfItem(atPath: foreman.workerConfigurationPath)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        #expect(try FleetConfiguration.load(file: foreman.workerConfigurationPath).broker == configuration.broker)
    }
}
