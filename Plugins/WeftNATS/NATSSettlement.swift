import CNATS
import Synchronization
import Weft

/// The settlement of one delivered NATS message: exactly once, then the message is released.
final class NATSSettlement: DeliverySettlement, @unchecked Sendable {
    // @unchecked: the message is only touched under `message`'s lock, and released once.
    private let message: Mutex<UncheckedPointer?>
    private let names: NATSNames
    private weak var consumer: NATSConsumer?
    private let transport: NATSTransport
    private let priority: UInt8
    private let retries: Int
    /// Deliveries of this message lost so far (the header's count and the server's).
    private let lostBefore: Int

    init(
        message: OpaquePointer, names: NATSNames, consumer: NATSConsumer, transport: NATSTransport, priority: UInt8, retries: Int,
        lostBefore: Int
    ) {
        self.message = Mutex(UncheckedPointer(message))
        self.names = names
        self.consumer = consumer
        self.transport = transport
        self.priority = priority
        self.retries = retries
        self.lostBefore = lostBefore
    }

    deinit {
        if let pointer = message.withLock({ $0 }) { natsMsg_Destroy(pointer.pointer) }
    }

    func ack() async throws {
        try settle("acknowledging") { natsMsg_Ack($0, nil) }
    }

    func retry() async throws {
        // A copy goes to the back of the queue with one more retry, then the original is
        // acked: the server's delivery count starts again for the copy, the losses so far ride
        // in its header.
        let body = try body()
        var headers: [(String, String)] = [(NATSHeader.retries, String(retries + 1))]
        if priority > 0 { headers.append((NATSHeader.priority, String(priority))) }
        if lostBefore > 0 { headers.append((NATSHeader.lost, String(lostBefore))) }
        try await transport.publishConfirmed(subject: names.subject, body: body, headers: headers)
        try settle("acknowledging a retried message") { natsMsg_Ack($0, nil) }
    }

    func deadLetter(reason: String) async throws {
        let body = try body()
        var headers = [(NATSHeader.reason, NATSHeader.sanitized(reason)), (NATSHeader.queue, names.queue)]
        if priority > 0 { headers.append((NATSHeader.priority, String(priority))) }
        _ = try await transport.names(declaring: names.queue)
        try await transport.publishConfirmed(subject: names.deadLetterSubject, body: body, headers: headers)
        try settle("acknowledging a dead-lettered message") { natsMsg_Ack($0, nil) }
    }

    func abandon() async throws {
        try settle("handing a message back") { natsMsg_Nak($0, nil) }
    }

    /// Returns a message that was fetched but never handed out (its consumer stopped).
    func returnUnhanded() {
        guard let pointer = message.withLock({ slot -> UncheckedPointer? in defer { slot = nil }; return slot }) else { return }
        _ = natsMsg_Nak(pointer.pointer, nil)
        natsMsg_Destroy(pointer.pointer)
    }

    /// Tells the server the message is still being worked on, unless it was settled.
    func markInProgress() {
        message.withLock { slot in
            if let pointer = slot { _ = natsMsg_InProgress(pointer.pointer, nil) }
        }
    }

    private func body() throws(NATSError) -> [UInt8] {
        guard let body = message.withLock({ $0.map { NATSHeader.body(of: $0.pointer) } }) else {
            throw NATSError("NATS: the delivery was already settled")
        }
        return body
    }

    /// Settles with `call` (once), releases the message and frees its place in the prefetch.
    private func settle(_ what: String, _ call: (OpaquePointer) -> natsStatus) throws(NATSError) {
        guard let pointer = message.withLock({ slot -> UncheckedPointer? in defer { slot = nil }; return slot }) else {
            throw NATSError("NATS: the delivery was already settled")
        }
        let status = call(pointer.pointer)
        natsMsg_Destroy(pointer.pointer)
        consumer?.settled(self)
        // A settlement that did not reach the server: the message is delivered again.
        try NATSError.check(status, "\(what) on \(names.queue)")
    }
}
