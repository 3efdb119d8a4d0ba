import Testing
import Weft
import WeftConformance

/// A coordination store with only the protocol's primitives: every batch takes the protocol's
/// default, one operation at a time, as a new plugin's store does before it overrides the batch.
final class PrimitivesOnlyStore: CoordinationStore {
    let base: InMemoryCoordinationStore
    init(_ base: InMemoryCoordinationStore) { self.base = base }
    func value(at key: StoreKey) async throws -> [UInt8]? { try await base.value(at: key) }
    func compareAndSet(_ key: StoreKey, expected: [UInt8]?, new: [UInt8], fence: Fence?) async throws -> CompareAndSetOutcome {
        try await base.compareAndSet(key, expected: expected, new: new, fence: fence)
    }
    func addToSet(_ key: StoreKey, member: String) async throws -> Int { try await base.addToSet(key, member: member) }
    func members(of key: StoreKey) async throws -> [String] { try await base.members(of: key) }
    func increment(_ key: StoreKey, by delta: Int64) async throws -> Int64 { try await base.increment(key, by: delta) }
    func scheduleTimer(_ key: StoreKey, after delay: Duration, payload: [UInt8]) async throws -> Bool {
        try await base.scheduleTimer(key, after: delay, payload: payload)
    }
    func claimDueTimers(limit: Int, claimFor: Duration) async throws -> TimerClaim {
        try await base.claimDueTimers(limit: limit, claimFor: claimFor)
    }
    func retireTimer(_ key: StoreKey) async throws { try await base.retireTimer(key) }
    func recordProgress(run: String, quietFor: Duration) async throws { try await base.recordProgress(run: run, quietFor: quietFor) }
    func runsWithoutProgress(for age: Duration, limit: Int) async throws -> [String] {
        try await base.runsWithoutProgress(for: age, limit: limit)
    }
    func forgetProgress(run: String) async throws { try await base.forgetProgress(run: run) }
    func deleteRun(_ run: String) async throws { try await base.deleteRun(run) }
}

@Suite("A store with the protocol's default batch (one operation at a time)")
struct OneByOneStoreTests {
    static func harness() -> BackendHarness {
        .inMemory { PrimitivesOnlyStore(InMemoryCoordinationStore(clock: $0)) }
    }

    @Test("It meets the coordination contract, batches included", arguments: ProtocolConformance.coordination)
    func contract(_ check: ProtocolCheck) async throws {
        let failures = try await check.run(Self.harness())
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
    }

    @Test("It is not atomic, and the atomic-batch checks say so")
    func notAtomic() async throws {
        var failed = 0
        for check in ProtocolConformance.atomicBatches where try await !check.run(Self.harness()).isEmpty { failed += 1 }
        #expect(failed > 0)
    }

    @Test("Generated workflows under the fault simulator give LocalRuntime's observable runs with it")
    func simulatedFaults() async throws {
        let stores: FaultSimulator.StoreFactory = { clock in
            (InMemoryContextStore(), PrimitivesOnlyStore(InMemoryCoordinationStore(clock: clock)))
        }
        for seed: UInt64 in 1...60 {
            let first: UInt64 = 4 * seed
            var scenarios = WorkflowGenerator(options: .init(signals: false)).scenarios(first..<(first + 4))
            if seed == 1 { scenarios += EngineScenario.standard }
            let report = try await FaultSimulator(seed: seed).run(scenarios, stores: stores)
            #expect(report.violations.isEmpty, "seed \(seed)\n\(report)")
            if !report.violations.isEmpty { break }
        }
    }
}
