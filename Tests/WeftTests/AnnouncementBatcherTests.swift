import Synchronization
import Testing

@testable import Weft

/// The announcements of runs' ends, gathered while a message is in flight.
@Suite struct AnnouncementBatcherTests {
    /// Publishes by recording the message; the first publish waits until released.
    final class GatedPublisher: Sendable {
        private struct State {
            var published: [(Envelope, String)] = []
            var gate: CheckedContinuation<Void, Never>?
            var released = false
            var failing: Set<Int> = []
        }
        private let state = Mutex(State())

        init(failing: Set<Int> = []) { state.withLock { $0.failing = failing } }

        func publish(_ envelope: Envelope, _ queue: String) async throws {
            let index = state.withLock { state in
                state.published.append((envelope, queue))
                return state.published.count - 1
            }
            if index == 0 {
                await withCheckedContinuation { continuation in
                    let go = state.withLock { state in
                        if state.released { return true }
                        state.gate = continuation
                        return false
                    }
                    if go { continuation.resume() }
                }
            }
            if state.withLock({ $0.failing.contains(index) }) {
                throw WeftError(.unknownQueue, "no queue \(queue)")
            }
        }

        func release() {
            let gate = state.withLock { state in
                state.released = true
                defer { state.gate = nil }
                return state.gate
            }
            gate?.resume()
        }

        /// The runs each message named, in order.
        var runsPerMessage: [[String]] {
            state.withLock { state in
                state.published.map { envelope, _ in
                    guard case .array(let others) = envelope.payload else { return [envelope.runID] }
                    return [envelope.runID] + others.compactMap { if case .string(let run) = $0 { run } else { nil } }
                }
            }
        }
    }

    static func ended(_ run: String) -> AnnouncementBatcher.Ended {
        AnnouncementBatcher.Ended(run: run, blueprintID: "b", blueprintVersion: "1")
    }

    @Test func aLoneEndGoesAtOnceAndEndsMeanwhileShareTheNextMessage() async throws {
        let publisher = GatedPublisher()
        let batcher = AnnouncementBatcher(publish: publisher.publish)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await batcher.announce(Self.ended("first"), to: "reply.a") }
            while publisher.runsPerMessage.isEmpty { await Task.yield() }
            for index in 0..<9 {
                group.addTask { try await batcher.announce(Self.ended("run-\(index)"), to: "reply.a") }
            }
            // Another client's queue is not held up by the message in flight to reply.a.
            try await batcher.announce(Self.ended("elsewhere"), to: "reply.b")
            while batcher.waitingCount(on: "reply.a") < 9 { await Task.yield() }
            publisher.release()
            try await group.waitForAll()
        }
        let messages = publisher.runsPerMessage
        #expect(messages.count == 3)
        #expect(messages[0] == ["first"])
        #expect(messages[1] == ["elsewhere"])
        #expect(Set(messages[2]) == Set((0..<9).map { "run-\($0)" }))
        #expect(messages[2].count == 9)
        #expect(batcher.waitingCount(on: "reply.a") == 0)
    }

    @Test func everyCallerOfAFailedMessageHearsItsError() async throws {
        // The second message (the nine gathered ends) fails.
        let publisher = GatedPublisher(failing: [1])
        let batcher = AnnouncementBatcher(publish: publisher.publish)
        let failures = await withTaskGroup(of: Bool.self) { group in
            group.addTask { (try? await batcher.announce(Self.ended("first"), to: "reply")) == nil }
            while publisher.runsPerMessage.isEmpty { await Task.yield() }
            for index in 0..<9 {
                group.addTask {
                    do {
                        try await batcher.announce(Self.ended("run-\(index)"), to: "reply")
                        return false
                    } catch {
                        return (error as? WeftError)?.code == .unknownQueue
                    }
                }
            }
            while batcher.waitingCount(on: "reply") < 9 { await Task.yield() }
            publisher.release()
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(failures == 9)
        // The queue is idle again: the next end goes at once, alone.
        try await batcher.announce(Self.ended("later"), to: "reply")
        #expect(publisher.runsPerMessage.last == ["later"])
    }

    @Test func aMessageNamesAtMostTheLimit() async throws {
        let publisher = GatedPublisher()
        let batcher = AnnouncementBatcher(publish: publisher.publish)
        let count = AnnouncementBatcher.maxRunsPerMessage + 10
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await batcher.announce(Self.ended("first"), to: "reply") }
            while publisher.runsPerMessage.isEmpty { await Task.yield() }
            for index in 0..<count {
                group.addTask { try await batcher.announce(Self.ended("run-\(index)"), to: "reply") }
            }
            while batcher.waitingCount(on: "reply") < count { await Task.yield() }
            publisher.release()
            try await group.waitForAll()
        }
        let sizes = publisher.runsPerMessage.map(\.count)
        #expect(sizes == [1, AnnouncementBatcher.maxRunsPerMessage, 10])
        #expect(Set(publisher.runsPerMessage.joined()).count == count + 1)
    }
}

/// A client hears of every run one announcement names.
@Suite struct GatheredAnnouncementTests {
    @Test(.timeLimit(.minutes(1))) func oneMessageWakesTheWaitersOfEveryRunItNames() async throws {
        let workflow = Workflow("gathered") { Node("only") { context in context.input } }
        let blueprint = workflow.blueprint
        let backends = WeftBackends.inMemory()
        // Only an announcement can wake a waiter within the test's time limit.
        let client = try DistributedRuntime(
            registry: workflow.registry, backends: backends,
            configuration: DistributedRuntime.Configuration(clientID: "gathered", resultPollInterval: .seconds(3600)))
        let runs = try await (0..<3).asyncMap { index in try await client.start(blueprint, input: .int(Int64(index))).runID }
        try await withThrowingTaskGroup(of: RunResult.self) { group in
            for run in runs { group.addTask { try await client.result(run) } }
            while client.resultsAwaited < 3 { await Task.yield() }
            // The runs end (as a worker would record it), then one message names all three.
            for (index, run) in runs.enumerated() {
                let terminal = TerminalRecord(status: .completed, output: .int(Int64(index)), failure: nil)
                _ = try await backends.coordinationStore.compareAndSet(
                    RunKeys.status(run), expected: nil, new: terminal.encoded(), fence: nil)
            }
            let message = Envelope(
                kind: .runFinished, runID: runs[0], blueprintID: "gathered", blueprintVersion: "1",
                payload: .array(runs.dropFirst().map { .string($0) }))
            try await backends.transport.publish(QueueMessage(body: message.encoded(), isDurable: false), to: client.replyQueue)
            var outputs: [JSONValue?] = []
            for try await result in group {
                #expect(result.status == .completed)
                outputs.append(result.output)
            }
            #expect(Set(outputs.compactMap { $0 }) == [.int(0), .int(1), .int(2)])
        }
        await client.shutdown()
    }
}

extension Range where Bound == Int {
    fileprivate func asyncMap<T>(_ transform: (Int) async throws -> T) async rethrows -> [T] {
        var results: [T] = []
        for index in self { results.append(try await transform(index)) }
        return results
    }
}
