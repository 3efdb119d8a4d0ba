import Synchronization
import Testing
import Weft
import WeftAMQP
import WeftTesting

extension AMQPTests {
    @Suite("Broker restarts")
    struct Restarts {
        @Test("Persistent messages on durable queues survive a broker restart", .timeLimit(.minutes(3)))
        func messagesSurvive() async throws {
            let prefix = unique("restart")
            let queue = unique("durable")
            let before = try await Broker.transport(prefix: prefix, maxPriority: 1)
            try await before.declare(queue)
            try await before.publish((0..<20).map { QueueMessage(body: [UInt8($0)], priority: UInt8($0 % 2)) }, to: queue)
            await before.shutdown()

            try await Broker.restart()

            let after = try await Broker.transport(prefix: prefix, maxPriority: 1)
            #expect(try await after.depth(of: queue) == 20)
            let consumer = try await after.consume(queue, prefetch: 20)
            var bodies: [UInt8] = []
            for try await delivery in consumer {
                bodies.append(delivery.body[0])
                try await delivery.ack()
                if bodies.count == 20 { break }
            }
            await consumer.stop()
            // Priority 1 first, then priority 0, each in publishing order.
            #expect(bodies == Array(stride(from: 1, to: 20, by: 2)) + Array(stride(from: 0, to: 20, by: 2)))
            #expect(try await after.depth(of: queue) == 0)
            await after.shutdown()
        }

        @Test("Publishes in flight when the broker goes away are sent again and none is lost", .timeLimit(.minutes(3)))
        func publishesSurviveALoss() async throws {
            let transport = try await Broker.transport()
            let queue = unique("inflight")
            try await transport.declare(queue)
            let total = 3000
            let confirmed = Tally()
            let halfway = Gate()
            let publishers = Task {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for lane in 0..<8 {
                        group.addTask {
                            for index in stride(from: lane, to: total, by: 8) {
                                try await transport.publish(QueueMessage(body: [UInt8(index >> 8), UInt8(index & 0xFF)]), to: queue)
                                if confirmed.increment() == total / 4 { halfway.open() }
                            }
                        }
                    }
                    try await group.waitForAll()
                }
            }
            // The broker goes away while publishes are in flight, unconfirmed or waiting.
            await halfway.wait()
            try Broker.stop()
            try Broker.start()
            // A guard, not a synchronisation: a publish that never returns fails the test with
            // what the transport saw, instead of hanging the suite.
            let finished = try await firstOf(publishers, orFailAfter: .seconds(120)) {
                "publishes still waiting: \(total - confirmed.current) of \(total); \(transport.statistics)"
            }
            try finished.get()
            // Every publish returned: each message is on the queue at least once.
            let consumer = try await transport.consume(queue, prefetch: 500)
            var seen = Set<Int>()
            var deliveries = 0
            for try await delivery in consumer {
                seen.insert(Int(delivery.body[0]) << 8 | Int(delivery.body[1]))
                deliveries += 1
                try await delivery.ack()
                if seen.count == total, try await transport.depth(of: queue) == 0 { break }
            }
            await consumer.stop()
            #expect(seen.count == total)
            #expect(deliveries >= total)  // duplicates are allowed: delivery is at least once
            #expect(transport.statistics.reconnections >= 1)
            await transport.shutdown()
        }

        /// With `inline` 0 the held nodes' successors must be published after the restart; with
        /// inline successors they run at once, and the acks (lost with the connection) are what
        /// the restart interrupts.
        @Test(
            "When the broker stops and starts during runs, the transport reconnects and every run completes",
            .timeLimit(.minutes(3)), arguments: [0, 32])
        func runsCompleteAcrossARestart(inline: Int) async throws {
            let runs = 12
            let release = Gate()
            let allHeld = Gate()
            let held = Mutex(0)
            let workflow = Workflow(unique("restart-chain")) {
                Node("first") { context in JSONValue(context.input.intValue! + 1) }
                Node("hold") { context in
                    if held.withLock({ $0 += 1; return $0 }) == runs { allHeld.open() }
                    await release.wait()
                    return JSONValue(context.input.intValue! * 2)
                }
                Node("last") { context in JSONValue(context.input.intValue! + 3) }
                Chain("first", "hold", "last")
            }
            let transport = try await Broker.transport()
            let backends = WeftBackends(
                transport: transport, contextStore: InMemoryContextStore(), coordinationStore: InMemoryCoordinationStore())
            let fleetOptions = FleetOptions(queuePrefix: unique("restart"))
            var worker = Worker.Configuration(fleet: fleetOptions, logger: quietLogger)
            worker.concurrency = runs
            worker.maxInlineSuccessors = inline
            let fleet = try await InProcessFleet.start(
                registry: workflow.registry, blueprints: [workflow.blueprint], workers: 2, backends: backends, worker: worker,
                client: DistributedRuntime.Configuration(fleet: fleetOptions, resultPollInterval: .milliseconds(200), logger: quietLogger))
            var handles: [DistributedRunHandle] = []
            for input in 0..<runs { handles.append(try await fleet.client.start(workflow.blueprint, input: JSONValue(input))) }
            await allHeld.wait()

            try Broker.stop()
            release.open()  // the nodes finish while the broker is away; their successors wait to be published
            try Broker.start()

            for (input, handle) in handles.enumerated() {
                let result = try await handle.result()
                #expect(result.status == .completed)
                #expect(result.output == JSONValue((input + 1) * 2 + 3))
                #expect(result[node: "last"]?.attempts == 1)
            }
            let statistics = transport.statistics
            #expect(statistics.connectionLosses >= 2)  // the publishing and the consuming connection
            if inline == 0 {
                // The successors' publishes waited for the publishing connection to come back.
                #expect(statistics.reconnections >= 2)
                #expect(statistics.disconnectedMilliseconds > 0)
            }
            await fleet.shutdown()
            await transport.shutdown()
        }

