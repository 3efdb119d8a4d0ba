import Testing
import Weft
import WeftAMQP
import WeftConformance

extension AMQPTests {
    @Suite("Publishing, consuming and settling")
    struct Behaviour {
        @Test("A queue nobody declared: publishing, consuming and its depth fail with `unknownQueue`")
        func undeclaredQueue() async throws {
            let transport = try await Broker.transport()
            let queue = unique("nowhere")
            let published = await #expect(throws: WeftError.self) { try await transport.publish(QueueMessage(body: [1]), to: queue) }
            #expect(published?.code == .unknownQueue)
            #expect(published?.message.contains(queue) == true)
            let consumed = await #expect(throws: WeftError.self) { _ = try await transport.consume(queue, prefetch: 1) }
            #expect(consumed?.code == .unknownQueue)
            let depth = await #expect(throws: WeftError.self) { _ = try await transport.depth(of: queue) }
            #expect(depth?.code == .unknownQueue)
            // The transport still works afterwards.
            try await transport.declare(queue)
            try await transport.publish(QueueMessage(body: [1]), to: queue)
            #expect(try await transport.depth(of: queue) == 1)
            #expect(transport.statistics.returnedPublishes == 1)
            await transport.shutdown()
        }

        @Test("A delivery settles once; a second settlement is refused")
        func settlesOnce() async throws {
            let transport = try await Broker.transport()
            let queue = unique("once")
            try await transport.declare(queue)
            try await transport.publish(QueueMessage(body: [9]), to: queue)
            let consumer = try await transport.consume(queue, prefetch: 1)
            var iterator = consumer.makeAsyncIterator()
            let delivery = try #require(try await iterator.next())
            try await delivery.ack()
            let again = await #expect(throws: WeftError.self) { try await delivery.retry() }
            #expect(again?.code == .deliveryAlreadySettled)
            await consumer.stop()
            #expect(try await iterator.next() == nil)
            await transport.shutdown()
            let closed = await #expect(throws: WeftError.self) { try await transport.publish(QueueMessage(body: [1]), to: queue) }
            #expect(closed?.code == .transportClosed)
        }

        /// Not checked on quorum queues: priorities (RabbitMQ 3.10 ignores them there), and the
        /// ordering check, whose depth-after-acks assertion quorum queues satisfy only once the
        /// broker has applied the acks (their depth counts unacknowledged messages).
        @Test(
            "Quorum queues keep the queue contracts of retries, loss counts, dead letters and competing consumers",
            arguments: ProtocolConformance.queue.filter {
                !$0.name.hasPrefix("delivers higher priorities") && !$0.name.hasPrefix("delivers in publishing order")
            })
        func quorumQueues(_ check: ProtocolCheck) async throws {
            let failures = try await check.run(Broker.harness(queueType: .quorum))
            #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
        }
    }
}
