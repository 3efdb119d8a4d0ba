import Foundation
import Testing
import Weft
import WeftConformance
import WeftPostgres
import WeftTesting

/// Every test that needs the PostgreSQL server, one at a time: some restart it.
@Suite("PostgreSQL state store on a real server", .serialized, .timeLimit(.minutes(5)))
struct PostgresTests {}

extension PostgresTests {
    @Suite("Conformance suites", .serialized)
    struct Conformance {
        /// Backends whose stores are PostgreSQL, on a fresh database each time, with a manual
        /// clock for leases, timers and progress (production reads the database's clock).
        static func harness(_ stores: StoreList) -> BackendHarness {
            let clock = ManualClock()
            return BackendHarness(
                makeBackends: {
                    let store = try await Database.scratchStore(clock: StoreClock(clock), in: stores)
                    return WeftBackends(
                        transport: InMemoryQueueTransport(), contextStore: store.contextStore,
                        coordinationStore: store.coordinationStore)
                },
                passTime: { clock.advance(by: $0) },
                loseDelivery: { _ in })
        }

        @Test("Every context-store contract holds", arguments: ProtocolConformance.context)
        func contextContract(_ check: ProtocolCheck) async throws {
            let stores = StoreList()
            let failures = try await check.run(Self.harness(stores))
            await stores.closeAll()
            #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
        }

        @Test("Every coordination-store contract holds, batches atomic", arguments: ProtocolConformance.coordination + ProtocolConformance.atomicBatches)
        func coordinationContract(_ check: ProtocolCheck) async throws {
            let stores = StoreList()
            let failures = try await check.run(Self.harness(stores))
            await stores.closeAll()
            #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
        }

        @Test(
            "The distributed runtime on PostgreSQL stores gives LocalRuntime's results",
            arguments: EngineScenario.standard + EngineScenario.controlFlow)
        func engineRules(_ scenario: EngineScenario) async throws {
            let stores = StoreList()
            let store = try await Database.scratchStore(in: stores)
            let backends = WeftBackends(
                transport: InMemoryQueueTransport(), contextStore: store.contextStore, coordinationStore: store.coordinationStore)
            let differences = try await EngineConformance.check(scenario, backends: backends)
            await stores.closeAll()
            #expect(differences.isEmpty, "\(differences.joined(separator: "\n"))")
        }
    }
}
