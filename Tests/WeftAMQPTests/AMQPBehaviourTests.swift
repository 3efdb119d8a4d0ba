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

        @Test("Consumers of one queue share a subscription whose prefetch is the sum of theirs", .timeLimit(.minutes(1)))
        func sharedPrefetch() async throws {
            let transport = try await Broker.transport()
            let queue = unique("shared")
            try await transport.declare(queue)
            try await transport.publish([QueueMessage(body: [1]), QueueMessage(body: [2]), QueueMessage(body: [3])], to: queue)
            let first = try await transport.consume(queue, prefetch: 1)
            let second = try await transport.consume(queue, prefetch: 1)
            var firstIterator = first.makeAsyncIterator()
            var secondIterator = second.makeAsyncIterator()
            // Both hold a delivery at once: the subscription's prefetch grew to 2 when the second joined.
            let a = try #require(try await firstIterator.next())
            let b = try #require(try await secondIterator.next())
            #expect(Set([a.body, b.body]) == [[1], [2]])
            try await a.ack()
            await first.stop()
            #expect(try await firstIterator.next() == nil)
            // The second goes on alone, with its own prefetch of 1: once it settles what it
            // holds, it gets what the first did not take.
            try await b.ack()
            let c = try #require(try await secondIterator.next())
            #expect(c.body == [3])
            try await c.ack()
            await second.stop()
            #expect(try await transport.depth(of: queue) == 0)
            await transport.shutdown()
        }

        @Test("Heartbeats keep an idle connection alive: after several silent intervals nothing was lost")
        func heartbeats() async throws {
            let configuration = try AMQPConfiguration(
                url: Broker.url(), options: .init(prefix: unique("heartbeat"), heartbeat: .seconds(1)))
            let transport = try await AMQPTransport.connect(configuration, logger: quietLogger)
            let queue = unique("idle")
            try await transport.declare(queue)
            let consumer = try await transport.consume(queue, prefetch: 1)
            // The behaviour under test is silence: four heartbeat intervals with no traffic. A
            // client that did not send heartbeats would be disconnected by the broker after two.
            try await Task.sleep(for: .seconds(4))
            try await transport.publish(QueueMessage(body: [4]), to: queue)
            var iterator = consumer.makeAsyncIterator()
            let delivery = try #require(try await iterator.next())
            #expect(delivery.body == [4])
            try await delivery.ack()
            #expect(transport.statistics.connectionLosses == 0)
            await consumer.stop()
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
