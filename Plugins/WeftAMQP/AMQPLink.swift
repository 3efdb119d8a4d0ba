import CRabbitMQ

#if canImport(Glibc)
import Glibc
#endif

/// A message as it came from the broker: body, priority and the headers Weft uses.
struct AMQPIncomingMessage: Sendable {
    var body: [UInt8]
    var priority: UInt8
    var lostDeliveries: Int
    var brokerDeliveryCount: Int
    /// How many times Weft put the message back (``AMQPHeader/retries``).
    var retries = 0
    var reason: String?
    var originQueue: String?
}

/// A message to publish, with the headers Weft sets.
struct AMQPOutgoingMessage: Sendable {
    var exchange: String
    var routingKey: String
    var body: [UInt8]
    var priority: UInt8
    var lostDeliveries: Int = 0
    var retries: Int = 0
    var reason: String? = nil
    var originQueue: String? = nil
    var mandatory: Bool = true
    /// Published persistent (delivery mode 2), to survive a broker restart.
    var persistent: Bool = true
}

/// One open librabbitmq connection. Not thread-safe: only its ``AMQPConnection``'s thread uses
/// it, from opening to closing.
final class AMQPLink {
    let state: amqp_connection_state_t
    let fileDescriptor: Int32
    /// Channels the broker closed (and this link confirmed closed) since the owner last looked.
    var closedChannels: Set<UInt16> = []
    private var cachedBytes: [String: amqp_bytes_t] = [:]
    /// Publishes and acknowledgements encoded but not yet written (plain sockets only; `nil`
    /// through TLS). Written by ``writePendingFrames()``, which whoever gathers calls before
    /// anything else is sent.
    private var pendingFrames: AMQPFrameBuffer?

    /// Whether ``publish(_:channel:)`` and ``gatherAck(channel:tag:multiple:)`` gather their
    /// frames for ``writePendingFrames()`` (a plain socket) rather than sending each at once (TLS).
    var gathersFrames: Bool { pendingFrames != nil }

    /// Opens a socket (TCP or TLS), logs in and returns the link. Blocking.
    init(configuration: AMQPConfiguration) throws(AMQPError) {
        guard let state = amqp_new_connection() else { throw AMQPError(.connectionLost, "out of memory") }
        self.state = state
        let endpoint = configuration.endpoint
        let socket: OpaquePointer?
        if endpoint.usesTLS {
            socket = amqp_ssl_socket_new(state)
            guard let socket else {
                amqp_destroy_connection(state)
                throw AMQPError(.tlsFailure, "could not create a TLS socket")
            }
            let tls = configuration.tls
            let authorities = tls.caCertificatePath ?? AMQPConfiguration.TLSOptions.systemCertificateAuthorities
            if amqp_ssl_socket_set_cacert(socket, authorities) != AMQP_STATUS_OK.rawValue {
                amqp_destroy_connection(state)
                throw AMQPError(.tlsFailure, "cannot read the CA certificates in \(authorities)")
            }
            if let certificate = tls.clientCertificatePath {
                guard let key = tls.clientKeyPath else {
                    amqp_destroy_connection(state)
                    throw AMQPError(.tlsFailure, "a client certificate needs its key (clientKeyPath)")
                }
                if amqp_ssl_socket_set_key(socket, certificate, key) != AMQP_STATUS_OK.rawValue {
                    amqp_destroy_connection(state)
                    throw AMQPError(.tlsFailure, "cannot read the client certificate \(certificate) or its key")
                }
            }
            amqp_ssl_socket_set_verify_peer(socket, tls.verifiesPeer ? 1 : 0)
            amqp_ssl_socket_set_verify_hostname(socket, tls.verifiesHostname ? 1 : 0)
        } else {
            socket = amqp_tcp_socket_new(state)
            guard socket != nil else {
                amqp_destroy_connection(state)
                throw AMQPError(.connectionLost, "could not create a socket")
            }
        }
        var timeout = timeval(configuration.options.connectTimeout)
        let status = amqp_socket_open_noblock(socket, endpoint.host, Int32(endpoint.port), &timeout)
        guard status == AMQP_STATUS_OK.rawValue else {
            amqp_destroy_connection(state)
            throw Self.openError(status, endpoint: endpoint)
        }
        var rpcTimeout = timeval(configuration.options.operationTimeout)
        amqp_set_rpc_timeout(state, &rpcTimeout)
        let heartbeat = Int32(max(0, configuration.options.heartbeat.components.seconds))
        let reply = weft_amqp_login_plain(
            state, configuration.endpoint.virtualHost, 0, 131_072, heartbeat,
            configuration.credentials.user, configuration.credentials.password)
        if reply.reply_type != AMQP_RESPONSE_NORMAL {
            let error = Self.loginError(reply, configuration: configuration)
            amqp_destroy_connection(state)
            throw error
        }
        fileDescriptor = amqp_get_sockfd(state)
        // On a plain socket, publishes are encoded here and written in batches; through TLS they
        // must go through librabbitmq's socket, which encrypts.
        pendingFrames = endpoint.usesTLS ? nil : AMQPFrameBuffer(frameMax: Int(amqp_get_frame_max(state)))
    }

