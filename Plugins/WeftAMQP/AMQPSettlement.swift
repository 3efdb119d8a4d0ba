import Synchronization
import Weft

/// Settles one AMQP delivery. `retry` and `deadLetter` publish the message again (to its queue,
/// or through the dead-letter exchange with the reason) and acknowledge the original only once
/// the broker confirmed the copy, so a crash in between duplicates a message, never loses one.
struct AMQPSettlement: DeliverySettlement {
    let core: AMQPTransportCore
    let queue: String
    let message: AMQPIncomingMessage
    let lostDeliveries: Int
    let receipt: AMQPReceipt
    private let settled = SettledFlag()

    init(core: AMQPTransportCore, queue: String, message: AMQPIncomingMessage, lostDeliveries: Int, receipt: AMQPReceipt) {
        self.core = core
        self.queue = queue
        self.message = message
        self.lostDeliveries = lostDeliveries
        self.receipt = receipt
    }

    func ack() async throws {
        try claim()
        core.acknowledge(receipt)
    }

    func retry() async throws {
        try claim()
        try await core.publisher.publish([
            AMQPOutgoingMessage(
                exchange: core.options.workExchange, routingKey: queue, body: message.body, priority: message.priority,
                lostDeliveries: lostDeliveries, retries: min(message.retries + 1, AMQPHeader.countLimit))
        ])
        core.acknowledge(receipt)
    }

    func deadLetter(reason: String) async throws {
        try claim()
        try await core.publisher.publish([
            AMQPOutgoingMessage(
                exchange: core.options.deadLetterExchange, routingKey: core.options.deadLetterQueue(of: queue),
                body: message.body, priority: message.priority, lostDeliveries: lostDeliveries, reason: reason,
                originQueue: queue)
        ])
        core.acknowledge(receipt)
    }

    func abandon() async throws {
        try claim()
        core.consumer.submit(.requeue(generation: receipt.generation, channel: receipt.channel, tag: receipt.tag))
    }

    private func claim() throws {
        guard settled.claim() else { throw WeftError(.deliveryAlreadySettled, "The delivery was already settled") }
    }
}

/// Set once, by the first settlement.
final class SettledFlag: Sendable {
    private let value = Atomic<Bool>(false)

    func claim() -> Bool { !value.exchange(true, ordering: .relaxed) }
}
