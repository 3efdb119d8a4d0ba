import Testing
import Weft

@Suite("Distributed runtime: bad input")
struct DistributedBadInputTests {
    static let chain = DistributedRuntimeTests.chain

    /// A job envelope for `chain`, editable.
    func job(run: String, node: String = "a", version: String = "1") -> Envelope {
        Envelope(kind: .job, runID: run, blueprintID: "chain", blueprintVersion: version, nodeID: node, fencingToken: 1 << 32, payload: 1)
    }

    @Test("Undecodable bytes are dead-lettered with a typed reason and the worker goes on")
    func malformed() async throws {
        let fleet = try ManualFleet([Self.chain])
        for bytes: [UInt8] in [[], [0x57], Array("not an envelope".utf8), [0x57, 0x46, 1, 0, 1, 200, 200, 200]] {
            try await fleet.publish(bytes)
            let outcome = try await fleet.step()
            guard case .deadLettered(let reason) = outcome else {
                Issue.record("\(bytes): \(String(describing: outcome))")
                continue
            }
            #expect(reason.contains("malformed_message"), "\(reason)")
        }
        #expect(try await fleet.transport.deadLetters(of: fleet.jobs, limit: 10).count == 4)
        // Other runs are unaffected.
        let handle = try await fleet.client.start(Self.chain.blueprint, input: 1)
        try await fleet.drain()
        #expect(try await handle.result().output == 20)
        await fleet.shutdown()
    }

    @Test("Payloads over the fleet's size limit: a start is refused, a delivery dead-lettered, a node's output fails it")
    func sizeLimit() async throws {
        let big = Workflow("big") {
            Node("make") { context in JSONValue(String(repeating: "x", count: context.input.intValue!)) }
            Node("after") { $0.input }
            Chain("make", "after")
        }
        var options = FleetOptions()
        options.maxMessageSize = 64 << 10
        let fleet = try ManualFleet([big, Self.chain], fleet: options)
        // A start whose input is too large throws, and leaves nothing behind.
        let refused = await #expect(throws: WeftError.self) {
            try await fleet.client.start(Self.chain.blueprint, input: JSONValue(String(repeating: "y", count: 100 << 10)))
        }
        #expect(refused?.code == .payloadTooLarge, "\(String(describing: refused))")
        #expect(try await fleet.drain().isEmpty)
        // A delivery too large is dead-lettered before it is decoded.
        try await fleet.publish(Array(repeating: 0x57, count: 65 << 10))
        let outcome = try await fleet.step()
        if case .deadLettered(let reason) = outcome {
            #expect(reason.contains("payload_too_large"), "\(reason)")
        } else {
            Issue.record("not dead-lettered: \(String(describing: outcome))")
        }
        // An output too large fails its node for good (no retry), and the run with it.
        let handle = try await fleet.client.start(big.blueprint, input: JSONValue(100 << 10))
        try await fleet.drain()
        let result = try await handle.result()
        #expect(result.status == RunStatus.failed)
        #expect(result.failure?.nodeID == "make" && result.failure?.cause.code == "payload_too_large", "\(String(describing: result.failure))")
        #expect(result.nodes.first { $0.nodeID == "after" }?.status != .completed)
        // A run within the limit is unaffected.
        let small = try await fleet.client.start(big.blueprint, input: JSONValue(10))
        try await fleet.drain()
        #expect(try await small.result().output == JSONValue(String(repeating: "x", count: 10)))
        await fleet.shutdown()
    }

    @Test("An envelope of a newer major version is dead-lettered as unsupported")
    func newerVersion() async throws {
        let fleet = try ManualFleet([Self.chain])
        let handle = try await fleet.client.start(Self.chain.blueprint, input: 1)
        var bytes = job(run: handle.runID).encoded()
        bytes[2] = 2  // major version
        try await fleet.publish(bytes)
        _ = try await fleet.drain()
        let letters = try await fleet.transport.deadLetters(of: fleet.jobs, limit: 10)
        #expect(letters.count == 1)
        #expect(letters.first?.reason.contains("unsupported_version") == true)
        #expect(try await handle.result().output == 20)  // the run itself went on
        await fleet.shutdown()
    }

    @Test("A job naming an unknown node, an unknown run or a wrong version is dead-lettered; the run stays consistent")
    func unknownNames() async throws {
        let fleet = try ManualFleet([Self.chain])
        let handle = try await fleet.client.start(Self.chain.blueprint, input: 1)
        try await fleet.publish(job(run: handle.runID, node: "nope").encoded())
        try await fleet.publish(job(run: "no-such-run").encoded())
        let outcomes = try await fleet.drain()
        let reasons = outcomes.compactMap { outcome -> String? in
            if case .deadLettered(let reason) = outcome { return reason }
            return nil
        }
        #expect(reasons.count == 2)
        #expect(reasons.contains { $0.contains("has no node \"nope\"") })
        #expect(reasons.contains { $0.contains("no run \"no-such-run\"") })
        let result = try await handle.result()
        #expect(result.output == 20)
        #expect(result.nodes.map(\.status) == [.completed, .completed])
        await fleet.shutdown()
    }

    @Test("A duplicate job for a finished run is dropped without effect")
    func finishedRun() async throws {
        let fleet = try ManualFleet([Self.chain])
        let handle = try await fleet.client.start(Self.chain.blueprint, input: 1)
        try await fleet.drain()
        let before = try await handle.result()
        try await fleet.publish(job(run: handle.runID, node: "b").encoded())
        #expect(try await fleet.step() == .dropped(reason: "the run is already completed"))
        let after = try await handle.result()
        #expect(after.output == before.output)
        #expect(after.nodes == before.nodes)
        await fleet.shutdown()
    }

    @Test("A redelivered job whose node has a result routes from the record and does not run the node again")
    func duplicateJob() async throws {
        let runs = Counter()
        let counted = Workflow("counted") {
            Node("a") { context in runs.increment(); return context.input }
            Node("b") { $0.input }
            Chain("a", "b")
        }
        let fleet = try ManualFleet([counted])
        let handle = try await fleet.client.start(counted.blueprint, input: 5)
        let delivery = try #require(try await fleet.take())
        try await fleet.publish(delivery.body)  // a duplicate of a's job
        #expect(await fleet.workers[0].process(delivery) == .completed)
        #expect(try await fleet.drain().count == 3)  // the duplicate and two copies of b's job
        #expect(runs.current == 1)
        #expect(try await handle.result().output == 5)
        await fleet.shutdown()
    }

    @Test("Backend failures put the job back instead of losing it")
    func backendFailure() async throws {
        let fleet = try ManualFleet([Self.chain])
        let failing = WeftBackends(
            transport: fleet.transport, contextStore: fleet.backends.contextStore, coordinationStore: FailingStore())
        let worker = try Worker(
            registry: Self.chain.registry, blueprints: [Self.chain.blueprint], backends: failing,
            configuration: Worker.Configuration(reconcileInterval: nil, logger: quiet))
        let handle = try await fleet.client.start(Self.chain.blueprint, input: 1)
        let delivery = try #require(try await fleet.take())
        let outcome = await worker.process(delivery)
        guard case .requeued = outcome else {
            Issue.record("expected a requeue, got \(outcome)")
            return
        }
        #expect(try await fleet.transport.depth(of: fleet.jobs) == 1)
        try await fleet.drain()
        #expect(try await handle.result().output == 20)
        await fleet.shutdown()
    }
}