    deinit {
        for bytes in cachedBytes.values { free(bytes.bytes) }
        amqp_destroy_connection(state)
    }

    /// Says goodbye to the broker (best effort, bounded by the operation timeout).
    func close() {
        _ = amqp_connection_close(state, 200)
    }

    // MARK: Frames

    /// Whether librabbitmq holds input already read from the socket (poll would not see it).
    var hasBufferedInput: Bool { amqp_frames_enqueued(state) != 0 || amqp_data_in_buffer(state) != 0 }

    /// The next frame if one can be read without waiting; also sends a heartbeat when due and
    /// notices a broker gone silent.
    func readFrame(into frame: inout amqp_frame_t) throws(AMQPError) -> Bool {
        var zero = timeval(tv_sec: 0, tv_usec: 0)
        let status = amqp_simple_wait_frame_noblock(state, &frame, &zero)
        if status == AMQP_STATUS_OK.rawValue { return true }
        if status == AMQP_STATUS_TIMEOUT.rawValue { return false }
        throw AMQPError(.connectionLost, "lost the broker: \(Self.statusText(status))")
    }

    /// Reads the header and body frames of a message whose method frame (`basic.deliver`,
    /// `basic.return`, `basic.get-ok`) was just read on `channel`.
    func readContent(channel: amqp_channel_t) throws(AMQPError) -> AMQPIncomingMessage {
        var message = amqp_message_t()
        let reply = amqp_read_message(state, channel, &message, 0)
        guard reply.reply_type == AMQP_RESPONSE_NORMAL else {
            throw AMQPError(.connectionLost, "lost the broker while reading a message: \(Self.replyText(reply))")
        }
        defer { amqp_destroy_message(&message) }
        var incoming = AMQPIncomingMessage(
            body: message.body.len == 0 ? [] : Array(UnsafeRawBufferPointer(start: message.body.bytes, count: message.body.len)),
            priority: 0, lostDeliveries: 0, brokerDeliveryCount: 0)
        let properties = message.properties
        if properties._flags & AMQPMethod.priorityFlag != 0 { incoming.priority = properties.priority }
        if properties._flags & AMQPMethod.headersFlag != 0, properties.headers.num_entries > 0, let entries = properties.headers.entries {
            for index in 0..<Int(properties.headers.num_entries) {
                let key = Self.string(entries[index].key)
                withUnsafePointer(to: entries[index].value) { field in
                    var number: Int64 = 0
                    var bytes = amqp_bytes_t()
                    switch key {
                    case AMQPHeader.lostDeliveries:
                        if weft_amqp_field_int(field, &number) != 0 { incoming.lostDeliveries = AMQPHeader.count(number) }
                    case AMQPHeader.deliveryCount:
                        if weft_amqp_field_int(field, &number) != 0 { incoming.brokerDeliveryCount = AMQPHeader.count(number) }
                    case AMQPHeader.retries:
                        if weft_amqp_field_int(field, &number) != 0 { incoming.retries = AMQPHeader.count(number) }
                    case AMQPHeader.reason:
                        if weft_amqp_field_bytes(field, &bytes) != 0 { incoming.reason = Self.string(bytes) }
                    case AMQPHeader.firstDeathReason:
                        if incoming.reason == nil, weft_amqp_field_bytes(field, &bytes) != 0 { incoming.reason = Self.string(bytes) }
                    case AMQPHeader.queue:
                        if weft_amqp_field_bytes(field, &bytes) != 0 { incoming.originQueue = Self.string(bytes) }
                    default:
                        break
                    }
                }
            }
        }
        return incoming
    }

