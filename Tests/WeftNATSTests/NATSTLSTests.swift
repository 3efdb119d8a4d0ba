import Foundation
import Testing
import Weft
import WeftNATS

extension NATSTests {
    @Suite("TLS")
    struct TLS {
        static func variable(_ name: String) throws -> String {
            guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else { throw NATSServer.Missing() }
            return value
        }

        @Test("Mutual TLS: with the CA and a client certificate, messages go through")
        func mutualTLS() async throws {
            let directory = try Self.variable("WEFT_NATS_TLS_DIR")
            let url = try Self.variable("WEFT_NATS_TLS_URL") + "?ca=\(directory)/ca.pem&cert=\(directory)/client.pem&key=\(directory)/client.key"
            let transport = try await NATSTransport.connect(NATSConfiguration(url: url), logger: NATSServer.quietLogger)
            let queue = unique("tls")
            try await transport.publish(QueueMessage(body: [42]), to: queue)
            let consumer = try await transport.consume(queue, prefetch: 1)
            var iterator = consumer.makeAsyncIterator()
            let delivery = try await iterator.next()
            #expect(delivery?.body == [42])
            try await delivery?.ack()
            await consumer.stop()
            await transport.shutdown()
        }

        @Test("Without a client certificate, or with a host the certificate does not name, the connection is refused with an error that hides the password")
        func refusals() async throws {
            let directory = try Self.variable("WEFT_NATS_TLS_DIR")
            let base = try Self.variable("WEFT_NATS_TLS_URL")
            let password = try #require(URLComponents(string: base)?.password)
            let attempts = [
                base + "?ca=\(directory)/ca.pem",
                base.replacingOccurrences(of: "@localhost:", with: "@127.0.0.1:")
                    + "?ca=\(directory)/ca.pem&cert=\(directory)/client.pem&key=\(directory)/client.key",
                base + "?cert=\(directory)/client.pem&key=\(directory)/client.key",  // the system's CAs do not know the test CA
            ]
            for url in attempts {
                do {
                    let transport = try await NATSTransport.connect(
                        NATSConfiguration(url: url, requestTimeout: .seconds(2)), logger: NATSServer.quietLogger)
                    await transport.shutdown()
                    Issue.record("connected with \(url.replacingOccurrences(of: password, with: "***"))")
                } catch {
                    #expect(error is NATSError)
                    #expect(!"\(error)".contains(password), "the error shows the password: \(error)")
                }
            }
        }
    }
}
