import Testing
import Weft

@testable import WeftAMQP

extension AMQPTests {
    /// Headers are input from whoever can publish to the broker: a count in them is bounded when
    /// read, never trusted to fit the arithmetic done on it (issue 24, case 1: `x-weft-lost` =
    /// Int64.max killed every worker that took the message, one after the other).
    @Suite("Hostile headers")
    struct HostileHeaders {
        @Test(
            "A forged lost-delivery count of Int64.max or 2^40 is bounded when read: the delivery arrives and settles",
            arguments: [AMQPConfiguration.QueueType.classic, .quorum])
        func boundedLostCount(queueType: AMQPConfiguration.QueueType) async throws {
            let transport = try await Broker.transport(queueType: queueType)
            let queue = unique("hostile-lost")
            try await transport.declare(queue)
            let exchange = transport.core.options.workExchange
            for forged in [Int.max, 1 << 40] {
                try await transport.core.publisher.publish([
                    AMQPOutgoingMessage(exchange: exchange, routingKey: queue, body: [7], priority: 0, lostDeliveries: forged)
                ])
            }
            let consumer = try await transport.consume(queue, prefetch: 1)
            var deliveries = consumer.makeAsyncIterator()
            for _ in 0..<2 {
                let delivery = try #require(try await deliveries.next())
                #expect(delivery.body == [7])
                #expect((1...AMQPHeader.countLimit + 1).contains(delivery.deliveryCount))
                try await delivery.deadLetter(reason: "forged count")
            }
            await consumer.stop()
            #expect(try await transport.depth(of: queue) == 0)
            await transport.shutdown()
        }

        @Test(
            "A forged retry count of Int64.max is bounded when read, and retrying it again neither traps nor wraps",
            arguments: [AMQPConfiguration.QueueType.classic, .quorum])
        func boundedRetryCount(queueType: AMQPConfiguration.QueueType) async throws {
            let transport = try await Broker.transport(queueType: queueType)
            let queue = unique("hostile-retries")
            try await transport.declare(queue)
            try await transport.core.publisher.publish([
                AMQPOutgoingMessage(
                    exchange: transport.core.options.workExchange, routingKey: queue, body: [9], priority: 0, retries: Int.max)
            ])
            let consumer = try await transport.consume(queue, prefetch: 1)
            var deliveries = consumer.makeAsyncIterator()
            let first = try #require(try await deliveries.next())
            #expect(first.retries == AMQPHeader.countLimit)
            try await first.retry()
            let second = try #require(try await deliveries.next())
            #expect(second.body == [9] && second.retries == AMQPHeader.countLimit)
            try await second.ack()
            await consumer.stop()
            await transport.shutdown()
        }

        @Test(
            "A forged small lost count: a quorum queue's own count is taken and the header ignored; on a classic queue the count says it came from the header",
            arguments: [AMQPConfiguration.QueueType.classic, .quorum])
        func forgedLostCount(queueType: AMQPConfiguration.QueueType) async throws {
            let transport = try await Broker.transport(queueType: queueType)
            let queue = unique("forged-lost")
            try await transport.declare(queue)
            try await transport.core.publisher.publish([
                AMQPOutgoingMessage(exchange: transport.core.options.workExchange, routingKey: queue, body: [5], priority: 0, lostDeliveries: 5)
            ])
            let consumer = try await transport.consume(queue, prefetch: 1)
            var deliveries = consumer.makeAsyncIterator()
            let delivery = try #require(try await deliveries.next())
            switch queueType {
            case .quorum:
                #expect(delivery.deliveryCount == 1 && delivery.countSource == .broker)
            case .classic:
                #expect(delivery.deliveryCount == 6 && delivery.countSource == .messageHeader)
            }
            try await delivery.ack()
            await consumer.stop()
            await transport.shutdown()
        }
    }
}