    /// Holds (`true`) or releases (`false`) outgoing bytes in the kernel (`TCP_CORK`), so that a
    /// run of small frames (a batch of publishes, of acknowledgements) leaves as a few full
    /// segments rather than one per frame: fewer wake-ups of the broker, fewer system calls'
    /// worth of loopback work. Never left on across a synchronous operation.
    func cork(_ on: Bool) {
        guard on != isCorked else { return }
        var value: Int32 = on ? 1 : 0
        _ = setsockopt(fileDescriptor, Int32(IPPROTO_TCP), TCP_CORK, &value, socklen_t(MemoryLayout<Int32>.size))
        isCorked = on
    }

    /// Whether outgoing frames are being held (``cork(_:)``).
    private(set) var isCorked = false

    /// Lets librabbitmq reuse the memory of frames already handled.
    func releaseBuffers() { amqp_maybe_release_buffers(state) }

    // MARK: Methods without replies

    /// Publishes one message on `channel` (in confirm mode, its sequence number is the next one).
    ///
    /// On a plain socket a message without headers is only encoded: it leaves with the next
    /// ``writePendingFrames()``, which the caller must make before sending anything else on this
    /// link (frames must not interleave) and before waiting for the broker.
    func publish(_ message: AMQPOutgoingMessage, channel: amqp_channel_t) throws(AMQPError) {
        let deliveryMode = message.persistent ? AMQPMethod.persistent : AMQPMethod.transient
        if pendingFrames != nil, message.lostDeliveries == 0, message.retries == 0, message.reason == nil, message.originQueue == nil,
            pendingFrames!.appendPublish(
                channel: channel, exchange: message.exchange, routingKey: message.routingKey, mandatory: message.mandatory,
                deliveryMode: deliveryMode, priority: message.priority, body: message.body)
        {
            if pendingFrames!.bytes.count >= Self.pendingFramesLimit { try writePendingFrames() }
            return
        }
        try writePendingFrames()
        var properties = amqp_basic_properties_t()
        properties._flags = AMQPMethod.deliveryModeFlag | AMQPMethod.priorityFlag
        properties.delivery_mode = deliveryMode
        properties.priority = message.priority
        let exchange = bytes(message.exchange)
        let routingKey = bytes(message.routingKey)
        var status: Int32 = 0
        if message.lostDeliveries == 0 && message.retries == 0 && message.reason == nil && message.originQueue == nil {
            status = message.body.withUnsafeBytes { body in
                amqp_basic_publish(
                    state, channel, exchange, routingKey, message.mandatory ? 1 : 0, 0, &properties,
                    amqp_bytes_t(len: body.count, bytes: UnsafeMutableRawPointer(mutating: body.baseAddress)))
            }
        } else {
            let arena = CStringArena()
            var entries: [amqp_table_entry_t] = []
            if message.lostDeliveries > 0 {
                entries.append(weft_amqp_entry_int(bytes(AMQPHeader.lostDeliveries), Int64(message.lostDeliveries)))
            }
            if message.retries > 0 {
                entries.append(weft_amqp_entry_int(bytes(AMQPHeader.retries), Int64(message.retries)))
            }
            if let reason = message.reason {
                entries.append(weft_amqp_entry_string(bytes(AMQPHeader.reason), arena.bytes(reason)))
            }
            if let queue = message.originQueue {
                entries.append(weft_amqp_entry_string(bytes(AMQPHeader.queue), arena.bytes(queue)))
            }
            properties._flags |= AMQPMethod.headersFlag
            status = entries.withUnsafeMutableBufferPointer { table in
                properties.headers = amqp_table_t(num_entries: Int32(table.count), entries: table.baseAddress)
                return message.body.withUnsafeBytes { body in
                    amqp_basic_publish(
                        state, channel, exchange, routingKey, message.mandatory ? 1 : 0, 0, &properties,
                        amqp_bytes_t(len: body.count, bytes: UnsafeMutableRawPointer(mutating: body.baseAddress)))
                }
            }
        }
        guard status == AMQP_STATUS_OK.rawValue else {
            throw AMQPError(.connectionLost, "lost the broker while publishing: \(Self.statusText(status))")
        }
    }

