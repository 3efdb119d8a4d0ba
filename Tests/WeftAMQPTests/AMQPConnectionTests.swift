import Testing
import Weft
import WeftAMQP

#if canImport(Glibc)
import Glibc
#endif

extension AMQPTests {
    @Suite("Connecting: URLs, credentials, reachability, TLS")
    struct Connecting {
        @Test("Bad URLs are refused with the reason, never echoing the password")
        func badURLs() throws {
            for (url, reason) in [
                ("http://127.0.0.1/", "unknown scheme"), ("127.0.0.1:5672", "no scheme"), ("amqp://", "no host"),
                ("amqp://guest:s3cret@host:99999/", "bad port"), ("amqp://guest:s3cret@host:abc/", "bad port"),
                ("amqp://host/%zz", "percent-encoding"),
            ] {
                let error = #expect(throws: AMQPError.self) { try AMQPConfiguration(url: url) }
                #expect(error?.code == .invalidURL)
                #expect(error?.message.contains(reason) == true, "\(url): \(error?.message ?? "")")
                #expect(error?.message.contains("s3cret") == false)
            }
            let parsed = try AMQPConfiguration(url: "amqps://us%40er:p%3Ass@rabbit.example:1234/prod%2Fa")
            #expect(parsed.endpoint == .init(host: "rabbit.example", port: 1234, virtualHost: "prod/a", usesTLS: true))
            #expect(parsed.credentials == .init(user: "us@er", password: "p:ss"))
            #expect(!"\(parsed)".contains("p:ss"))
            let defaults = try AMQPConfiguration(url: "amqp://127.0.0.1", environment: ["WEFT_AMQP_USER": "u", "WEFT_AMQP_PASSWORD": "pw"])
            #expect(defaults.endpoint.port == 5672 && defaults.endpoint.virtualHost == "/")
            #expect(defaults.credentials == .init(user: "u", password: "pw"))
        }

        @Test("An unreachable broker and an unknown host give `unreachable`")
        func unreachable() async throws {
            let closedPort = try await AMQPTransportError.connect("amqp://127.0.0.1:1/")
            #expect(closedPort.code == .unreachable)
            #expect(closedPort.message.contains("127.0.0.1:1"), "\(closedPort)")
            let unknownHost = try await AMQPTransportError.connect("amqp://no-such-host.invalid/", allowPlain: true)
            #expect(unknownHost.code == .unreachable)
            #expect(unknownHost.message.contains("no-such-host.invalid"), "\(unknownHost)")
        }

        @Test("Plain AMQP to a broker off this machine is refused unless allowed; loopback and amqps:// need nothing")
        func plainToRemoteHosts() async throws {
            for url in ["amqp://user:s3cret@rabbit.example/", "amqp://10.1.2.3/", "amqp://[2001:db8::1]/", "amqp://127.0.0.1.example/"] {
                let refused = try await AMQPTransportError.connect(url)
                #expect(refused.code == .insecureLink, "\(url): \(refused)")
                #expect(refused.message.contains("amqps://") && !refused.message.contains("s3cret"), "\(refused)")
            }
            for host in ["127.0.0.1", "127.8.9.10", "localhost", "LOCALHOST", "::1", "[::1]"] {
                #expect(AMQPConfiguration.Endpoint(host: host).isLoopback, "\(host)")
            }
            for host in ["128.0.0.1", "127.0.0", "localhost.example", "10.0.0.1", "rabbit"] {
                #expect(!AMQPConfiguration.Endpoint(host: host).isLoopback, "\(host)")
            }
            // Allowed explicitly: the check passes, and the connection proceeds (to a host that does not exist).
            let allowed = try await AMQPTransportError.connect("amqp://no-such-host.invalid/", allowPlain: true)
            #expect(allowed.code == .unreachable, "\(allowed)")
            // TLS to a remote host is never refused by the check.
            let tls = try await AMQPTransportError.connect("amqps://no-such-host.invalid/")
            #expect(tls.code != .insecureLink, "\(tls)")
        }

        @Test("Wrong credentials give `authenticationFailed`, without the password")
        func wrongCredentials() async throws {
            let url = try Broker.url().replacingFirst("guest:guest@", with: "guest:wr0ng-pa55@")
            let error = try await AMQPTransportError.connect(url)
            #expect(error.code == .authenticationFailed, "\(error)")
            #expect(!error.message.contains("wr0ng-pa55"))
            let vhost = try await AMQPTransportError.connect(try Broker.url() + "no-such-vhost")
            #expect(vhost.code == .authenticationFailed, "\(vhost)")
        }

