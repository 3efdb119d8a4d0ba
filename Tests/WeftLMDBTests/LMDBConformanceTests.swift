import Testing
import Weft
import WeftConformance
import WeftTesting
@testable import WeftLMDB

#if canImport(Glibc)
import Glibc
#endif

/// A state store in a fresh directory, which is removed at once: the open environment keeps
/// its files (Linux keeps unlinked files alive while they are mapped), nothing is left behind.
func scratchStore(clock: StoreClock? = nil, syncMode: LMDBConfiguration.SyncMode = .durable) throws -> LMDBStateStore {
    var template = Array("/tmp/weft-lmdb-scratch-XXXXXX".utf8CString)
    let path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
    defer { _ = system("rm -rf '\(path)'") }
    return try LMDBStateStore(LMDBConfiguration(path: path, syncMode: syncMode), clock: clock)
}

@Suite("LMDB stores pass the conformance suites")
struct LMDBConformanceTests {
    /// Backends whose stores are LMDB, in a fresh environment each time, with a manual clock.
    static func harness() -> BackendHarness {
        let clock = ManualClock()
        return BackendHarness(
            makeBackends: {
                let store = try scratchStore(clock: StoreClock(clock))
                return WeftBackends(
                    transport: InMemoryQueueTransport(), contextStore: store.contextStore,
                    coordinationStore: store.coordinationStore)
            },
            passTime: { clock.advance(by: $0) },
            loseDelivery: { _ in })
    }

    @Test("Every context-store contract holds", arguments: ProtocolConformance.context)
    func contextContract(_ check: ProtocolCheck) async throws {
        let failures = try await check.run(Self.harness())
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
    }

    @Test("Every coordination-store contract holds, batches atomic", arguments: ProtocolConformance.coordination + ProtocolConformance.atomicBatches)
    func coordinationContract(_ check: ProtocolCheck) async throws {
        let failures = try await check.run(Self.harness())
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
    }

    @Test("The distributed runtime on LMDB stores gives LocalRuntime's results", arguments: EngineScenario.standard + EngineScenario.controlFlow)
    func engineRules(_ scenario: EngineScenario) async throws {
        let store = try scratchStore()
        let backends = WeftBackends(
            transport: InMemoryQueueTransport(), contextStore: store.contextStore, coordinationStore: store.coordinationStore)
        let differences = try await EngineConformance.check(scenario, backends: backends)
        store.close()
        #expect(differences.isEmpty, "\(differences.joined(separator: "\n"))")
    }

    @Test("Under the fault simulator's seeds, runs on LMDB stores end as LocalRuntime's do", arguments: [UInt64(3), 11])
    func simulator(_ seed: UInt64) async throws {
        let report = try await FaultSimulator(seed: seed).run(EngineScenario.standard) { clock in
            // Fast sync: the simulator checks the rules, not the disk (durability has its own tests).
            let store = try scratchStore(clock: clock, syncMode: .fast)
            return (store.contextStore, store.coordinationStore)
        }
        #expect(report.violations.isEmpty, "\(report)")
        #expect(report.crashes > 0 && report.duplicates > 0, "the seed injected no faults: \(report)")
    }
}