    /// Past this many bytes of encoded publishes, ``publish(_:channel:)`` writes them at once.
    static let pendingFramesLimit = 64 * 1024

    /// Writes the frames ``publish(_:channel:)`` and ``gatherAck(channel:tag:multiple:)``
    /// encoded, in one system call when the socket takes them all. Blocking, like librabbitmq's
    /// own writes. The buffer keeps its memory for the next batch (it is not copied: nothing
    /// else holds it while it is emptied).
    func writePendingFrames() throws(AMQPError) {
        guard pendingFrames?.isEmpty == false else { return }
        let descriptor = fileDescriptor
        let failure = pendingFrames!.bytes.withUnsafeBytes { Self.sendAll($0, to: descriptor) }
        pendingFrames!.removeAll()
        if let failure {
            throw AMQPError(.connectionLost, "lost the broker while writing to it: \(String(cString: strerror(failure)))")
        }
    }

    /// Sends all of `buffer` on `descriptor`, waiting while the socket is full; returns the
    /// error number of a failure, or `nil`.
    private static func sendAll(_ buffer: UnsafeRawBufferPointer, to descriptor: Int32) -> Int32? {
        var written = 0
        while written < buffer.count {
            let count = send(descriptor, buffer.baseAddress! + written, buffer.count - written, Int32(MSG_NOSIGNAL))
            if count > 0 {
                written += count
                continue
            }
            let error = errno
            if count < 0 && error == EINTR { continue }
            if count < 0 && (error == EAGAIN || error == EWOULDBLOCK) {
                var writable = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
                _ = poll(&writable, 1, 1000)
                continue
            }
            return count < 0 ? error : EPIPE
        }
        return nil
    }

    /// Acknowledges a delivery; with `multiple`, every unsettled delivery on `channel` up to it.
    func ack(channel: amqp_channel_t, tag: UInt64, multiple: Bool = false) throws(AMQPError) {
        let status = amqp_basic_ack(state, channel, tag, multiple ? 1 : 0)
        guard status == AMQP_STATUS_OK.rawValue else {
            throw AMQPError(.connectionLost, "lost the broker while acknowledging: \(Self.statusText(status))")
        }
    }

    /// Acknowledges like ``ack(channel:tag:multiple:)``, but on a plain socket only encodes the
    /// acknowledgement: it leaves with the next ``writePendingFrames()``, which the caller must
    /// make before sending anything else on this link.
    func gatherAck(channel: amqp_channel_t, tag: UInt64, multiple: Bool = false) throws(AMQPError) {
        guard pendingFrames != nil else { return try ack(channel: channel, tag: tag, multiple: multiple) }
        pendingFrames!.appendAck(channel: channel, tag: tag, multiple: multiple)
    }

