import CNATS
import Logging
import Synchronization

/// One connection to a NATS server with JetStream, shared by a transport's publishers and
/// consumers (libnats connections are safe to use from any thread). libnats reconnects by
/// itself, for ever, keeping subscriptions; calls made meanwhile fail and are retried by
/// their callers.
final class NATSConnection: @unchecked Sendable {
    // @unchecked: libnats's connection and contexts are thread-safe; the pool is locked.
    let connection: OpaquePointer
    /// The context for JetStream requests and single publishes.
    let jetStream: OpaquePointer
    let configuration: NATSConfiguration
    private let publishers = Mutex<[AsyncPublisher]>([])
    private let closed = Atomic<Bool>(false)

    /// A JetStream context for pipelined publishes, with the failures its error handler saw.
    final class AsyncPublisher: @unchecked Sendable {
        // @unchecked: `context` is used by one batch at a time (taken from the pool);
        // `failures` is locked, written by libnats's thread.
        var context: OpaquePointer?
        let failures = Mutex<[String]>([])
    }

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
        return NATSConnection(connection: connection, jetStream: jetStream, configuration: configuration)
    }

    static func milliseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }

    /// A publisher for a pipelined batch, from the pool or new; give it back with ``give(_:)``.
    func takePublisher() throws(NATSError) -> AsyncPublisher {
        if let publisher = publishers.withLock({ $0.popLast() }) { return publisher }
        let publisher = AsyncPublisher()
        var options = jsOptions()
        jsOptions_Init(&options)
        options.Wait = Self.milliseconds(configuration.requestTimeout)
        options.PublishAsync.MaxPending = 4096
        options.PublishAsync.ErrHandler = { _, failure, closure in
            guard let failure, let closure else { return }
            let publisher = Unmanaged<AsyncPublisher>.fromOpaque(closure).takeUnretainedValue()
            let text = failure.pointee.ErrText.map { String(cString: $0) } ?? String(cString: natsStatus_GetText(failure.pointee.Err))
            publisher.failures.withLock { $0.append(text) }
        }
        // The pool keeps the publisher alive as long as its context (closed in ``close()``).
        options.PublishAsync.ErrHandlerClosure = Unmanaged.passUnretained(publisher).toOpaque()
        var context: OpaquePointer?
        let status = natsConnection_JetStream(&context, connection, &options)
        guard status == NATS_OK, let context else { throw NATSError.call("opening a JetStream context", status) }
        publisher.context = context
        return publisher
    }

    /// Returns a publisher to the pool.
    func give(_ publisher: AsyncPublisher) {
        publishers.withLock { $0.append(publisher) }
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
        for publisher in publishers.withLock({ pool in defer { pool.removeAll() }; return pool }) {
            if let context = publisher.context { jsCtx_Destroy(context) }
            publisher.context = nil
        }
        jsCtx_Destroy(jetStream)
        natsConnection_Destroy(connection)
    }
}
