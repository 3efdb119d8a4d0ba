import Foundation
import Testing
import Weft
import WeftConformance
import WeftLMDB
import WeftNATS

/// Every test that talks to the server, one at a time: one restarts it.
@Suite("NATS JetStream transport on a real nats-server", .serialized)
struct NATSTests {}

extension NATSTests {
    @Suite("Conformance suites")
    struct Conformance {
        @Test("Every queue contract holds", arguments: ProtocolConformance.queue)
        func queueContract(_ check: ProtocolCheck) async throws {
            let failures = try await check.run(NATSServer.harness())
            #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
        }

        @Test("The distributed runtime over NATS gives LocalRuntime's results", arguments: EngineScenario.standard + EngineScenario.controlFlow)
        func engineRules(_ scenario: EngineScenario) async throws {
            let transport = try await NATSServer.transport()
            let backends = WeftBackends(
                transport: transport, contextStore: InMemoryContextStore(), coordinationStore: InMemoryCoordinationStore())
            let differences = try await EngineConformance.check(
                scenario, backends: backends, fleet: FleetOptions(queuePrefix: unique("conformance")))
            await transport.shutdown()
            #expect(differences.isEmpty, "\(differences.joined(separator: "\n"))")
        }

        @Test("The distributed runtime over NATS with LMDB stores gives LocalRuntime's results", arguments: EngineScenario.standard)
        func engineRulesOnLMDB(_ scenario: EngineScenario) async throws {
            let transport = try await NATSServer.transport()
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("weft-nats-lmdb-\(UUID().uuidString)").path
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let store = try LMDBStateStore(LMDBConfiguration(path: directory))
            let backends = WeftBackends(transport: transport, contextStore: store.contextStore, coordinationStore: store.coordinationStore)
            let differences = try await EngineConformance.check(
                scenario, backends: backends, fleet: FleetOptions(queuePrefix: unique("conformance")))
            await transport.shutdown()
            store.close()
            #expect(differences.isEmpty, "\(differences.joined(separator: "\n"))")
        }
    }
}