    /// Rejects a delivery, requeueing it (the broker redelivers it, flagged as redelivered).
    func requeue(channel: amqp_channel_t, tag: UInt64) throws(AMQPError) {
        let status = amqp_basic_nack(state, channel, tag, 0, 1)
        guard status == AMQP_STATUS_OK.rawValue else {
            throw AMQPError(.connectionLost, "lost the broker while rejecting: \(Self.statusText(status))")
        }
    }

    /// Answers a broker's `channel.close`.
    func confirmChannelClosed(_ channel: amqp_channel_t) throws(AMQPError) {
        var closeOk = amqp_channel_close_ok_t()
        let status = amqp_send_method(state, channel, AMQPMethod.channelCloseOk, &closeOk)
        guard status == AMQP_STATUS_OK.rawValue else {
            throw AMQPError(.connectionLost, "lost the broker: \(Self.statusText(status))")
        }
    }

    /// Answers a broker's `connection.close`.
    func confirmConnectionClosed() {
        var closeOk = amqp_connection_close_ok_t()
        _ = amqp_send_method(state, 0, AMQPMethod.connectionCloseOk, &closeOk)
    }

    // MARK: Synchronous operations

    /// Opens `channel`.
    func openChannel(_ channel: amqp_channel_t) throws(AMQPError) {
        amqp_channel_open(state, channel)
        try check(channel: channel, "opening channel \(channel)")
    }

    /// Closes `channel`; the broker requeues what it had delivered there unsettled.
    func closeChannel(_ channel: amqp_channel_t) throws(AMQPError) {
        let reply = amqp_channel_close(state, channel, 200)
        try check(reply, channel: channel, "closing channel \(channel)")
    }

    /// Puts `channel` in confirm mode.
    func selectConfirms(_ channel: amqp_channel_t) throws(AMQPError) {
        amqp_confirm_select(state, channel)
        try check(channel: channel, "enabling publisher confirms")
    }

    /// Declares a durable direct exchange.
    func declareExchange(_ name: String, channel: amqp_channel_t) throws(AMQPError) {
        let arena = CStringArena()
        amqp_exchange_declare(state, channel, arena.bytes(name), arena.bytes("direct"), 0, 1, 0, 0, amqp_empty_table)
        try check(channel: channel, "declaring exchange \(name)")
    }

    /// Declares a durable queue (or, `passive`, checks that it exists) and returns how many
    /// messages wait in it.
    @discardableResult
    func declareQueue(
        _ name: String, passive: Bool, arguments: [(String, QueueArgument)], channel: amqp_channel_t
    ) throws(AMQPError) -> Int {
        try declareQueueCounting(name, passive: passive, arguments: arguments, channel: channel).messages
    }

    /// Declares a durable queue (or, `passive`, checks that it exists) and returns how many
    /// messages wait in it and how many consumers it has.
    func declareQueueCounting(
        _ name: String, passive: Bool, arguments: [(String, QueueArgument)], channel: amqp_channel_t
    ) throws(AMQPError) -> (messages: Int, consumers: Int) {
        let arena = CStringArena()
        var entries: [amqp_table_entry_t] = arguments.map { key, value in
            switch value {
            case .int(let number): weft_amqp_entry_int(arena.bytes(key), Int64(number))
            case .string(let text): weft_amqp_entry_string(arena.bytes(key), arena.bytes(text))
            }
        }
        let ok = entries.withUnsafeMutableBufferPointer { table in
            amqp_queue_declare(
                state, channel, arena.bytes(name), passive ? 1 : 0, 1, 0, 0,
                amqp_table_t(num_entries: Int32(table.count), entries: table.baseAddress))
        }
        try check(channel: channel, passive ? "looking up queue \(name)" : "declaring queue \(name)")
        return (Int(ok?.pointee.message_count ?? 0), Int(ok?.pointee.consumer_count ?? 0))
    }

    /// Binds `queue` to `exchange` for `routingKey`.
    func bind(_ queue: String, to exchange: String, routingKey: String, channel: amqp_channel_t) throws(AMQPError) {
        let arena = CStringArena()
        amqp_queue_bind(state, channel, arena.bytes(queue), arena.bytes(exchange), arena.bytes(routingKey), amqp_empty_table)
        try check(channel: channel, "binding queue \(queue)")
    }

