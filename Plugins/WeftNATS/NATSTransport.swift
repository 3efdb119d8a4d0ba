import CNATS
#if canImport(Glibc)
import Glibc
#endif
import Logging
import Synchronization
import Weft

/// A ``QueueTransport`` on NATS JetStream (through libnats, Debian's `libnats-dev`).
///
/// - Each queue prefix (a queue's name up to its first dot) has a work-queue stream on file
///   storage, and each queue a durable pull consumer with explicit acks on its own subject
///   (see ``NATSNames``); dead letters go to a second stream of the prefix, with their reason.
/// - Publishes return once the server confirmed them (its PubAck); a batch is pipelined (one
///   wait for all its confirmations).
/// - Delivery counts are the server's (`NumDelivered`); ``DeliverySettlement/retry()``
///   republishes a copy (with its retry count and the losses so far in headers) and acks the
///   original, so that a retry is not counted as a loss; ``DeliverySettlement/abandon()`` NAKs,
///   which the server counts.
/// - Priorities: JetStream has none. A consumer fetches up to its prefetch at once and hands
///   out what it fetched highest priority first, so a priority orders the messages that wait
///   together, up to the prefetch; it does not overtake messages already handed out.
/// - libnats reconnects by itself, for ever. A delivery in hand is marked in progress on the
///   server every third of ``NATSConfiguration/ackWait``, so a long job is not redelivered; the
///   jobs of a consumer that died are redelivered after `ackWait`.
///
/// libnats blocks its callers and runs threads of its own: every blocking call runs on a
/// dedicated thread pool, never on Swift's cooperative pool, and each consumer fetches on a
/// thread of its own.
public final class NATSTransport: QueueTransport, @unchecked Sendable {
    // @unchecked: the connection is thread-safe; the rest is locked.
    let connection: NATSConnection
    let logger: Logger
    /// The queues this transport declared, with their names.
    private let declared = Mutex<[String: NATSNames]>([:])
    private let consumers = Mutex<[ObjectIdentifier: NATSConsumer]>([:])

    /// Threads for libnats's blocking calls (publishes that wait for the server, JetStream
    /// requests), shared by every NATS transport of the process.
    static let blockingCalls = BlockingExecutor(threads: 4)

    private init(connection: NATSConnection, logger: Logger) {
        self.connection = connection
        self.logger = logger
    }

    /// Connects to the server `configuration` names.
    public static func connect(_ configuration: NATSConfiguration, logger: Logger = Logger(label: "weft.nats")) async throws
        -> NATSTransport
    {
        let connection = try await blocking { () throws(NATSError) in try NATSConnection.connect(configuration, logger: logger) }
        return NATSTransport(connection: connection, logger: logger)
    }

    /// Runs `body`, which may block, on ``blockingCalls``.
    static func blocking<T: Sendable>(_ body: @Sendable () throws(NATSError) -> T) async throws(NATSError) -> T {
        let result: Result<T, NATSError> = await withTaskExecutorPreference(blockingCalls) {
            do throws(NATSError) { return .success(try body()) } catch { return .failure(error) }
        }
        return try result.get()
    }

    // MARK: Queues

    public func declare(_ queue: String) async throws {
        _ = try await names(declaring: queue)
    }

    /// The names of `queue`, its streams and consumer made first if this transport has not yet.
    func names(declaring queue: String) async throws(NATSError) -> NATSNames {
        if let names = declared.withLock({ $0[queue] }) { return names }
        let names = try NATSNames(queue: queue)
        let connection = self.connection
        try await Self.blocking { () throws(NATSError) in
            try Self.ensureStream(names.stream, subjects: names.streamSubjects.jobs, workQueue: true, on: connection)
            try Self.ensureStream(names.deadLetterStream, subjects: names.streamSubjects.deadLetters, workQueue: false, on: connection)
            try Self.ensureConsumer(names, on: connection)
        }
        declared.withLock { $0[queue] = names }
        return names
    }

