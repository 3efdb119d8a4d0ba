import CNATS
import Logging
import Synchronization

/// One connection to a NATS server with JetStream, shared by a transport's publishers and
/// consumers (libnats connections are safe to use from any thread). libnats reconnects by
/// itself, for ever, keeping subscriptions; calls made meanwhile fail and are retried by
/// their callers.
final class NATSConnection: @unchecked Sendable {
    // @unchecked: libnats's connection and contexts are thread-safe; `publishing` is set once,
    // before the connection is shared; the tickets are locked.
    let connection: OpaquePointer
    /// The context for JetStream requests and single publishes.
    let jetStream: OpaquePointer
    let configuration: NATSConfiguration
    /// The context for publishes: asynchronous, each confirmation handed to its ticket.
    private var publishing: OpaquePointer?
    /// Publishes waiting for the server's confirmation, by their message's address.
    private let tickets = Mutex<[UInt: PublishTicket]>([:])
    private let closed = Atomic<Bool>(false)

    private init(connection: OpaquePointer, jetStream: OpaquePointer, configuration: NATSConfiguration) {
        self.connection = connection
        self.jetStream = jetStream
        self.configuration = configuration
    }

    /// Connects (blocking: call on a thread that may block).
    static func connect(_ configuration: NATSConfiguration, logger: Logger) throws(NATSError) -> NATSConnection {
        var options: OpaquePointer?
        try NATSError.check(natsOptions_Create(&options), "creating connection options")
        defer { natsOptions_Destroy(options) }
        try NATSError.check(natsOptions_SetURL(options, configuration.url), "setting the URL \(configuration.redactedURL)")
        try NATSError.check(natsOptions_SetName(options, "weft"), "naming the connection")
        // Reconnect for ever, quickly at first: a fleet outlives broker restarts.
        try NATSError.check(natsOptions_SetMaxReconnect(options, -1), "setting reconnection")
        try NATSError.check(natsOptions_SetReconnectWait(options, 250), "setting the reconnection delay")
        try NATSError.check(natsOptions_SetTimeout(options, Self.milliseconds(configuration.requestTimeout)), "setting the timeout")
        if configuration.usesTLS {
            try NATSError.check(natsOptions_SetSecure(options, true), "enabling TLS")
            if let ca = configuration.caFile {
                try NATSError.check(natsOptions_LoadCATrustedCertificates(options, ca), "loading the CA file \(ca)")
            }
            if let certificate = configuration.certificateFile, let key = configuration.keyFile {
                try NATSError.check(natsOptions_LoadCertificatesChain(options, certificate, key), "loading the client certificate \(certificate)")
            }
        }
        if let credentials = configuration.credentialsFile {
            try NATSError.check(natsOptions_SetUserCredentialsFromFiles(options, credentials, nil), "loading the credentials \(credentials)")
        }
        if let seed = configuration.nkeySeedFile, let key = configuration.nkeyPublicKey {
            try NATSError.check(natsOptions_SetNKeyFromSeed(options, key, seed), "loading the NKey seed \(seed)")
        }
        var connection: OpaquePointer?
        let status = natsConnection_Connect(&connection, options)
        guard status == NATS_OK, let connection else {
            throw NATSError.call("connecting to \(configuration.redactedURL)", status)
        }
        var jetStream: OpaquePointer?
        var jsOptions = jsOptions()
        jsOptions_Init(&jsOptions)
        jsOptions.Wait = Self.milliseconds(configuration.requestTimeout)
        let jsStatus = natsConnection_JetStream(&jetStream, connection, &jsOptions)
        guard jsStatus == NATS_OK, let jetStream else {
            natsConnection_Destroy(connection)
            throw NATSError.call("opening JetStream on \(configuration.redactedURL)", jsStatus)
        }
        logger.info("connected to NATS", metadata: ["weft.nats.url": "\(configuration.redactedURL)"])
        let made = NATSConnection(connection: connection, jetStream: jetStream, configuration: configuration)
        try made.openPublishing()
        return made
    }

    static func milliseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }

    /// Opens the context for publishes, whose confirmations come back through ``confirm(_:failure:)``.
    private func openPublishing() throws(NATSError) {
        var options = jsOptions()
        jsOptions_Init(&options)
        options.Wait = Self.milliseconds(configuration.requestTimeout)
        options.PublishAsync.MaxPending = 65_536
        options.PublishAsync.AckHandler = { _, message, _, failure, closure in
            guard let message, let closure else { return }
            let connection = Unmanaged<NATSConnection>.fromOpaque(closure).takeUnretainedValue()
            let error = failure.map { failure in
                failure.pointee.ErrText.map { NATSError("NATS: the server refused a publish: \(String(cString: $0))") }
                    ?? NATSError.call("publishing", failure.pointee.Err, code: failure.pointee.ErrCode)
            }
            connection.confirm(message, failure: error)
            natsMsg_Destroy(message)
        }
        // The connection outlives the context (destroyed in ``deinit``).
        options.PublishAsync.AckHandlerClosure = Unmanaged.passUnretained(self).toOpaque()
        var context: OpaquePointer?
        let status = natsConnection_JetStream(&context, connection, &options)
        guard status == NATS_OK, let context else { throw NATSError.call("opening a JetStream context", status) }
        publishing = context
    }

    /// Publishes `message` (taking it) without waiting: the ticket returned is completed when
    /// the server confirms it, refuses it, or does not answer in time. Does not block (unless
    /// 65,536 publishes are already waiting for their confirmations).
    func startPublish(_ message: OpaquePointer) -> PublishTicket {
        let ticket = PublishTicket()
        let key = UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(message)))
        guard let publishing, !isClosed else {
            natsMsg_Destroy(message)
            ticket.complete(.failure(NATSError("NATS: the transport is shut down")))
            return ticket
        }
        // Registered first: the confirmation may come before the call returns.
        tickets.withLock { $0[key] = ticket }
        var options = jsPubOptions()
        jsPubOptions_Init(&options)
        options.MaxWait = Self.milliseconds(configuration.requestTimeout)
        var taken: OpaquePointer? = message
        let status = js_PublishMsgAsync(publishing, &taken, &options)
        if status != NATS_OK {
            // The library did not take the message: no confirmation will come.
            if let taken { natsMsg_Destroy(taken) }
            _ = tickets.withLock { $0.removeValue(forKey: key) }
            ticket.complete(.failure(NATSError.call("publishing", status)))
        }
        return ticket
    }

    /// Completes the ticket of `message` (called on libnats's thread, before the message is
    /// destroyed: no other message can have its address yet).
    private func confirm(_ message: OpaquePointer, failure: NATSError?) {
        let key = UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(message)))
        guard let ticket = tickets.withLock({ $0.removeValue(forKey: key) }) else { return }
        ticket.complete(failure.map { .failure($0) } ?? .success(()))
    }

    /// Closes the connection (once), after flushing what it buffered. Its memory stays until
    /// nothing uses it (``deinit``): a settlement made later fails with a clear error instead
    /// of touching freed memory.
    func close() {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        _ = natsConnection_FlushTimeout(connection, 2000)
        natsConnection_Close(connection)
    }

    var isClosed: Bool { closed.load(ordering: .acquiring) }

    deinit {
        close()
        if let publishing { jsCtx_Destroy(publishing) }
        jsCtx_Destroy(jetStream)
        natsConnection_Destroy(connection)
    }
}
