import Foundation
import Logging
import Weft
import WeftConformance
import WeftNATS
import WeftTesting

/// The nats-server the tests talk to: the one `scripts/nats.sh start` runs (scripts/test.sh
/// starts it and exports its variables). Without it the tests fail, saying how to start one.
enum NATSServer {
    struct Missing: Error, CustomStringConvertible {
        var description: String {
            "WEFT_NATS_URL is not set: start a server with `eval \"$(scripts/nats.sh start)\"`, or run scripts/test.sh"
        }
    }

    /// `nats://` URL of the test server, with its user.
    static func url() throws -> String {
        guard let value = ProcessInfo.processInfo.environment["WEFT_NATS_URL"], !value.isEmpty else { throw Missing() }
        return value
    }

    static let quietLogger: Logger = {
        var logger = Logger(label: "weft.nats.test")
        logger.logLevel = .error
        return logger
    }()

    /// A transport connected to the test server.
    static func transport(ackWait: Duration = .seconds(30)) async throws -> NATSTransport {
        try await NATSTransport.connect(NATSConfiguration(url: url(), ackWait: ackWait), logger: quietLogger)
    }

    /// Backends for the conformance suites: NATS, with in-memory stores.
    static func harness() -> BackendHarness {
        let clock = ManualClock()
        return BackendHarness(
            makeBackends: {
                WeftBackends(
                    transport: try await transport(), contextStore: InMemoryContextStore(),
                    coordinationStore: InMemoryCoordinationStore(clock: StoreClock(clock)))
            },
            passTime: { clock.advance(by: $0) },
            loseDelivery: { try await $0.abandon() })
    }
}

/// A name no other test uses.
func unique(_ base: String) -> String { "\(base)-\(UUID().uuidString.prefix(8).lowercased())" }

extension NATSServer {
    /// Stops the server and starts it again (same data, same port), running `action` while it
    /// is down; returns once it answers.
    static func restart(between action: () async throws -> Void = {}) async throws {
        try script("stop")
        try await action()
        try script("start")
    }

    private static func script(_ command: String) throws {
        guard let directory = ProcessInfo.processInfo.environment["WEFT_NATS_DIR"], !directory.isEmpty else { throw Missing() }
        let root = String(#filePath).split(separator: "/").dropLast(3).joined(separator: "/")
        let status = system("/\(root)/scripts/nats.sh \(command) \(directory) > /dev/null")
        guard status == 0 else { throw NATSError("scripts/nats.sh \(command) exited with \(status)") }
    }
}