    private static func ensureStream(_ name: String, subjects: [String], workQueue: Bool, on connection: NATSConnection) throws(NATSError) {
        var info: UnsafeMutablePointer<jsStreamInfo>?
        var code = jsErrCode(rawValue: 0)
        let found = js_GetStreamInfo(&info, connection.jetStream, name, nil, &code)
        if found == NATS_OK {
            jsStreamInfo_Destroy(info)
            return
        }
        guard found == NATS_NOT_FOUND else { throw NATSError.call("looking up stream \(name)", found, code: code) }
        var config = jsStreamConfig()
        jsStreamConfig_Init(&config)
        let status = withCStrings(subjects) { subjectPointers in
            name.withCString { namePointer in
                config.Name = namePointer
                config.Subjects = subjectPointers
                config.SubjectsLen = Int32(subjects.count)
                config.Storage = js_FileStorage
                config.Retention = workQueue ? js_WorkQueuePolicy : js_LimitsPolicy
                // Dead letters are read in place by subject (``deadLetters(of:limit:)``).
                config.AllowDirect = !workQueue
                return js_AddStream(&info, connection.jetStream, &config, nil, &code)
            }
        }
        if status == NATS_OK {
            jsStreamInfo_Destroy(info)
            return
        }
        // Another process made it meanwhile.
        if js_GetStreamInfo(&info, connection.jetStream, name, nil, &code) == NATS_OK {
            jsStreamInfo_Destroy(info)
            return
        }
        throw NATSError.call("creating stream \(name)", status, code: code)
    }

    private static func ensureConsumer(_ names: NATSNames, on connection: NATSConnection) throws(NATSError) {
        var info: UnsafeMutablePointer<jsConsumerInfo>?
        var code = jsErrCode(rawValue: 0)
        if js_GetConsumerInfo(&info, connection.jetStream, names.stream, names.consumer, nil, &code) == NATS_OK {
            jsConsumerInfo_Destroy(info)
            return
        }
        var config = jsConsumerConfig()
        jsConsumerConfig_Init(&config)
        let status = names.consumer.withCString { durable in
            names.subject.withCString { subject in
                config.Durable = durable
                config.FilterSubject = subject
                config.AckPolicy = js_AckExplicit
                config.DeliverPolicy = js_DeliverAll
                config.AckWait = NATSConnection.milliseconds(connection.configuration.ackWait) * 1_000_000
                // Weft counts lost deliveries and quarantines a job itself.
                config.MaxDeliver = -1
                config.MaxAckPending = 65_536
                return js_AddConsumer(&info, connection.jetStream, names.stream, &config, nil, &code)
            }
        }
        if status == NATS_OK {
            jsConsumerInfo_Destroy(info)
            return
        }
        if js_GetConsumerInfo(&info, connection.jetStream, names.stream, names.consumer, nil, &code) == NATS_OK {
            jsConsumerInfo_Destroy(info)
            return
        }
        throw NATSError.call("creating consumer \(names.consumer) on stream \(names.stream)", status, code: code)
    }

    // MARK: Publishing

    public func publish(_ message: QueueMessage, to queue: String) async throws {
        let names = try await names(declaring: queue)
        try await publishConfirmed(subject: names.subject, body: message.body, headers: Self.headers(of: message))
    }

    public func publish(_ messages: [QueueMessage], to queue: String) async throws {
        let names = try await names(declaring: queue)
        // Pipelined: every message is sent before the first confirmation is awaited.
        var tickets: [PublishTicket] = []
        tickets.reserveCapacity(messages.count)
        for message in messages {
            let made = try NATSHeader.make(subject: names.subject, body: message.body, headers: Self.headers(of: message))
            tickets.append(connection.startPublish(made))
        }
        for ticket in tickets { try await ticket.wait() }
    }

    /// Publishes one message and waits for the server's confirmation.
    func publishConfirmed(subject: String, body: [UInt8], headers: [(String, String)]) async throws(NATSError) {
        let message = try NATSHeader.make(subject: subject, body: body, headers: headers)
        try await connection.startPublish(message).wait()
    }

    static func headers(of message: QueueMessage) -> [(String, String)] {
        message.priority == 0 ? [] : [(NATSHeader.priority, String(message.priority))]
    }

    // MARK: Consuming

    public func consume(_ queue: String, prefetch: Int) async throws -> QueueConsumer {
        let names = try await names(declaring: queue)
        let consumer = try await NATSConsumer.start(names, prefetch: max(1, prefetch), transport: self)
        consumers.withLock { $0[ObjectIdentifier(consumer)] = consumer }
        return QueueConsumer(consumer)
    }