/// A coordination store that is down.
struct FailingStore: CoordinationStore {
    struct Down: Error {}
    func value(at key: StoreKey) async throws -> [UInt8]? { throw Down() }
    func compareAndSet(_ key: StoreKey, expected: [UInt8]?, new: [UInt8], fence: Fence?) async throws -> CompareAndSetOutcome { throw Down() }
    func addToSet(_ key: StoreKey, member: String) async throws -> Int { throw Down() }
    func members(of key: StoreKey) async throws -> [String] { throw Down() }
    func increment(_ key: StoreKey, by delta: Int64) async throws -> Int64 { throw Down() }
    func scheduleTimer(_ key: StoreKey, after delay: Duration, payload: [UInt8]) async throws -> Bool { throw Down() }
    func claimDueTimers(limit: Int, claimFor: Duration) async throws -> TimerClaim { throw Down() }
    func retireTimer(_ key: StoreKey) async throws { throw Down() }
    func recordProgress(run: String, quietFor: Duration) async throws { throw Down() }
    func runsWithoutProgress(for age: Duration, limit: Int) async throws -> [String] { throw Down() }
    func forgetProgress(run: String) async throws { throw Down() }
    func deleteRun(_ run: String) async throws { throw Down() }
}

@Suite("Distributed runtime: fencing")
struct FencingTests {
    @Test("An attempt that started after an older one raised the fence; the older one cannot commit")
    func staleAttemptCannotCommit() async throws {
        let attempts = Trail()
        let slow = Workflow("fenced") {
            Node("work") { context in
                attempts.add("attempt \(context.attempt) token \(context.fencingToken >> 32)")
                return JSONValue(context.attempt)
            }.retry(maxAttempts: 2, backoff: .none)
            Node("after") { $0.input }
            Chain("work", "after")
        }
        let fleet = try ManualFleet([slow])
        let handle = try await fleet.client.start(slow.blueprint)
        let first = try #require(try await fleet.take())
        // A newer attempt of the same node (as a retry or the reconciler would publish) runs first.
        var newer = try Envelope(decoding: first.body)
        newer.attempt = 2
        newer.fencingToken = 2 << 32
        try await fleet.publish(newer.encoded())
        #expect(try await fleet.step() == .completed)
        // The older delivery now finds the node recorded by the newer attempt and routes from it.
        #expect(await fleet.workers[0].process(first) == .completed)
        try await fleet.drain()
        #expect(try await handle.result().output == 2)
        #expect(attempts.all == ["attempt 2 token 2"])
        await fleet.shutdown()
    }

    @Test("A stale attempt that has not recorded yet is refused once a newer one raised the fence")
    func staleWriteRefused() async throws {
        let store = InMemoryCoordinationStore()
        let run = "fence-run"
        let fence = StoreKey(run: run, name: "n0.0")
        #expect(try await store.setIfAbsent(StoreKey(run: run, name: "x0.0.2"), [], fence: Fence(key: fence, token: 2 << 32)) == .stored)
        let stale = try await store.setIfAbsent(StoreKey(run: run, name: "n0.0"), [1], fence: Fence(key: fence, token: 1 << 32))
        #expect(stale == .fenced)
    }
}
