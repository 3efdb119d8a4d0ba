import Foundation
import Testing
import Weft
import WeftAMQP
import WeftConformance
import WeftLMDB

extension AMQPTests {
    /// Issue 23's proof by difference on real parts: generated workflows on a fleet of racing
    /// workers over RabbitMQ and an LMDB store give LocalRuntime's observable runs.
    @Suite("Differential on AMQP + LMDB")
    struct Differential {
        @Test("Generated workflows on RabbitMQ and LMDB give LocalRuntime's observable runs")
        func generatedWorkflows() async throws {
            // WEFT_AMQP_DIFFERENTIAL_SEEDS=first-last runs other seeds (scripts/differential.sh runs thousands).
            let seeds = WorkflowGenerator.seeds(
                from: "WEFT_AMQP_DIFFERENTIAL_SEEDS", default: 10_001...10_300, environment: ProcessInfo.processInfo.environment)
            let transport = try await Broker.transport()
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("weft-differential-\(UUID().uuidString)").path
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let store = try LMDBStateStore(LMDBConfiguration(path: directory))
            let backends = WeftBackends(transport: transport, contextStore: store.contextStore, coordinationStore: store.coordinationStore)
            let differences = try await EngineConformance.check(
                WorkflowGenerator().scenarios(seeds), backends: backends, workers: 3, concurrency: 24,
                fleet: FleetOptions(queuePrefix: unique("differential")))
            await transport.shutdown()
            store.close()
            let failing = WorkflowGenerator.failingSeeds(in: differences)
            let replay = "WEFT_AMQP_DIFFERENTIAL_SEEDS=\(failing.first ?? 0) scripts/test.sh --filter AMQPTests.Differential"
            #expect(differences.isEmpty, "replay: \(replay)\n\(differences.prefix(30).joined(separator: "\n"))")
            print("differential on AMQP + LMDB: seeds \(seeds), \(seeds.count * WorkflowGenerator.Options().inputs) runs")
        }
    }
}