    func forget(_ consumer: NATSConsumer) {
        _ = consumers.withLock { $0.removeValue(forKey: ObjectIdentifier(consumer)) }
    }

    // MARK: Inspection and dead letters

    public func depth(of queue: String) async throws -> Int {
        let names = try await names(declaring: queue)
        let connection = self.connection
        return try await Self.blocking { () throws(NATSError) in
            var info: UnsafeMutablePointer<jsConsumerInfo>?
            var code = jsErrCode(rawValue: 0)
            try NATSError.check(
                js_GetConsumerInfo(&info, connection.jetStream, names.stream, names.consumer, nil, &code),
                "reading consumer \(names.consumer)", code: code)
            defer { jsConsumerInfo_Destroy(info) }
            return Int(clamping: info?.pointee.NumPending ?? 0)
        }
    }

    public func deadLetters(of queue: String, limit: Int) async throws -> [DeadLetter] {
        let names = try await names(declaring: queue)
        return try await storedDeadLetters(names, limit: limit).map(\.letter)
    }

    /// Up to `limit` dead letters of the queue, oldest first, with their sequence in the stream.
    private func storedDeadLetters(_ names: NATSNames, limit: Int) async throws(NATSError) -> [(sequence: UInt64, letter: DeadLetter)] {
        let connection = self.connection
        return try await Self.blocking { () throws(NATSError) in
            var found: [(UInt64, DeadLetter)] = []
            var next: UInt64 = 1
            while found.count < limit {
                var options = jsDirectGetMsgOptions()
                jsDirectGetMsgOptions_Init(&options)
                var message: OpaquePointer?
                let status = names.deadLetterSubject.withCString { subject in
                    options.Sequence = next
                    options.NextBySubject = subject
                    return js_DirectGetMsg(&message, connection.jetStream, names.deadLetterStream, nil, &options)
                }
                if status == NATS_NOT_FOUND { break }
                try NATSError.check(status, "reading the dead letters of \(names.queue)")
                guard let message else { break }
                defer { natsMsg_Destroy(message) }
                guard let sequence = NATSHeader.value("Nats-Sequence", of: message).flatMap(UInt64.init), sequence >= next else {
                    throw NATSError("NATS: a dead letter of \(names.queue) came back without its sequence")
                }
                next = sequence + 1
                let priority = UInt8(min(NATSHeader.count(NATSHeader.priority, of: message), Int(QueueMessage.maxPriority)))
                let reason = NATSHeader.value(NATSHeader.reason, of: message) ?? ""
                found.append((sequence, DeadLetter(
                    queue: names.queue, message: QueueMessage(body: NATSHeader.body(of: message), priority: priority), reason: reason)))
            }
            return found
        }
    }

    public func redriveDeadLetters(of queue: String, limit: Int, matching: @Sendable (DeadLetter) -> Bool) async throws -> Int {
        let names = try await names(declaring: queue)
        var moved = 0
        // Every dead letter is read first (oldest first); those that do not match stay in place.
        var letters = try await storedDeadLetters(names, limit: Int.max)[...]
        while moved < limit, let (sequence, letter) = letters.popFirst() {
            guard matching(letter) else { continue }
            try await publishConfirmed(subject: names.subject, body: letter.message.body, headers: Self.headers(of: letter.message))
            let connection = self.connection
            try await Self.blocking { () throws(NATSError) in
                var code = jsErrCode(rawValue: 0)
                try NATSError.check(
                    js_DeleteMsg(connection.jetStream, names.deadLetterStream, sequence, nil, &code),
                    "removing a re-driven dead letter of \(queue)", code: code)
            }
            moved += 1
        }
        return moved
    }

    // MARK: Shutting down

    public func shutdown() async {
        for consumer in consumers.withLock({ $0.values }) { await consumer.stop() }
        let connection = self.connection
        _ = try? await Self.blocking { () throws(NATSError) in connection.close() }
    }
}

/// Runs `body` with `strings` as an array of C strings (valid only inside it).
func withCStrings<R>(_ strings: [String], _ body: (UnsafeMutablePointer<UnsafePointer<CChar>?>) -> R) -> R {
    let copies = strings.map { strdup($0) }
    defer { copies.forEach { free($0) } }
    var pointers = copies.map { UnsafePointer<CChar>($0) }
    return pointers.withUnsafeMutableBufferPointer { body($0.baseAddress!) }
}
