import Foundation

/// Where and how the NATS transport connects: a `nats://` (or `tls://`) URL and options.
///
/// The URL may carry credentials (`nats://user:password@host:4222`, `nats://token@host:4222`);
/// they are never logged (see ``redactedURL``). Its query may set the options below:
/// `ack-wait=30` (seconds), `ca=/path/ca.pem`, `cert=/path/client.pem`, `key=/path/client.key`,
/// `creds=/path/user.creds`, `nkey-seed=/path/seed.nk` and `nkey=PUBLIC_KEY`, for example
/// `tls://localhost:4222?ca=/etc/weft/ca.pem`.
public struct NATSConfiguration: Sendable, Hashable {
    /// The server's URL, without its query: what libnats connects to.
    public var url: String
    /// How long the server waits for a delivery's settlement before it hands the message to
    /// another consumer. The transport tells the server that a delivery in hand is still being
    /// worked on well before that, so a long job is not redelivered; a consumer that died is
    /// noticed after this long.
    public var ackWait: Duration
    /// Whether the connection uses TLS (a `tls://` URL, or any of the TLS files).
    public var usesTLS: Bool
    /// The certificate authorities to trust (PEM), instead of the system's.
    public var caFile: String?
    /// The client's certificate chain (PEM), for mutual TLS; with ``keyFile``.
    public var certificateFile: String?
    /// The client's private key (PEM), for mutual TLS.
    public var keyFile: String?
    /// A credentials file (JWT and NKey seed, as `nsc` makes them).
    public var credentialsFile: String?
    /// A file holding an NKey seed, with ``nkeyPublicKey``.
    public var nkeySeedFile: String?
    /// The NKey's public key (starts with `U`).
    public var nkeyPublicKey: String?
    /// How long publishes and JetStream requests wait for the server's answer.
    public var requestTimeout: Duration

    /// Creates a configuration.
    public init(
        url: String, ackWait: Duration = .seconds(30), caFile: String? = nil, certificateFile: String? = nil, keyFile: String? = nil,
        credentialsFile: String? = nil, nkeySeedFile: String? = nil, nkeyPublicKey: String? = nil,
        requestTimeout: Duration = .seconds(5)
    ) throws(NATSError) {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
            scheme == "nats" || scheme == "tls", components.host.map({ !$0.isEmpty }) == true
        else {
            throw NATSError("NATS: \(Self.redacted(url)) is not a nats:// or tls:// URL with a host", isPermanent: true)
        }
        var bare = components
        bare.query = nil
        self.url = bare.string ?? url
        self.ackWait = ackWait
        self.caFile = caFile
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.credentialsFile = credentialsFile
        self.nkeySeedFile = nkeySeedFile
        self.nkeyPublicKey = nkeyPublicKey
        self.requestTimeout = requestTimeout
        for item in components.queryItems ?? [] {
            guard let value = item.value, !value.isEmpty else {
                throw NATSError("NATS: the URL's option \"\(item.name)\" has no value", isPermanent: true)
            }
            switch item.name {
            case "ack-wait":
                guard let seconds = Double(value), seconds.isFinite, seconds >= 1, seconds <= 86_400 else {
                    throw NATSError("NATS: ack-wait must be a number of seconds from 1 to 86400, not \"\(value.prefix(40))\"", isPermanent: true)
                }
                self.ackWait = .milliseconds(Int64(seconds * 1000))
            case "ca": self.caFile = value
            case "cert": self.certificateFile = value
            case "key": self.keyFile = value
            case "creds": self.credentialsFile = value
            case "nkey-seed": self.nkeySeedFile = value
            case "nkey": self.nkeyPublicKey = value
            default:
                throw NATSError(
                    "NATS: unknown URL option \"\(item.name.prefix(40))\" (known: ack-wait, ca, cert, key, creds, nkey-seed, nkey)",
                    isPermanent: true)
            }
        }
        usesTLS = scheme == "tls" || self.caFile != nil || self.certificateFile != nil
        if (self.certificateFile == nil) != (self.keyFile == nil) {
            throw NATSError("NATS: a client certificate needs its key, and a key its certificate (cert and key)", isPermanent: true)
        }
        if (self.nkeySeedFile == nil) != (self.nkeyPublicKey == nil) {
            throw NATSError("NATS: an NKey needs both its public key (nkey) and its seed file (nkey-seed)", isPermanent: true)
        }
        for (name, file) in [("ca", self.caFile), ("cert", self.certificateFile), ("key", self.keyFile),
            ("creds", self.credentialsFile), ("nkey-seed", self.nkeySeedFile)]
        {
            if let file, !FileManager.default.isReadableFile(atPath: file) {
                throw NATSError("NATS: the \(name) file \(file.debugDescription) cannot be read", isPermanent: true)
            }
        }
    }

    /// The URL with any password or token replaced by `***`: what logs and errors show.
    public var redactedURL: String { Self.redacted(url) }

    static func redacted(_ url: String) -> String {
        guard var components = URLComponents(string: url) else { return "(a URL that does not parse)" }
        if components.password != nil { components.password = "***" } else if components.user != nil { components.user = "***" }
        components.query = nil
        return components.string ?? "(a URL)"
    }
}
