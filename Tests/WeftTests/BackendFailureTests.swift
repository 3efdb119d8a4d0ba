import Testing
@testable import Weft

/// How a worker settles a job when a backend fails: put back while retrying may help, for at
/// most ``FleetOptions/maxBackendRetries`` tries, and dead-lettered with the error at once when
/// the backend says retrying cannot fix it (``BackendFailure``).
@Suite("Backend failures: bounded retries, permanent failures dead-lettered")
struct BackendFailureTests {
    struct Refusal: BackendFailure, CustomStringConvertible {
        var isPermanent: Bool
        var description: String { isPermanent ? "the store cannot keep this key" : "the store is restarting" }
    }

    static let chain = Workflow("refused") {
        Node("a") { _ in 1 }
        Node("b") { _ in 2 }
        Edge("a", to: "b")
    }

    /// A fleet whose store refuses writes once the run has started.
    static func fleet(maxBackendRetries: Int = 100) throws -> (ManualFleet, Box) {
        let box = Box()
        let fleet = try ManualFleet([chain], fleet: FleetOptions(maxBackendRetries: maxBackendRetries)) { base in
            let refusing = WriteRefusingStore(base)
            box.store = refusing
            return refusing.store
        }
        return (fleet, box)
    }

    final class Box: @unchecked Sendable { var store: WriteRefusingStore? }

    @Test("A failure the backend calls permanent dead-letters the job at once, with the error, and fails its run with it")
    func permanent() async throws {
        let (fleet, box) = try Self.fleet()
        let handle = try await fleet.client.start(Self.chain.blueprint)
        box.store?.refuseWrites(with: Refusal(isPermanent: true))
        let outcome = try await fleet.step()
        guard case .deadLettered(let reason)? = outcome else { Issue.record("got \(String(describing: outcome))"); return }
        #expect(reason.contains("retrying cannot fix: the store cannot keep this key"))
        #expect(try await fleet.transport.depth(of: fleet.jobs) == 0)
        #expect(try await fleet.transport.deadLetters(of: fleet.jobs, limit: 10).count == 1)
        // Nothing will run the job again: the run fails with the reason, instead of running for ever.
        box.store?.refuseWrites(with: nil)
        let result = try await handle.result()
        #expect(result.status == .failed)
        #expect(result.failure?.nodeID == "a")
        #expect(result.failure?.cause.code == WeftError.Code.jobDeadLettered.rawValue)
        #expect(result.failure?.cause.message.contains("the store cannot keep this key") == true)
        await fleet.shutdown()
    }

    @Test("A WeftError from data no retry changes (an id that breaks the rules) is permanent too")
    func permanentWeftError() async throws {
        let (fleet, box) = try Self.fleet()
        _ = try await fleet.client.start(Self.chain.blueprint)
        box.store?.refuseWrites(with: WeftError(.invalidIdentifier, "Invalid run id: too long"))
        guard case .deadLettered(let reason)? = try await fleet.step() else { Issue.record("not dead-lettered"); return }
        #expect(reason.contains("invalid_identifier") || reason.contains("Invalid run id"))
        await fleet.shutdown()
    }

    @Test("A passing failure puts the job back, at most maxBackendRetries times; then it is dead-lettered with the last error and the run fails")
    func bounded() async throws {
        let (fleet, box) = try Self.fleet(maxBackendRetries: 4)
        let handle = try await fleet.client.start(Self.chain.blueprint)
        box.store?.refuseWrites(with: Refusal(isPermanent: false))
        var outcomes: [DeliveryOutcome] = []
        while let outcome = try await fleet.step() { outcomes.append(outcome) }
        #expect(outcomes.count == 4)
        #expect(outcomes.prefix(3).allSatisfy { if case .requeued = $0 { true } else { false } })
        guard case .deadLettered(let reason)? = outcomes.last else { Issue.record("got \(outcomes)"); return }
        #expect(reason.contains("failed 4 times") && reason.contains("the store is restarting"))
        // The run failed with it (the store took that write: writes were refused only while the
        // job's tries lasted). A re-driven dead letter finds the run over and is dropped.
        box.store?.refuseWrites(with: nil)
        let result = try await handle.result()
        #expect(result.status == .failed && result.failure?.cause.code == WeftError.Code.jobDeadLettered.rawValue)
        #expect(try await fleet.transport.redriveDeadLetters(of: fleet.jobs, limit: 10) { _ in true } == 1)
        guard case .dropped? = try await fleet.step() else { Issue.record("the re-driven job was not dropped"); return }
        await fleet.shutdown()
    }

    @Test("A passing failure that clears before the bound loses nothing")
    func passing() async throws {
        let (fleet, box) = try Self.fleet(maxBackendRetries: 4)
        let handle = try await fleet.client.start(Self.chain.blueprint)
        box.store?.refuseWrites(with: Refusal(isPermanent: false))
        for _ in 0..<3 {
            guard case .requeued? = try await fleet.step() else { Issue.record("not put back"); return }
        }
        box.store?.refuseWrites(with: nil)
        try await fleet.drain()
        #expect(try await handle.result().output == 2)
        #expect(try await fleet.transport.deadLetters(of: fleet.jobs, limit: 10).isEmpty)
        await fleet.shutdown()
    }
}
