import Foundation
import Testing
import Weft
import WeftConformance
import WeftLMDB
import WeftNATS

extension NATSTests {
    /// Issue 23's proof by difference on NATS: generated workflows on a fleet of racing workers
    /// over JetStream and an LMDB store give LocalRuntime's observable runs.
    @Suite("Differential on NATS + LMDB")
    struct Differential {
        @Test("Generated workflows on NATS and LMDB give LocalRuntime's observable runs")
        func generatedWorkflows() async throws {
            // WEFT_NATS_DIFFERENTIAL_SEEDS=first-last runs other seeds.
            let seeds = WorkflowGenerator.seeds(
                from: "WEFT_NATS_DIFFERENTIAL_SEEDS", default: 20_001...20_200, environment: ProcessInfo.processInfo.environment)
            let transport = try await NATSServer.transport()
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("weft-nats-differential-\(UUID().uuidString)").path
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let store = try LMDBStateStore(LMDBConfiguration(path: directory))
            let backends = WeftBackends(transport: transport, contextStore: store.contextStore, coordinationStore: store.coordinationStore)
            let differences = try await EngineConformance.check(
                WorkflowGenerator().scenarios(seeds), backends: backends, workers: 3, concurrency: 24,
                fleet: FleetOptions(queuePrefix: unique("differential")))
            await transport.shutdown()
            store.close()
            let failing = WorkflowGenerator.failingSeeds(in: differences)
            let replay = "WEFT_NATS_DIFFERENTIAL_SEEDS=\(failing.first ?? 0) scripts/test.sh --filter NATSTests.Differential"
            #expect(differences.isEmpty, "replay: \(replay)\n\(differences.prefix(30).joined(separator: "\n"))")
            print("differential on NATS + LMDB: seeds \(seeds), \(seeds.count * WorkflowGenerator.Options().inputs) runs")
        }
    }
}
