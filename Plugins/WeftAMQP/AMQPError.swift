/// An error of the AMQP transport: what went wrong, as a code a program can match, and a
/// message for people. Messages never contain credentials.
public struct AMQPError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What kind of failure it was. Extensible: match the codes you handle and treat the rest
    /// alike.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String

        /// The broker URL could not be understood.
        public static let invalidURL = Code(name: "invalid_url")
        /// The broker could not be reached: name resolution, refused or timed-out connection.
        public static let unreachable = Code(name: "unreachable")
        /// The broker refused the credentials (or the virtual host).
        public static let authenticationFailed = Code(name: "authentication_failed")
        /// The TLS handshake failed: an untrusted certificate, a hostname mismatch, a refused
        /// client certificate, or unreadable key material.
        public static let tlsFailure = Code(name: "tls_failure")
        /// The connection was lost or closed by the broker.
        public static let connectionLost = Code(name: "connection_lost")
        /// The broker closed a channel because of an operation (the reply code says which).
        public static let channelClosed = Code(name: "channel_closed")
        /// The queue or exchange does not exist.
        public static let notFound = Code(name: "not_found")
        /// A mandatory publish reached no queue: nothing is bound for its routing key.
        public static let unroutable = Code(name: "unroutable")
        /// The broker refused to take responsibility for a published message.
        public static let publishRefused = Code(name: "publish_refused")
        /// The transport was shut down.
        public static let shutdown = Code(name: "shutdown")
        /// The broker said something the transport does not expect.
        public static let protocolError = Code(name: "protocol_error")
        /// Plain AMQP to a broker off this machine, not allowed explicitly.
        public static let insecureLink = Code(name: "insecure_link")

        public var description: String { name }
    }

    /// What kind of failure.
    public var code: Code
    /// What happened, for people.
    public var message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "AMQP \(code): \(message)" }
}