        @Test("The least-privilege user of the setup script runs a fleet's queues, and nothing outside its names")
        func leastPrivilegeUser() async throws {
            let url = try Broker.variable("WEFT_AMQP_APP_URL")
            let transport = try await AMQPTransport.connect(
                try AMQPConfiguration(url: url, options: .init(prefix: "weft")), logger: quietLogger)
            let queue = "weft." + unique("app")
            try await transport.declare(queue)
            try await transport.publish([QueueMessage(body: [1]), QueueMessage(body: [2])], to: queue)
            let consumer = try await transport.consume(queue, prefetch: 2)
            var iterator = consumer.makeAsyncIterator()
            let first = try #require(try await iterator.next())
            try await first.deadLetter(reason: "checking permissions")
            let second = try #require(try await iterator.next())
            try await second.ack()
            await consumer.stop()
            let letters = try await transport.deadLetters(of: queue, limit: 10)
            #expect(letters.map(\.message.body) == [[1]], "\(letters)")
            // A queue outside its names is refused by the broker.
            let refused = await #expect(throws: (any Error).self) { try await transport.declare("other." + unique("app")) }
            #expect("\(refused.map { "\($0)" } ?? "")".contains("ACCESS_REFUSED"), "\(String(describing: refused))")
            await transport.shutdown()
            // And so is another virtual host.
            let vhost = try await AMQPTransportError.connect(String(url.dropLast("weft".count)))
            #expect(vhost.code == .authenticationFailed, "\(vhost)")
        }

        @Test("TLS with the right CA connects and carries messages; mutual TLS too")
        func tlsConnects() async throws {
            let directory = try Broker.tlsDirectory()
            for tls in [
                AMQPConfiguration.TLSOptions(caCertificatePath: "\(directory)/ca.pem"),
                AMQPConfiguration.TLSOptions(
                    caCertificatePath: "\(directory)/ca.pem", clientCertificatePath: "\(directory)/client.pem",
                    clientKeyPath: "\(directory)/client.key"),
            ] {
                let configuration = try AMQPConfiguration(url: Broker.tlsURL(), tls: tls, options: .init(prefix: unique("tls")))
                let transport = try await AMQPTransport.connect(configuration, logger: quietLogger)
                let queue = unique("tls")
                try await transport.declare(queue)
                try await transport.publish(QueueMessage(body: [1, 2, 3]), to: queue)
                let consumer = try await transport.consume(queue, prefetch: 1)
                var iterator = consumer.makeAsyncIterator()
                let delivery = try #require(try await iterator.next())
                #expect(delivery.body == [1, 2, 3])
                try await delivery.ack()
                await consumer.stop()
                await transport.shutdown()
            }
        }

        @Test("TLS refuses a broker signed by another CA, and a certificate for another host")
        func tlsRefuses() async throws {
            let directory = try Broker.tlsDirectory()
            let otherCA = "/tmp/\(unique("weft-other-ca"))"
            #expect(system(
                "mkdir -p \(otherCA) && openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=Other -keyout \(otherCA)/ca.key -out \(otherCA)/ca.pem 2>/dev/null"
            ) == 0)
            defer { _ = system("rm -rf \(otherCA)") }
            let untrusted = try await AMQPTransportError.connect(
                try Broker.tlsURL(), tls: .init(caCertificatePath: "\(otherCA)/ca.pem"))
            #expect(untrusted.code == .tlsFailure, "\(untrusted)")
            #expect(untrusted.message.contains("trusted"), "\(untrusted)")
            // The broker's certificate names "localhost" only.
            let byAddress = try Broker.tlsURL().replacingFirst("@localhost:", with: "@127.0.0.1:")
            let wrongHost = try await AMQPTransportError.connect(byAddress, tls: .init(caCertificatePath: "\(directory)/ca.pem"))
            #expect(wrongHost.code == .tlsFailure, "\(wrongHost)")
            #expect(wrongHost.message.contains("does not name 127.0.0.1"), "\(wrongHost)")
            let missingFile = try await AMQPTransportError.connect(try Broker.tlsURL(), tls: .init(caCertificatePath: "/nonexistent.pem"))
            #expect(missingFile.code == .tlsFailure && missingFile.message.contains("/nonexistent.pem"), "\(missingFile)")
        }
    }
}

/// Connects and returns the error, failing the test if it connected.
enum AMQPTransportError {
    static func connect(_ url: String, tls: AMQPConfiguration.TLSOptions = .init(), allowPlain: Bool = false) async throws -> AMQPError {
        let configuration = try AMQPConfiguration(
            url: url, tls: tls, options: .init(connectTimeout: .seconds(5), allowsPlainTextToRemoteHosts: allowPlain))
        do {
            let transport = try await AMQPTransport.connect(configuration, logger: quietLogger)
            await transport.shutdown()
        } catch let error as AMQPError {
            return error
        }
        Issue.record("connected to \(configuration)")
        return AMQPError(.protocolError, "connected")
    }
}

extension String {
    func replacingFirst(_ target: String, with replacement: String) -> String {
        guard let range = range(of: target) else { return self }
        return replacingCharacters(in: range, with: replacement)
    }
}
