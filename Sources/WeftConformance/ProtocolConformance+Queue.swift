import Synchronization
import Weft

extension ProtocolConformance {
    // MARK: Queue transport

    /// The queue transport's contract.
    public static let queue: [ProtocolCheck] = [
        ProtocolCheck(.queue, "delivers in publishing order within a priority") { harness, failures in
            let transport = try await harness.makeBackends().transport
            let queue = unique("order")
            try await transport.declare(queue)
            try await transport.declare(queue)  // idempotent
            for index in 0..<50 { try await transport.publish(QueueMessage(body: [UInt8(index)]), to: queue) }
            let seen = try await firstBytes(of: 50, from: queue, on: transport)
            expect(seen == (0..<50).map(UInt8.init), "order was \(seen)", into: &failures)
            expect(try await transport.depth(of: queue) == 0, "acked messages remain", into: &failures)
        },
        ProtocolCheck(.queue, "delivers messages that need not be durable like any other, in order") { harness, failures in
            let transport = try await harness.makeBackends().transport
            let queue = unique("transient")
            try await transport.declare(queue)
            try await transport.publish(QueueMessage(body: [1], isDurable: false), to: queue)
            try await transport.publish(QueueMessage(body: [2]), to: queue)
            try await transport.publish([QueueMessage(body: [3], isDurable: false)], to: queue)
            let seen = try await firstBytes(of: 3, from: queue, on: transport)
            expect(seen == [1, 2, 3], "delivered \(seen)", into: &failures)
            expect(try await transport.depth(of: queue) == 0, "acked messages remain", into: &failures)
        },
        ProtocolCheck(.queue, "delivers higher priorities first") { harness, failures in
            let transport = try await harness.makeBackends().transport
            let queue = unique("priority")
            try await transport.declare(queue)
            try await transport.publish(QueueMessage(body: [1], priority: 0), to: queue)
            try await transport.publish(QueueMessage(body: [2], priority: 5), to: queue)
            try await transport.publish(QueueMessage(body: [3], priority: 9), to: queue)
            let seen = try await firstBytes(of: 3, from: queue, on: transport)
            expect(seen == [3, 2, 1], "priorities were delivered as \(seen)", into: &failures)
        },
        ProtocolCheck(.queue, "retry redelivers without counting a loss, counting a retry where it counts them; a lost delivery counts") {
            harness, failures in
            let transport = try await harness.makeBackends().transport
            let queue = unique("retry")
            try await transport.declare(queue)
            try await transport.publish(QueueMessage(body: [7]), to: queue)
            let consumer = try await transport.consume(queue, prefetch: 1)
            var iterator = consumer.makeAsyncIterator()
            guard let first = try await iterator.next() else { return failures.append("no delivery") }
            expect(first.deliveryCount == 1, "first delivery count \(first.deliveryCount)", into: &failures)
            expect(first.retries == 0, "first delivery's retries \(first.retries)", into: &failures)
            try await first.retry()
            guard let second = try await iterator.next() else { return failures.append("no redelivery after retry") }
            expect(second.body == [7], "redelivered \(second.body)", into: &failures)
            expect(second.deliveryCount == 1, "retry counted as a loss: \(second.deliveryCount)", into: &failures)
            // A transport counts retries (1, then 2) or does not (0 throughout).
            let counts = second.retries == 1
            expect(second.retries == 0 || counts, "retries after one retry: \(second.retries)", into: &failures)
            try await second.retry()
            guard let retried = try await iterator.next() else { return failures.append("no redelivery after a second retry") }
            expect(retried.retries == (counts ? 2 : 0), "retries after two retries: \(retried.retries)", into: &failures)
            try await harness.loseDelivery(retried)
            guard let third = try await iterator.next() else { return failures.append("no redelivery after a loss") }
            expect(third.deliveryCount == 2, "lost delivery not counted: \(third.deliveryCount)", into: &failures)
            expect(third.retries == (counts ? 2 : 0), "a loss changed the retries: \(third.retries)", into: &failures)
            try await third.ack()
            await consumer.stop()
            expect(try await iterator.next() == nil, "a stopped consumer still delivers", into: &failures)
        },
        ProtocolCheck(.queue, "dead letters keep their reason and can be re-driven selectively") { harness, failures in
            let transport = try await harness.makeBackends().transport
            let queue = unique("dlq")
            try await transport.declare(queue)
            for body: UInt8 in [1, 2, 3] { try await transport.publish(QueueMessage(body: [body]), to: queue) }
            let consumer = try await transport.consume(queue, prefetch: 3)
            var iterator = consumer.makeAsyncIterator()
            for _ in 0..<3 {
                guard let delivery = try await iterator.next() else { return failures.append("missing delivery") }
                try await delivery.deadLetter(reason: delivery.body == [2] ? "keep" : "bad \(delivery.body[0])")
            }
            let letters = try await transport.deadLetters(of: queue, limit: 10)
            expect(letters.map(\.message.body) == [[1], [2], [3]], "dead letters \(letters.map(\.message.body))", into: &failures)
            expect(letters.map(\.reason) == ["bad 1", "keep", "bad 3"], "reasons \(letters.map(\.reason))", into: &failures)
            expect(try await transport.depth(of: queue) == 0, "dead letters still on the queue", into: &failures)
            let moved = try await transport.redriveDeadLetters(of: queue, limit: 10) { $0.reason.hasPrefix("bad") }
            expect(moved == 2, "re-drove \(moved), expected 2", into: &failures)
            var redriven: [[UInt8]] = []
            for _ in 0..<min(moved, 2) {
                guard let delivery = try await iterator.next() else { return failures.append("re-driven message missing") }
                expect(delivery.deliveryCount == 1, "re-driven delivery count \(delivery.deliveryCount)", into: &failures)
                redriven.append(delivery.body)
                try await delivery.ack()
            }
            expect(redriven == [[1], [3]], "re-drove \(redriven)", into: &failures)
            let left = try await transport.deadLetters(of: queue, limit: 10)
            expect(left.map(\.reason) == ["keep"], "left dead letters \(left.map(\.reason))", into: &failures)
            await consumer.stop()
        },
        ProtocolCheck(.queue, "competing consumers receive every message exactly once") { harness, failures in
            let transport = try await harness.makeBackends().transport
            let queue = unique("compete")
            try await transport.declare(queue)
            let total = 400
            let seen = LockedArray<Int>()
            let consumers = try await (0..<4).asyncMap { _ in try await transport.consume(queue, prefetch: 8) }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for consumer in consumers {
                    group.addTask {
                        for try await delivery in consumer {
                            let value = Int(delivery.body[0]) << 8 | Int(delivery.body[1])
                            let count = seen.append(value)
                            try await delivery.ack()
                            if count == total { for consumer in consumers { await consumer.stop() } }
                        }
                    }
                }
                for index in 0..<total {
                    try await transport.publish(QueueMessage(body: [UInt8(index >> 8), UInt8(index & 0xFF)]), to: queue)
                }
                try await group.waitForAll()
            }
            let values = seen.all.sorted()
            expect(values == Array(0..<total), "received \(values.count) messages, \(Set(values).count) distinct", into: &failures)
        },
    ]
}

/// Consumes `count` messages of `queue`, acking each, and returns their first bytes in order.
private func firstBytes(of count: Int, from queue: String, on transport: any QueueTransport) async throws -> [UInt8] {
    let consumer = try await transport.consume(queue, prefetch: count)
    var seen: [UInt8] = []
    for try await delivery in consumer {
        seen.append(delivery.body[0])
        try await delivery.ack()
        if seen.count == count { break }
    }
    await consumer.stop()
    return seen
}