    /// Sets the prefetch of `channel`: for the channel as a whole when `shared` (RabbitMQ's
    /// `global` flag: changeable while its consumers consume, but not supported by quorum
    /// queues), else for the consumers started after it.
    func setPrefetch(_ count: Int, shared: Bool, channel: amqp_channel_t) throws(AMQPError) {
        amqp_basic_qos(state, channel, 0, UInt16(clamping: count), shared ? 1 : 0)
        try check(channel: channel, "setting the prefetch")
    }

    /// Starts consuming `queue` on `channel` with manual acknowledgements.
    func consume(_ queue: String, channel: amqp_channel_t) throws(AMQPError) {
        let arena = CStringArena()
        amqp_basic_consume(state, channel, arena.bytes(queue), amqp_empty_bytes, 0, 0, 0, amqp_empty_table)
        try check(channel: channel, "consuming queue \(queue)")
    }

    /// Takes the next message of `queue` without acknowledging it, or `nil` when it is empty.
    func get(_ queue: String, channel: amqp_channel_t) throws(AMQPError) -> (tag: UInt64, message: AMQPIncomingMessage)? {
        let arena = CStringArena()
        let reply = amqp_basic_get(state, channel, arena.bytes(queue), 0)
        try check(reply, channel: channel, "reading queue \(queue)")
        guard reply.reply.id == AMQPMethod.basicGetOk, let ok = reply.reply.decoded?.assumingMemoryBound(to: amqp_basic_get_ok_t.self)
        else { return nil }
        let tag = ok.pointee.delivery_tag
        return (tag, try readContent(channel: channel))
    }

    // MARK: Errors

    /// Throws the failure of the last synchronous operation on `channel`, if any.
    private func check(channel: amqp_channel_t, _ what: String) throws(AMQPError) {
        try check(amqp_get_rpc_reply(state), channel: channel, what)
    }

    private func check(_ reply: amqp_rpc_reply_t, channel: amqp_channel_t, _ what: String) throws(AMQPError) {
        switch reply.reply_type {
        case AMQP_RESPONSE_NORMAL:
            return
        case AMQP_RESPONSE_SERVER_EXCEPTION:
            if reply.reply.id == AMQPMethod.channelClose, let close = reply.reply.decoded?.assumingMemoryBound(to: amqp_channel_close_t.self) {
                let code = close.pointee.reply_code
                let text = Self.string(close.pointee.reply_text)
                try confirmChannelClosed(channel)
                closedChannels.insert(channel)
                throw AMQPError(code == AMQPMethod.notFound ? .notFound : .channelClosed, "\(what): the broker said \(code) \(text)")
            }
            if reply.reply.id == AMQPMethod.connectionClose, let close = reply.reply.decoded?.assumingMemoryBound(to: amqp_connection_close_t.self) {
                confirmConnectionClosed()
                throw AMQPError(.connectionLost, "\(what): the broker closed the connection: \(close.pointee.reply_code) \(Self.string(close.pointee.reply_text))")
            }
            throw AMQPError(.protocolError, "\(what): unexpected reply \(reply.reply.id)")
        default:
            throw AMQPError(.connectionLost, "\(what): \(Self.replyText(reply))")
        }
    }

    /// `name` as bytes that live as long as the link (exchange names, routing keys, header keys).
    private func bytes(_ name: String) -> amqp_bytes_t {
        if let cached = cachedBytes[name] { return cached }
        guard let copy = strdup(name) else { return amqp_empty_bytes }
        let made = amqp_bytes_t(len: strlen(copy), bytes: UnsafeMutableRawPointer(copy))
        cachedBytes[name] = made
        return made
    }

    /// An argument of a queue declaration.
    enum QueueArgument {
        case int(Int)
        case string(String)
    }
}
