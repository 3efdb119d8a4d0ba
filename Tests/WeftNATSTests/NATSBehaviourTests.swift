import Foundation
import Synchronization
import Testing
import Weft
import WeftNATS

extension NATSTests {
    @Suite("Behaviour", .serialized)
    struct Behaviour {
        @Test("Messages published before a server restart are all delivered after it, once each, and settling works again")
        func restartLosesNothing() async throws {
            let transport = try await NATSServer.transport()
            let queue = unique("restart")
            try await transport.declare(queue)
            try await transport.publish((0..<20).map { QueueMessage(body: [UInt8($0)]) }, to: queue)
            let consumer = try await transport.consume(queue, prefetch: 4)
            var iterator = consumer.makeAsyncIterator()
            var seen: [UInt8] = []
            for _ in 0..<5 {
                guard let delivery = try await iterator.next() else { break }
                seen.append(delivery.body[0])
                try await delivery.ack()
            }
            try await NATSServer.restart()
            // Publishing works again once the client reconnected: retried as a worker would.
            try await retrying { try await transport.publish(QueueMessage(body: [20]), to: queue) }
            while seen.count < 21 {
                guard let delivery = try await iterator.next() else { break }
                if !seen.contains(delivery.body[0]) { seen.append(delivery.body[0]) }
                // An ack lost in the restart makes a redelivery; a later one must succeed.
                try await retrying { try await delivery.ack() }
            }
            #expect(Set(seen) == Set(0...20), "delivered \(seen.sorted())")
            #expect(try await transport.depth(of: queue) == 0)
            await consumer.stop()
            // The queue outlives its consumers (a message the stopped one's last fetch took
            // comes back to the next).
            try await transport.publish(QueueMessage(body: [21]), to: queue)
            let next = try await transport.consume(queue, prefetch: 1)
            var nextIterator = next.makeAsyncIterator()
            #expect(try await nextIterator.next()?.body == [21])
            await next.stop()
            await transport.shutdown()
        }

        @Test("A long job in hand is not redelivered while it runs: the transport marks it in progress")
        func longJobKeptInHand() async throws {
            let transport = try await NATSServer.transport(ackWait: .seconds(1))
            let queue = unique("long")
            try await transport.publish(QueueMessage(body: [1]), to: queue)
            let first = try await transport.consume(queue, prefetch: 1)
            let second = try await transport.consume(queue, prefetch: 1)
            var iterator = first.makeAsyncIterator()
            guard let delivery = try await iterator.next() else { Issue.record("no delivery"); return }
            // Three ack waits later, the other consumer has still received nothing.
            let other = Task {
                var iterator = second.makeAsyncIterator()
                return try await iterator.next()?.body
            }
            try await Task.sleep(for: .seconds(3))
            try await delivery.ack()
            await second.stop()
            #expect(try await other.value == nil, "the job was redelivered while in hand")
            await first.stop()
            await transport.shutdown()
        }

        @Test("Hostile headers: a forged loss or retry count is capped and says it came from a header")
        func forgedHeaders() async throws {
            let transport = try await NATSServer.transport()
            let queue = unique("forged")
            try await transport.declare(queue)
            // A retry carries the counts in headers, as a forger could.
            try await transport.publish(QueueMessage(body: [9]), to: queue)
            let consumer = try await transport.consume(queue, prefetch: 1)
            var iterator = consumer.makeAsyncIterator()
            guard let first = try await iterator.next() else { Issue.record("no delivery"); return }
            #expect(first.countSource == .broker)
            try await first.abandon()
            guard let lost = try await iterator.next() else { Issue.record("no redelivery"); return }
            #expect(lost.deliveryCount == 2)
            try await lost.retry()
            guard let retried = try await iterator.next() else { Issue.record("no retried delivery"); return }
            #expect(retried.deliveryCount == 2, "the loss before the retry was kept")
            #expect(retried.retries == 1)
            #expect(retried.countSource == .messageHeader)
            try await retried.ack()
            await consumer.stop()
            await transport.shutdown()
        }

        @Test("A queue name NATS cannot carry is refused with a clear error")
        func badQueueName() async throws {
            let transport = try await NATSServer.transport()
            for name in ["", "a b", "a.*", "a..b", "a\u{1B}[31m"] {
                await #expect(throws: NATSError.self) { try await transport.declare(name) }
            }
            await transport.shutdown()
        }
    }
}

/// Runs `body` until it succeeds, for up to 15 seconds (the client reconnects meanwhile).
func retrying(_ body: () async throws -> Void) async throws {
    let deadline = ContinuousClock.now + .seconds(15)
    while true {
        do {
            return try await body()
        } catch {
            if ContinuousClock.now > deadline { throw error }
            try await Task.sleep(for: .milliseconds(100))
        }
    }
}