        @Test("A durable sleep and a wait's timeout that fall due while the broker is away complete after it returns", .timeLimit(.minutes(3)))
        func sleepsSurviveARestart() async throws {
            let workflow = Workflow(unique("restart-nap")) {
                Node("before") { $0.input }
                Node.sleep("nap", for: .seconds(1))
                Node.waitForSignal("approval", actions: ["approve"], timeout: .seconds(1), timeoutAction: "expired")
                Node("approved") { $0.input }
                Node("expired") { context in ["expired": context.input] }
                Chain("before", "nap", "approval")
                Edge("approval", to: "approved", action: "approve")
                Edge("approval", to: "expired", action: "expired")
            }
            let transport = try await Broker.transport()
            let backends = WeftBackends(
                transport: transport, contextStore: InMemoryContextStore(), coordinationStore: InMemoryCoordinationStore())
            let fleetOptions = FleetOptions(queuePrefix: unique("restart"))
            var worker = Worker.Configuration(fleet: fleetOptions, logger: quietLogger)
            worker.timerPollInterval = .milliseconds(100)
            let fleet = try await InProcessFleet.start(
                registry: workflow.registry, blueprints: [workflow.blueprint], workers: 2, backends: backends, worker: worker,
                client: DistributedRuntime.Configuration(fleet: fleetOptions, resultPollInterval: .milliseconds(200), logger: quietLogger))
            let handles = try await (0..<4).asyncMap { try await fleet.client.start(workflow.blueprint, input: JSONValue($0)) }
            for handle in handles {
                while try await handle.status().status != .waiting { await Task.yield() }
            }
            // The sleeps fall due while the broker is away: their resumes cannot be published
            // until it is back.
            try Broker.stop()
            try Broker.start()
            for (input, handle) in handles.enumerated() {
                let result = try await handle.result()
                #expect(result.status == .completed)
                #expect(result.output == ["expired": JSONValue(input)])
            }
            await fleet.shutdown()
            await transport.shutdown()
        }
    }
}

extension Sequence where Element: Sendable {
    /// The elements mapped in order, one at a time.
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var results: [T] = []
        for element in self { results.append(try await transform(element)) }
        return results
    }
}

/// Counts across tasks.
final class Tally: Sendable {
    private let value = Mutex(0)

    /// Adds one and returns the new count.
    func increment() -> Int { value.withLock { $0 += 1; return $0 } }

    /// The count.
    var current: Int { value.withLock { $0 } }
}

/// True for the first caller only.
final class Once: Sendable {
    private let done = Mutex(false)

    func claim() -> Bool { done.withLock { done in defer { done = true }; return !done } }
}

struct StillWaiting: Error, CustomStringConvertible {
    var description: String
}

/// The outcome of `task`, or, when it has not ended after `limit`, a `StillWaiting` failure
/// (without waiting for the task any longer).
func firstOf<Value: Sendable>(
    _ task: Task<Value, any Error>, orFailAfter limit: Duration, _ report: @escaping @Sendable () -> String
) async throws -> Result<Value, any Error> {
    let once = Once()
    return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Result<Value, any Error>, Error>) in
        Task {
            let result = await task.result
            if once.claim() { continuation.resume(returning: result) }
        }
        Task {
            try? await Task.sleep(for: limit)
            if once.claim() { continuation.resume(throwing: StillWaiting(description: report())) }
        }
    }
}
