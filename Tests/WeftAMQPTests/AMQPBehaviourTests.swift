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

        @Test("Acknowledgements in any order, with a retry among them, settle every message once", .timeLimit(.minutes(1)))
        func acknowledgementsInAnyOrder() async throws {
            let transport = try await Broker.transport()
            let queue = unique("acks")
            try await transport.declare(queue)
            try await transport.publish((1...20).map { QueueMessage(body: [UInt8($0)]) }, to: queue)
            let consumer = try await transport.consume(queue, prefetch: 20)
            var iterator = consumer.makeAsyncIterator()
            var deliveries: [QueueDelivery] = []
            for _ in 1...20 { deliveries.append(try #require(try await iterator.next())) }
            #expect(deliveries.map(\.body) == (1...20).map { [UInt8($0)] })
            // Later ones first (they go alone), then the earliest (one multiple acknowledgement
            // may cover them), a retry in between (a copy, then the original acknowledged),
            // then the rest together.
            try await deliveries[3].ack()
            try await deliveries[2].ack()
            try await deliveries[1].ack()
            try await deliveries[0].ack()
            try await deliveries[4].retry()
            try await withThrowingTaskGroup { group in
                for delivery in deliveries[5...] { group.addTask { try await delivery.ack() } }
                try await group.waitForAll()
            }
            let again = try #require(try await iterator.next())
            #expect(again.body == [5])
            try await again.ack()
            await consumer.stop()
            // Every message settled once: none left, none redelivered, and the channel stayed
            // open (an acknowledgement of a tag already settled would have closed it).
            #expect(try await transport.depth(of: queue) == 0)
            #expect(transport.statistics.redeliveries == 0)
            #expect(transport.statistics.acknowledgements == 21)
            #expect(transport.statistics.acknowledgementFrames <= 21)
            #expect(transport.statistics.connectionLosses == 0)
            try await transport.publish(QueueMessage(body: [21]), to: queue)
            let next = try await transport.consume(queue, prefetch: 1)
            var nextIterator = next.makeAsyncIterator()
            let last = try #require(try await nextIterator.next())
            #expect(last.body == [21] && last.deliveryCount == 1)
            try await last.ack()
            await next.stop()
            #expect(try await transport.depth(of: queue) == 0)
            await transport.shutdown()
        }

        @Test("Classic queues take the broker's storage version unless one is asked; a queue declared with another is named in the error")
        func classicQueueVersion() async throws {
            let prefix = unique("version")
            let queue = unique("versioned")
            let explicit = try await Broker.transport(prefix: prefix, classicQueueVersion: 2)
            try await explicit.declare(queue)
            try await explicit.publish(QueueMessage(body: [2]), to: queue)
            #expect(try await explicit.depth(of: queue) == 1)
            // The same queue declared again by a transport leaving the version to the broker.
            let defaulted = try await Broker.transport(prefix: prefix)
            let refused = await #expect(throws: (any Error).self) { try await defaulted.declare(queue) }
            #expect("\(refused.map { "\($0)" } ?? "")".contains("classicQueueVersion"))
            // A queue of its own works, and the first queue kept its message.
            let other = unique("defaulted")
            try await defaulted.declare(other)
            try await defaulted.publish(QueueMessage(body: [1]), to: other)
            #expect(try await defaulted.depth(of: other) == 1)
            #expect(try await explicit.depth(of: queue) == 1)
            await defaulted.shutdown()
            await explicit.shutdown()
        }

        @Test("Publishes written together arrive whole and in order: a batch of 500, and a body longer than a frame", .timeLimit(.minutes(1)))
        func gatheredPublishes() async throws {
            let transport = try await Broker.transport()
            let queue = unique("gathered")
            try await transport.declare(queue)
            // 128 KiB frames: this body needs three body frames.
            let large = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            let batch = (0..<500).map { QueueMessage(body: Array("message \($0)".utf8)) }
            try await transport.publish(batch + [QueueMessage(body: large)], to: queue)
            #expect(try await transport.depth(of: queue) == 501)
            let consumer = try await transport.consume(queue, prefetch: 600)
            var bodies: [[UInt8]] = []
            for try await delivery in consumer {
                bodies.append(delivery.message.body)
                try await delivery.ack()
                if bodies.count == 501 { break }
            }
            #expect(Array(bodies.prefix(500)) == batch.map(\.body))
            #expect(bodies.last == large)
            await consumer.stop()
            #expect(try await transport.depth(of: queue) == 0)
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
