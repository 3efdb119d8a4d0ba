import CRabbitMQ
import DequeModule
import Logging
import Synchronization
import Weft

#if canImport(Glibc)
import Glibc
#endif

/// One AMQP connection, owned by a dedicated thread (``AMQPConnectionLoop``). Other threads
/// and tasks talk to it only through commands put in its inbox; the thread sleeps in `poll` on
/// the socket and a wake-up `eventfd`, so it never spins and never blocks the cooperative pool.
final class AMQPConnection: Sendable {
    /// What the connection is for. Publishing and consuming use separate connections, so a
    /// broker that blocks publishers (a resource alarm) does not stop acknowledgements.
    enum Role: String, Sendable {
        case publisher, consumer
    }

    let role: Role
    let configuration: AMQPConfiguration
    let logger: Logger
    let counters: AMQPCounters
    /// Runs on the connection's thread after every (re)connection, before anything else:
    /// declares the topology again.
    let onConnect: @Sendable (AMQPOperationContext) throws(AMQPError) -> Void
    private let inbox = Mutex(Inbox())
    let wakeDescriptor: Int32

    struct Inbox {
        var commands: Deque<Command> = []
        var sleeping = false
        var closed = false
    }

    init(
        role: Role, configuration: AMQPConfiguration, logger: Logger, counters: AMQPCounters,
        onConnect: @escaping @Sendable (AMQPOperationContext) throws(AMQPError) -> Void
    ) throws {
        let descriptor = eventfd(0, Int32(EFD_CLOEXEC) | Int32(EFD_NONBLOCK))
        guard descriptor >= 0 else { throw AMQPError(.connectionLost, "eventfd failed: errno \(errno)") }
        self.role = role
        self.configuration = configuration
        var logger = logger
        logger[metadataKey: "amqp.connection"] = .string(role.rawValue)
        self.logger = logger
        self.counters = counters
        self.onConnect = onConnect
        self.wakeDescriptor = descriptor
    }

    deinit { close(wakeDescriptor) }

    /// Starts the connection's thread and returns once the first connection is up.
    /// - Throws: the first connection's failure (``AMQPError``: unreachable, refused login, TLS).
    func start() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
            let loop = AMQPConnectionLoop(connection: self, started: continuation)
            AMQPThread.detach(name: "weft-amqp-\(role.rawValue)") { loop.run() }
        }
    }

    // MARK: Inbox

    /// Hands `command` to the connection's thread, waking it if it sleeps.
    func submit(_ command: Command) {
        let (accepted, wake) = inbox.withLock { inbox -> (Bool, Bool) in
            guard !inbox.closed else { return (false, false) }
            inbox.commands.append(command)
            guard inbox.sleeping else { return (true, false) }
            inbox.sleeping = false
            return (true, true)
        }
        guard accepted else { return command.fail(WeftError(.transportClosed, "The AMQP transport is shut down")) }
        if wake { wakeUp() }
    }

    func wakeUp() {
        var one: UInt64 = 1
        _ = write(wakeDescriptor, &one, 8)
    }

    /// The commands waiting, for the thread.
    func takeCommands(into commands: inout Deque<Command>) {
        inbox.withLock { inbox in
            if commands.isEmpty {
                swap(&commands, &inbox.commands)
            } else {
                commands.append(contentsOf: inbox.commands)
                inbox.commands.removeAll(keepingCapacity: true)
            }
        }
    }

    /// Whether the thread may sleep (nothing waits); if so, the next submit wakes it.
    func prepareToSleep() -> Bool {
        inbox.withLock { inbox in
            guard inbox.commands.isEmpty else { return false }
            inbox.sleeping = true
            return true
        }
    }

    /// Called by the thread once awake.
    func awake() {
        inbox.withLock { $0.sleeping = false }
        var value: UInt64 = 0
        _ = read(wakeDescriptor, &value, 8)
    }

    /// Refuses further commands and returns those not yet taken.
    func closeInbox() -> Deque<Command> {
        inbox.withLock { inbox in
            inbox.closed = true
            defer { inbox.commands.removeAll() }
            return inbox.commands
        }
    }

    // MARK: Operations

    /// Publishes `messages` in order and returns once the broker confirmed them all.
    /// - Throws: ``WeftError`` `unknownQueue` for a message no queue is bound for, ``AMQPError``
    ///   `publishRefused` for one the broker refused, `transportClosed` after shutdown.
    func publish(_ messages: [AMQPOutgoingMessage]) async throws {
        guard !messages.isEmpty else { return }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
            submit(.publish(PublishRequest(messages: messages, continuation: continuation)))
        }
    }

    /// Runs `body` on the connection's thread with the link. When the connection is lost
    /// during it and `retriesOnReconnect`, it runs again once reconnected.
    func perform<Value: Sendable>(
        retriesOnReconnect: Bool = true,
        _ body: @escaping @Sendable (AMQPOperationContext) throws(AMQPError) -> Value
    ) async throws -> Value {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Value, Error>) in
            submit(.operation(Operation(
                retriesOnReconnect: retriesOnReconnect,
                execute: { context throws(AMQPError) in continuation.resume(returning: try body(context)) },
                fail: { continuation.resume(throwing: $0) })))
        }
    }

    /// Starts delivering `source`'s queue to it (and again after every reconnection).
    func subscribe(_ source: AMQPSharedConsumer) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
            submit(.subscribe(source, continuation))
        }
    }

    /// Stops delivering to `source`; what it had not settled goes back to the queue.
    func unsubscribe(_ source: AMQPSharedConsumer) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            submit(.unsubscribe(source, continuation))
        }
    }

    /// Drains (publishes awaiting confirmation get up to the operation timeout), closes the
    /// connection and ends the thread.
    func shutdown() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let accepted = inbox.withLock { inbox -> Bool in
                guard !inbox.closed else { return false }
                inbox.commands.append(.shutdown(continuation))
                inbox.sleeping = false
                return true
            }
            if accepted { wakeUp() } else { continuation.resume() }
        }
    }
}

extension AMQPConnection {
    /// A request to the connection's thread.
    enum Command: Sendable {
        case publish(PublishRequest)
        case ack(generation: UInt64, channel: UInt16, tag: UInt64)
        case requeue(generation: UInt64, channel: UInt16, tag: UInt64)
        case operation(Operation)
        case subscribe(AMQPSharedConsumer, CheckedContinuation<Void, Error>)
        case unsubscribe(AMQPSharedConsumer, CheckedContinuation<Void, Never>)
        /// A subscription's members changed: ask the broker for their prefetch.
        case updatePrefetch(AMQPSharedConsumer)
        case shutdown(CheckedContinuation<Void, Never>)

        func fail(_ error: any Error) {
            switch self {
            case .publish(let request): request.fail(error)
            case .ack, .requeue, .updatePrefetch: break
            case .operation(let operation): operation.fail(error)
            case .subscribe(_, let continuation): continuation.resume(throwing: error)
            case .unsubscribe(let source, let continuation):
                source.finish(throwing: nil)
                continuation.resume()
            case .shutdown(let continuation): continuation.resume()
            }
        }
    }

    /// Work to run on the connection's thread.
    struct Operation: Sendable {
        let retriesOnReconnect: Bool
        let execute: @Sendable (AMQPOperationContext) throws(AMQPError) -> Void
        let fail: @Sendable (any Error) -> Void
    }

    /// Messages to publish and the caller waiting for their confirmation.
    ///
    /// `remaining` and `failure` are touched only by the connection's thread.
    final class PublishRequest: @unchecked Sendable {
        let messages: [AMQPOutgoingMessage]
        private let continuation: CheckedContinuation<Void, Error>
        private var remaining: Int
        private var failure: (any Error)?

        init(messages: [AMQPOutgoingMessage], continuation: CheckedContinuation<Void, Error>) {
            self.messages = messages
            self.continuation = continuation
            self.remaining = messages.count
        }

        /// One message settled (confirmed, or failed with `error`).
        func complete(_ error: (any Error)?) {
            guard remaining > 0 else { return }
            if let error, failure == nil { failure = error }
            remaining -= 1
            guard remaining == 0 else { return }
            if let failure { continuation.resume(throwing: failure) } else { continuation.resume() }
        }

        /// Every message not yet settled failed.
        func fail(_ error: any Error) {
            guard remaining > 0 else { return }
            failure = failure ?? error
            remaining = 0
            continuation.resume(throwing: failure!)
        }
    }
}

/// What an operation sees on the connection's thread.
struct AMQPOperationContext {
    /// The open connection.
    let link: AMQPLink
    /// A channel for synchronous operations.
    let adminChannel: UInt16
    /// Which connection of the thread's life this is (it grows at every reconnection).
    let generation: UInt64
    let openChannel: () throws(AMQPError) -> UInt16
    let closeChannel: (UInt16) -> Void
}
